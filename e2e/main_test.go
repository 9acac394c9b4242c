// Package e2e runs ssm end to end against real kube-apiservers and etcd on
// loopback, real git repositories and the real kubectl. `make test` builds
// the servers (hack/testbin) and points SSM_TESTBIN at them.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	// remote is the cluster ssm reads; local the cluster its output is
	// applied to; remote2 a second remote for --config.
	remote, remote2, local *apiServer
	testbin                string
	ssmBin                 string
	skipReason             string
	// scaleOnly is set when SSM_SCALE asks for the scale harness alone
	// (make scale): the shared servers are not started.
	scaleOnly bool
	// noControllersReason says why the local cluster runs no
	// kube-controller-manager; empty when it runs one.
	noControllersReason string
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	testbin = os.Getenv("SSM_TESTBIN")
	if testbin == "" {
		testbin, _ = filepath.Abs("../.cache/bin")
	}
	if _, err := os.Stat(filepath.Join(testbin, "kube-apiserver")); err != nil {
		if os.Getenv("SSM_E2E_REQUIRED") != "" {
			fmt.Fprintf(os.Stderr, "e2e: no kube-apiserver in %s (run hack/testbin/build.sh): %v\n", testbin, err)
			return 1
		}
		skipReason = "no kube-apiserver in " + testbin + ": run `make test`, which builds it"
		return m.Run()
	}
	tmp, err := os.MkdirTemp("", "ssm-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if os.Getenv("SSM_SCALE") != "" || os.Getenv("SSM_FLEET") != "" {
		if err := buildSSM(tmp); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		scaleOnly, skipReason = true, "SSM_SCALE and SSM_FLEET run the scale harnesses (TestScale, TestFleet) alone"
		return m.Run()
	}
	if err := collectOutput(tmp); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := setup(tmp); err != nil {
		fmt.Fprintf(os.Stderr, "e2e setup: %v\n", err)
		teardown()
		return 1
	}
	defer teardown()
	printed.secrets[adminToken], printed.secrets[readerToken] = "the API servers", "the API servers"
	code := m.Run()
	if err := checkPrinted(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	return code
}

// buildSSM sets ssmBin: SSM_BIN names a binary built already (make test
// builds one); else it builds one in tmp.
func buildSSM(tmp string) error {
	if ssmBin = os.Getenv("SSM_BIN"); ssmBin != "" {
		return nil
	}
	ssmBin = filepath.Join(tmp, "ssm")
	build := exec.Command("go", "build", "-o", ssmBin, "../cmd/ssm")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build ssm: %v\n%s", err, out)
	}
	return nil
}

func setup(tmp string) error {
	if err := buildSSM(tmp); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var errRemote, errRemote2, errLocal error
	wg.Go(func() { remote, errRemote = startAPIServer(ctx, testbin, tmp, "remote") })
	wg.Go(func() { remote2, errRemote2 = startAPIServer(ctx, testbin, tmp, "remote2") })
	wg.Go(func() { local, errLocal = startAPIServer(ctx, testbin, tmp, "local") })
	wg.Wait()
	if err := errors.Join(errRemote, errRemote2, errLocal); err != nil {
		return err
	}
	return startLocalControllers(ctx)
}

// startLocalControllers runs kube-controller-manager for the local cluster,
// as every real cluster a GitOps agent applies ssm's output to does. An
// older cache without it (hack/testbin/build.sh builds it) leaves the local
// cluster without controllers, and the tests that need them skip.
func startLocalControllers(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(testbin, "kube-controller-manager")); err != nil {
		if os.Getenv("SSM_E2E_REQUIRED") != "" {
			return fmt.Errorf("no kube-controller-manager in %s (run hack/testbin/build.sh): %w", testbin, err)
		}
		noControllersReason = "no kube-controller-manager in " + testbin + ": run `make test`, which builds it"
		return nil
	}
	return local.StartControllers(ctx, testbin, localControllers)
}

func teardown() {
	for _, s := range []*apiServer{remote, remote2, local} {
		if s != nil {
			s.Stop()
		}
	}
}

func requireEnv(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

// requireControllers skips a test that needs the local cluster's
// kube-controller-manager when it does not run.
func requireControllers(t *testing.T) {
	t.Helper()
	requireEnv(t)
	if noControllersReason != "" {
		t.Skip(noControllersReason)
	}
}

// result is what a command printed and how it exited.
type result struct {
	stdout, stderr string
	code           int
}

// ssm runs the ssm binary with args and extra environment.
func ssm(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return run(t, env, ssmBin, args...)
}

func run(t *testing.T, env []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if name == ssmBin {
		recordOutput(t, "ssm "+strings.Join(args, " "), append(stdout.Bytes(), stderr.Bytes()...))
	}
	var ee *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// kubectl runs kubectl against s and fails the test unless it succeeds.
func kubectl(t *testing.T, s *apiServer, args ...string) string {
	t.Helper()
	r := run(t, nil, "kubectl", append([]string{"--kubeconfig", s.KubeConfig}, args...)...)
	if r.code != 0 {
		t.Fatalf("kubectl %s: exit %d\n%s\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}
