// Package preference is berth's framework-free node-preference logic:
// operator-written rule sets that say which pods prefer (or require)
// which nodes by their labels, e.g. "database pods need SSD or NVMe
// disks and prefer NVMe, and the more IOPS the better".
//
// A RuleSet (the configuration, with JSON tags so plugin args embed it)
// has a name, a pod selector, required node requirements and weighted
// preferred rules of three kinds: a score per label value, a numeric
// label mapped linearly or logarithmically onto 0..100, and a node
// selector requirement that scores 100 when it matches. Validate reports
// every mistake with its field path; NewPolicy compiles the validated
// sets; Policy.Resolve finds the sets that govern a pod (the one its
// AnnotationKey names, else every set whose selector matches it), and the
// resulting Preference checks the required rules and scores a node with
// a per-rule Breakdown for explain.
//
// Requirement parsing and matching are delegated to
// k8s.io/component-helpers' nodeaffinity package and pod selection to
// apimachinery's label selectors, so operators, Gt/Lt and label syntax
// mean here exactly what they mean in a pod's node affinity.
//
// The package imports neither berth's framework nor its scheduler, so the
// NodePreference plugin (pkg/plugins/nodepreference), the simulator and
// plugin mode share one implementation. Everything here is plain data and
// pure functions; a Policy is read-only after NewPolicy and safe for
// concurrent use.
package preference
