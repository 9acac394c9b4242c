package fileset

// WriteDir makes the directory dir hold exactly files: ApplyDir with a
// plan that ignores what is stored. For tests: ssm's own writes all plan.
func WriteDir(dir string, files Files, own Ownership) (Result, error) {
	if err := files.Validate(); err != nil {
		return Result{}, err
	}
	return ApplyDir(dir, own, func(Stored) (Write, error) { return Write{Files: files}, nil })
}
