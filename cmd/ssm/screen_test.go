package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const hostile = "../../testdata/render/hostile-snapshot.yaml"

// refusedInHostile are addresses of the hostile snapshot that no render
// may write, however spelt (::ffff:127.0.0.2 unmapped is 127.0.0.2).
var refusedInHostile = []string{"127.0.0.1", "127.0.0.2", "127.1.2.3", "::1", "0.0.0.0", "169.254.169.254", "fe80::1",
	"224.0.0.1", "239.1.2.3", "ff02::1", "ff05::2", "255.255.255.255", "10.1.0.9"}

// TestRenderHostile renders a remote that lists addresses pointing at the
// local cluster's sensitive places and ports no API server accepts: none
// of the addresses is written, the bad Services are skipped (exit 3, or 0
// with --skip-invalid), and what was left out is logged.
func TestRenderHostile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"render", "--from-file", hostile, "--label-selector", "mirror=true", "--svc-prefix", "e", "--mirror-ns", "mirrors",
		"--endpoints-api", "both", "-o", out}
	code, _, stderr := ssm(t, "", args...)
	if code != exitInvalid {
		t.Errorf("exit %d, want %d (Services that cannot be mirrored)\n%s", code, exitInvalid, stderr)
	}
	web, err := os.ReadFile(filepath.Join(out, "e-shop-73736d-web.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range refusedInHostile {
		if strings.Contains(string(web), " "+ip+"\n") || strings.Contains(string(web), " '"+ip+"'\n") {
			t.Errorf("%s rendered:\n%s", ip, web)
		}
	}
	for _, want := range []string{`msg="Service mirrored in part" cluster=e service=shop/web reason=AddressDropped`,
		`service=shop/port-too-big mirror=e-shop-73736d-port-too-big reason=InvalidPort`,
		`service=shop/icmp mirror=e-shop-73736d-icmp reason=InvalidProtocol`,
		`mirrors=2 skipped=10`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("log lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "\x1b") || strings.Contains(stderr, "\nlevel=INFO msg=forged") {
		t.Errorf("a control character of the remote's reached the log:\n%q", stderr)
	}
	code, _, stderr = ssm(t, "", append(args, "--skip-invalid")...)
	if code != exitOK {
		t.Errorf("--skip-invalid: exit %d\n%s", code, stderr)
	}
}

// TestRenderDenyCIDR: --deny-cidr (repeatable, or SSM_DENY_CIDR) leaves
// out the addresses in its ranges; a value that is no range is an error.
func TestRenderDenyCIDR(t *testing.T) {
	base := []string{"render", "--from-file", hostile, "--label-selector", "mirror=true", "--svc-prefix", "e", "--mirror-ns", "mirrors", "--skip-invalid"}
	code, stdout, stderr := ssm(t, "", append(base, "--deny-cidr", "10.96.0.0/12", "--deny-cidr", "fd00:96::/32")...)
	if code != exitOK || strings.Contains(stdout, "10.96.0.1") || strings.Contains(stdout, "fd00:96::1") || !strings.Contains(stdout, "  - 10.1.0.1\n") {
		t.Errorf("exit %d, denied addresses rendered or others not:\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "2 Denied") {
		t.Errorf("log does not count the denied addresses:\n%s", stderr)
	}
	t.Setenv("SSM_DENY_CIDR", "10.96.0.0/12,fd00:96::/32")
	if code, stdout, _ = ssm(t, "", base...); code != exitOK || strings.Contains(stdout, "10.96.0.1") || strings.Contains(stdout, "fd00:96::1") {
		t.Errorf("SSM_DENY_CIDR: exit %d:\n%s", code, stdout)
	}
	code, _, stderr = ssm(t, "", append(base, "--deny-cidr", "10.96.0.0")...)
	if code != exitError || !strings.Contains(stderr, `--deny-cidr "10.96.0.0": want a CIDR range`) {
		t.Errorf("a bare address: exit %d\n%s", code, stderr)
	}
}

// TestRenderMaxSnapshotSize: a snapshot over --max-snapshot-size is an
// error naming the limit and the flag, on stdin too.
func TestRenderMaxSnapshotSize(t *testing.T) {
	snapshot, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	base := exampleArgs("--max-snapshot-size", "1Ki")
	code, _, stderr := ssm(t, "", base...)
	if code != exitError || !strings.Contains(stderr, "over the snapshot size limit of 1Ki (--max-snapshot-size raises it)") || !strings.Contains(stderr, example) {
		t.Errorf("file: exit %d\n%s", code, stderr)
	}
	code, _, stderr = ssm(t, string(snapshot), "render", "--from-file", "-", "--label-selector", "mirror=true", "--svc-prefix", "p", "--mirror-ns", "m", "--max-snapshot-size", "1Ki")
	if code != exitError || !strings.Contains(stderr, "read snapshot stdin: over the snapshot size limit of 1Ki (--max-snapshot-size raises it)") {
		t.Errorf("stdin: exit %d\n%s", code, stderr)
	}
	if code, _, stderr = ssm(t, "", exampleArgs("--max-snapshot-size", "64Ki")...); code != exitOK {
		t.Errorf("within the limit: exit %d\n%s", code, stderr)
	}
	if code, _, stderr = ssm(t, "", exampleArgs("--max-snapshot-size", "big")...); code != exitError || !strings.Contains(stderr, `--max-snapshot-size "big"`) {
		t.Errorf("a bad size: exit %d\n%s", code, stderr)
	}
}
