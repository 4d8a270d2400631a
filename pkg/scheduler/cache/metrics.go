package cache

// Drift kinds passed to Metrics.DriftDetected. Each names one way the cache
// can disagree with the informers (see Cache.Reconcile), plus the expiry of
// an assumed pod, which means a bound pod's add event never arrived.
const (
	// DriftNodeMissing: a node the informer has is not in the cache.
	DriftNodeMissing = "node_missing"
	// DriftNodeExtra: the cache holds a node the informer no longer has.
	DriftNodeExtra = "node_extra"
	// DriftNodeStale: the cache holds an older version of a node object.
	DriftNodeStale = "node_stale"
	// DriftPodMissing: an assigned pod the informer has is not in the cache.
	DriftPodMissing = "pod_missing"
	// DriftPodExtra: the cache holds a pod (not merely assumed) the informer
	// no longer has.
	DriftPodExtra = "pod_extra"
	// DriftPodWrongNode: the cache places a pod on another node than the
	// informer does.
	DriftPodWrongNode = "pod_wrong_node"
	// DriftPodStale: the cache holds an older version of a pod object.
	DriftPodStale = "pod_stale"
	// DriftAssumedPodExpired: an assumed pod was dropped because no add
	// event confirmed it within the TTL after its binding finished.
	DriftAssumedPodExpired = "assumed_pod_expired"
	// DriftAssumedPodConfirmedLate: an assumed pod's TTL passed without an
	// add event, but the API server had it bound (the BindingCheck), so
	// it was confirmed rather than dropped: the informer lags the server
	// by more than the TTL.
	DriftAssumedPodConfirmedLate = "assumed_pod_confirmed_late"
)

// Metrics receives the cache's observations. The engine wires it to its
// Prometheus registry; implementations must be safe for concurrent use and
// must not call back into the Cache (they are called with its lock held).
type Metrics interface {
	// DriftDetected counts one difference of the given kind (a Drift*
	// constant) between the cache and the cluster.
	DriftDetected(kind string)
	// CacheSize reports the number of NodeInfos, pods (assumed included)
	// and assumed pods. It is called after every cleanup pass.
	CacheSize(nodes, pods, assumed int)
}

// NoopMetrics discards everything.
type NoopMetrics struct{}

var _ Metrics = NoopMetrics{}

// DriftDetected implements Metrics.
func (NoopMetrics) DriftDetected(string) {}

// CacheSize implements Metrics.
func (NoopMetrics) CacheSize(int, int, int) {}
