// Package config turns what the user gave — semaphore-service-mirror's v0.4
// configuration file (with ssm's own keys) and the overrides of flags and
// SSM_* variables — into a typed Config: the clusters to read, what to read
// of each and in which role, and how to render them. Plain flags without a
// file become a one-cluster Config, so render, run and coredns share one
// path. Errors name the key (by its path in the file) or the flag at fault;
// a wrong value of an Overrides field that generate checks is a
// *field.Error naming the field, which cmd/ssm names by its flag. It never
// sees the command line parser; it imports source and generate of this
// module, and the leaf internal/field.
package config

import (
	"strings"
	"time"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/source"
)

// Layout is how a render's files are arranged.
type Layout uint8

const (
	// Flat renders one remote's mirrors at the root of the output: plain
	// flags, as render and run take them without a file.
	Flat Layout = iota
	// Tree renders each remote into a directory of its own and global
	// Services under global/: the configuration file.
	Tree
)

// Role is why Services are read of a cluster.
type Role uint8

const (
	// RoleMirrored: Services are mirrored one by one (endpoints mode) or under
	// their own names (NodePort mode).
	RoleMirrored Role = iota
	// RoleGlobal: Services are merged, across clusters, into global Services.
	RoleGlobal
	// RoleLocal: Services (and, for NodePort mode, namespaces) of the local
	// cluster where the mirrors go: a mirror never takes the name of a
	// local Service ssm did not render, and NodePort mode renders the
	// endpoints of the hand-written ones labelled tfw.io/barrelman=true.
	RoleLocal
)

// String names the role as logs and errors do.
func (r Role) String() string {
	switch r {
	case RoleMirrored:
		return "mirror"
	case RoleGlobal:
		return "global"
	case RoleLocal:
		return "local"
	}
	return "unknown"
}

// Read is one selection read of a cluster, in a role.
type Read struct {
	Role      Role
	Selection source.Selection
}

// Cluster is one cluster to read: a remote, or the local cluster (read,
// never written).
type Cluster struct {
	// Name names the cluster's directory (Tree) and labels what is rendered
	// from it. It may be empty in NodePort mode without --remote-name.
	Name  string
	Local bool
	Conn  source.Connection
	// FromFile reads a snapshot file (or - for stdin) instead of the cluster.
	FromFile string
	// Reads are what is read of the cluster, in Role order, at most one per role.
	Reads []Read
	// Options renders the cluster's mirrors; unused for the local cluster.
	Options generate.Options
	// Resync re-delivers the cluster's cached objects this often; 0 means
	// the caller's default.
	Resync time.Duration
	// Hint is appended to errors reading the cluster: how to do without it.
	Hint string
}

// Selection returns what is read of the cluster in role r, if anything.
func (c Cluster) Selection(r Role) (source.Selection, bool) {
	for _, rd := range c.Reads {
		if rd.Role == r {
			return rd.Selection, true
		}
	}
	return source.Selection{}, false
}

// Config is everything render and run need: which clusters to read and how
// to render them.
type Config struct {
	Layout Layout
	// Clusters are the remotes in file order, then the local cluster when
	// it is read. A Flat config has one remote, and the local cluster only
	// for NodePort mode's hand-written Services.
	Clusters []Cluster
	// Global configures global Services (Tree only).
	Global generate.GlobalOptions
	// API is what is rendered: semaphore-style mirrors ("" or
	// APIMirrors), or (APIMCS, always a Tree) the Multi-Cluster Services
	// API of the remotes' exports, configured by MCS.
	API generate.API
	MCS generate.MCSOptions
	// SkipInvalid accepts Services that cannot be mirrored.
	SkipInvalid bool
	// MaxRemovals bounds how many mirrors of one cluster a render may
	// remove at once; more are held (see mirror).
	MaxRemovals RemovalLimit
	// AllowEmpty renders a snapshot that holds no Service at all, instead
	// of taking it for a mistake.
	AllowEmpty bool
	// MaxSnapshotSize bounds, in bytes, each snapshot file read (0:
	// source.DefaultMaxSnapshotSize).
	MaxSnapshotSize int64
	// Shard spreads the remotes over replicas (run only); the zero value
	// renders every remote.
	Shard Shard
	// Notes are what reading the configuration changed on its own, to log.
	Notes []string
}

// Remotes names the remote clusters, joined for logs and commit subjects.
func (c Config) Remotes() string {
	var names []string
	for _, cl := range c.Clusters {
		if !cl.Local {
			names = append(names, cl.Name)
		}
	}
	return strings.Join(names, ", ")
}

// Local returns the index of the local cluster in Clusters, or -1.
func (c Config) Local() int {
	for i, cl := range c.Clusters {
		if cl.Local {
			return i
		}
	}
	return -1
}
