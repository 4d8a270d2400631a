// Package extender tests `berth extender` behind the stock kube-scheduler
// (v1.37.2, bin/kube-scheduler) on the local control plane: kube-scheduler
// runs a profile whose extenders stanza points at berth (filter,
// prioritize, preempt and bind verbs, nodeCacheCapable), and GPU-sharing
// pods must be bound with per-card assignments that match their asks and
// oversubscribe no card, also when a burst of pods makes kube-scheduler
// bind faster than berth's informer sees the binds.
package extender
