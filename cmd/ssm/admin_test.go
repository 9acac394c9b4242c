package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckAdminAddress(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	for name, content := range map[string]string{"good": "0123456789abcdef0123\n", "empty": " \n", "short": "abc", "lines": "0123456789abcdef\n0123456789abcdef"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct{ addr, token, want string }{
		{addr: "127.0.0.1:8081"},
		{addr: "[::1]:8081"},
		{addr: "localhost:8081"},
		{addr: "127.0.0.2:0"},
		{addr: ""},
		{addr: "0.0.0.0:8081", want: "listens beyond loopback: give --admin-token-file"},
		{addr: ":8081", want: "beyond loopback"},
		{addr: "[::]:8081", want: "beyond loopback"},
		{addr: "10.1.2.3:8081", want: "beyond loopback"},
		{addr: "ssm.example:8081", want: "beyond loopback"},
		{addr: "8081", want: "--admin-address"},
		{addr: "0.0.0.0:8081", token: good},
		{addr: "0.0.0.0:8081", token: filepath.Join(dir, "empty"), want: "holds no token"},
		{addr: "0.0.0.0:8081", token: filepath.Join(dir, "short"), want: "at least 16"},
		{addr: "0.0.0.0:8081", token: filepath.Join(dir, "lines"), want: "spans lines"},
		{addr: "127.0.0.1:8081", token: filepath.Join(dir, "none"), want: "--admin-token-file: open"},
	}
	for _, tt := range tests {
		err := checkAdminAddress(tt.addr, tt.token)
		if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("checkAdminAddress(%q, %q) = %v, want %q", tt.addr, tt.token, err, tt.want)
		}
	}
}

// TestRunRefusesOpenAdminAddress: ssm run with an admin address beyond
// loopback and no usable token stops before it listens. (That a good
// token lets it start is TestCheckAdminAddress's: the tests listen on
// loopback only.)
func TestRunRefusesOpenAdminAddress(t *testing.T) {
	ca, token := writeFile(t, "ca.crt", "not a certificate"), writeFile(t, "token", "t")
	emptyToken := writeFile(t, "admin-token", "\n")
	args := []string{"run", "--remote-api-url", "https://127.0.0.1:1", "--remote-ca-url", ca, "--remote-sa-token-path", token,
		"--label-selector", "mirror=true", "--svc-prefix", "remote", "--mirror-ns", "mirrors", "--output", t.TempDir(),
		"--listen-address", "127.0.0.1:0"}
	for _, tt := range []struct{ flags, want []string }{
		{[]string{"--admin-address", "0.0.0.0:0"}, []string{"--admin-address 0.0.0.0:0 listens beyond loopback: give --admin-token-file"}},
		{[]string{"--admin-address", "[::]:0"}, []string{"--admin-address [::]:0 listens beyond loopback"}},
		{[]string{"--admin-address", ":0"}, []string{"--admin-address :0 listens beyond loopback"}},
		{[]string{"--admin-address", "0.0.0.0:0", "--admin-token-file", emptyToken}, []string{"--admin-token-file: " + emptyToken + " holds no token"}},
	} {
		code, _, stderr := ssm(t, "", append(args, tt.flags...)...)
		if code != exitError || !strings.Contains(stderr, tt.want[0]) || strings.Contains(stderr, "serving") {
			t.Errorf("%v: exit %d\n%s", tt.flags, code, stderr)
		}
	}
	// On loopback with a token, it starts (and fails later, on the CA).
	good := writeFile(t, "good-token", "0123456789abcdef0123")
	code, _, stderr := ssm(t, "", append(args, "--admin-address", "127.0.0.1:0", "--admin-token-file", good)...)
	if code != exitError || !strings.Contains(stderr, `msg="serving approvals" address=127.0.0.1:`) || !strings.Contains(stderr, "root certificates") {
		t.Errorf("on loopback with a token: exit %d\n%s", code, stderr)
	}
}
