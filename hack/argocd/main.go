// Command argocd is the part of Argo CD that applies a git repository to a
// cluster, the application-controller and the repo-server, built from Argo
// CD's Go module for the end-to-end tests (hack/argocd/build.sh). Like Argo
// CD's own multi-call binary, one executable serves both; the first argument
// names the component:
//
//	argocd application-controller --kubeconfig … --redis …
//	argocd repo-server --disable-tls …
//
// The API server, UI, Dex and the other components are left out: no test
// needs them, and they would double the build.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	appcontroller "github.com/argoproj/argo-cd/v3/cmd/argocd-application-controller/commands"
	reposerver "github.com/argoproj/argo-cd/v3/cmd/argocd-repo-server/commands"
	"github.com/argoproj/argo-cd/v3/util/log"
)

func main() {
	// As Argo CD's cmd/main.go does: klog writes through Argo CD's logger.
	klog.SetLogger(log.NewLogrusLogger(log.NewWithCurrentConfig()))
	commands := map[string]func() *cobra.Command{
		"application-controller": appcontroller.NewCommand,
		"repo-server":            reposerver.NewCommand,
	}
	if len(os.Args) < 2 || commands[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: argocd application-controller|repo-server [flags]")
		os.Exit(2)
	}
	cmd := commands[os.Args[1]]()
	cmd.SetArgs(os.Args[2:])
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}
