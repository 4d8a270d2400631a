// Package nodeaffinity provides NodeAffinity: it filters nodes by the pod's
// spec.nodeSelector and required node affinity, plus an optional
// scheduler-wide addedAffinity (NodeAffinityArgs), and scores nodes by the
// weights of the preferred terms they match.
//
// Selector parsing and matching are delegated to
// k8s.io/component-helpers/scheduling/corev1/nodeaffinity, the library the
// API server and kubelet use, so berth reads selectors exactly as they do.
package nodeaffinity
