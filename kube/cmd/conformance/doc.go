// Command conformance runs a long differential campaign: generated clusters
// and pods evaluated by kube-scheduler v1.37's plugins and berth's, with the
// agreement rate per plugin and a reproducer for every disagreement.
//
//	go run ./cmd/conformance --seeds 20000
package main
