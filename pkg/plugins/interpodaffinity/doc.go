// Package interpodaffinity provides InterPodAffinity: it filters nodes by
// the incoming pod's required pod affinity and anti-affinity and by the
// required anti-affinity of the pods already placed (symmetry), and scores
// nodes by preferred terms on both sides and by existing pods' required
// affinity (hardPodAffinityWeight).
//
// Verdicts, reasons and normalised scores follow kube-scheduler v1.37 with
// its alpha InterPodAffinityHostnameFastPath gate off (the default): every
// term, hostname-scoped or not, is counted per topology pair.
//
// Cost model. A pod's terms are parsed once and cached by pod UID (terms.go)
// and identical terms are interned, so the existing pods' terms, which are
// the same for every replica of a workload, are matched against the
// incoming pod once per term per cycle rather than once per pod.
// PreFilter's counts are kept across cycles per incoming-pod signature
// (namespace, labels, namespace labels, terms) and only the nodes whose
// NodeInfo.Generation moved are counted again (incremental.go); a new
// signature counts every node once. The counts reach the cycle state
// shared and read-only and are copied before any change, so Filter may
// read them concurrently. Scoring recounts each cycle but reads only the
// nodes with pods with affinity unless the pod has preferred terms.
package interpodaffinity
