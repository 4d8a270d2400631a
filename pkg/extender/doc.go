// Package extender serves kube-scheduler's HTTP extender API
// (k8s.io/kube-scheduler/extender/v1) from berth's scheduling core, so a
// cluster that keeps kube-scheduler can still have berth's placement
// (GPU sharing and its card choice, load-aware and node-preference
// scoring …) without running a second scheduler.
//
// A guided tour:
//
//   - Extender (extender.go) answers the four verbs as plain methods:
//     Filter and Prioritize evaluate the pod with a berth profile over the
//     candidate nodes kube-scheduler sends (names only: the extender is
//     configured nodeCacheCapable), Preempt drops the candidates no
//     eviction can make fit, and Bind reserves, annotates, binds and
//     assumes the pod.
//   - Cache feeding (informers.go) keeps the Extender's own berth cache in
//     step with the cluster from informers; the pods the bind verb places
//     are assumed in it at once and confirmed by the informer later, so
//     the next filter call sees the cards they took (kubernetes #82359).
//   - Handler (http.go) is the HTTP shell: JSON in and out, one path per
//     verb, request metrics (metrics.go).
//
// Every decision is the core's (pkg/scheduler Evaluator over
// pkg/scheduler/core): this package holds no placement logic of its own.
package extender
