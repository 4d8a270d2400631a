// Package scheduling holds berth's end-to-end scheduling tests: a real
// kube-apiserver (devcluster, via internal/testenv), berth running
// in-process or as its own process, and assertions made only on what is read
// back from the API server.
package scheduling
