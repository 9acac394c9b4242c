package main

import "github.com/ssm-dev/ssm/cmd/ssm/internal/help"

const (
	catRequired = "Required"
	catLogging  = "Logging"
)

// categoryOrder is the order of flag groups in help and docs: what a
// command cannot run without first.
var categoryOrder = []string{catRequired, catRemote, catRender, catOutput, catGit, catRun, catConfig, catLocal, catNodePort, catMCS, catLogging}

// required names, per command, the flags it needs unless another way is
// given, and says which way.
var required = map[string]help.Needs{
	"render":  {Flags: []string{"label-selector", "svc-prefix", "mirror-ns"}, Note: "endpoints mode, unless --config gives them"},
	"run":     {Flags: []string{"label-selector", "svc-prefix", "mirror-ns", "git-url", "git-path"}, Note: "endpoints mode, unless --config gives the first three; --output DIR instead of --git-url and --git-path"},
	"coredns": {Flags: []string{"svc-prefix", "mirror-ns", "domain"}, Note: "unless --config gives them"},
	// ssm migrate semaphore-service-mirror
	"semaphore-service-mirror": {Flags: []string{"config"}, Note: "semaphore-service-mirror's file, as render and run read it"},
}

// flagLayout groups the flags of help and of the docs' flag tables.
var flagLayout = help.Layout{Order: categoryOrder, Required: catRequired, Needs: required}
