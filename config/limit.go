package config

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// DefaultMaxRemovals lets routine deletions through (one Service of five)
// and holds the disasters: a wrong input or a broken selector removing
// every mirror of a cluster, or most of them, at once.
const DefaultMaxRemovals = "50%"

// RemovalLimit is the most mirrors of one cluster a render may remove at
// once: a count, or a percentage of the mirrors the cluster has stored.
type RemovalLimit struct {
	N       int
	Percent bool
}

// ParseRemovalLimit reads "3" (mirrors) or "50%" (of a cluster's stored
// mirrors, rounded down); "100%" allows every removal, "0" none.
func ParseRemovalLimit(s string) (RemovalLimit, error) {
	v, percent := strings.CutSuffix(strings.TrimSpace(s), "%")
	n, err := strconv.Atoi(v)
	switch {
	case err != nil || n < 0:
		return RemovalLimit{}, fmt.Errorf("--max-removals %q: want a number of mirrors such as 3, or a percentage of a cluster's mirrors such as 50%%", s)
	case percent && n > 100:
		return RemovalLimit{}, fmt.Errorf("--max-removals %q: a percentage is at most 100%%", s)
	}
	return RemovalLimit{N: n, Percent: percent}, nil
}

// Allowed is how many of stored mirrors may be removed at once.
func (l RemovalLimit) Allowed(stored int) int {
	if l.Percent {
		return stored * l.N / 100
	}
	return l.N
}

func (l RemovalLimit) String() string {
	if l.Percent {
		return strconv.Itoa(l.N) + "%"
	}
	return strconv.Itoa(l.N)
}

// ParseSnapshotSize reads the largest snapshot to read: a Kubernetes
// quantity of bytes, such as 512Mi, 1Gi or 300M.
func ParseSnapshotSize(s string) (int64, error) {
	q, err := resource.ParseQuantity(strings.TrimSpace(s))
	if err != nil || q.Sign() <= 0 {
		return 0, fmt.Errorf("--max-snapshot-size %q: want a size in bytes such as 512Mi or 1Gi", s)
	}
	return q.Value(), nil
}
