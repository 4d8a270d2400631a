// Package affinity holds berth's end-to-end tests of inter-pod affinity: a
// real kube-apiserver (internal/testenv), berth in-process with the
// InterPodAffinity plugin registered, and assertions made only on what is
// read back from the API server.
package affinity
