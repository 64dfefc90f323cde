// Command etcd is etcd's own server (go.etcd.io/etcd/server/v3/etcdmain, as
// etcd's main.go runs it), the storage behind the realkube kube-apiserver.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
