package main

import (
	"strings"
	"testing"
)

// A configuration of the MCS API renders no mirrors: migrate would list
// every mirror semaphore-service-mirror made, the ones clients still use
// while they move to clusterset.local included, so it refuses before
// reading any cluster.
func TestMigrateRefusesMCS(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := ssm(t, "", "migrate", "semaphore-service-mirror", "--config", "../../examples/mcs/config.yaml")
	if code != exitError || stdout != "" || !strings.Contains(stderr, "global.api mcs renders no mirrors") || strings.Contains(stderr, "msg=listed") {
		t.Errorf("migrate of an MCS configuration: exit %d, want %d, nothing printed, no cluster read, an error naming global.api:\n%s%s", code, exitError, stdout, stderr)
	}
}
