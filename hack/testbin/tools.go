//go:build tools

// Package testbin pins the kube-apiserver, kube-controller-manager and etcd
// versions the end-to-end tests run against. It is its own module so the
// main go.mod stays clean.
package testbin

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
