package fileset

// WriteDir makes the directory dir hold exactly files: ApplyDir with a
// plan that ignores what is stored. For tests: ssm's own writes all plan.
func WriteDir(dir string, files Files, own Ownership) (Result, error) {
	if err := files.Validate(); err != nil {
		return Result{}, err
	}
	return ApplyDir(dir, own, func(Stored) (Write, error) { return Write{Files: files}, nil })
}

// DiffDir returns how the directory dir differs from files, without
// writing: what CheckSink reports. A directory that does not exist differs
// by every file.
func DiffDir(dir string, files Files) ([]Change, error) {
	if err := files.Validate(); err != nil {
		return nil, err
	}
	stored, err := ReadDir(dir)
	if err != nil {
		return nil, err
	}
	return Diff(stored, files), nil
}
