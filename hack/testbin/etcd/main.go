// Command etcd is etcd's own server entry point, built from the Go module
// proxy so the end-to-end tests need no download from outside.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
