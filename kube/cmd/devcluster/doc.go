// Command devcluster runs a local Kubernetes control plane (embedded etcd,
// kube-apiserver, kube-controller-manager) for developing and testing the
// berth scheduler, and fills it with synthetic nodes.
//
//	devcluster up [--dir .devcluster] [--apiserver-port 6443] ...
//	devcluster status [--dir .devcluster]
//	devcluster nodes --count 5000 --profile mixed
//	devcluster down [--dir .devcluster] [--keep-data]
//	devcluster serve ...   (foreground supervisor; what "up" runs detached)
//
// The heavy lifting is in package devcluster and internal/nodegen.
package main
