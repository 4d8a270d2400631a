package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/berthsched/berth/pkg/framework"
)

// Cache is the scheduler's view of nodes and pods, fed by informer event
// handlers, plus the pods the scheduler assumed but has not yet seen bound.
// All methods are safe for concurrent use.
//
// The informer-facing methods (AddPod, UpdatePod, RemovePod, AddNode,
// UpdateNode, RemoveNode) are idempotent upserts and deletes: an event the
// cache already reflects (for example because Reconcile repaired it before
// the event was delivered) is applied again without error.
type Cache struct {
	ttl     time.Duration
	clock   clock.Clock
	metrics Metrics
	// check, if set, is asked before an expired assumed pod is dropped.
	check BindingCheck

	mu sync.RWMutex
	// generation is stamped on a NodeInfo each time it changes.
	generation int64
	nodes      map[string]*nodeItem
	// head is the most recently changed NodeInfo.
	head *nodeItem
	// numNodes counts the NodeInfos that have a Node object, i.e. the nodes
	// a snapshot must contain.
	numNodes int
	// listGen changes whenever the set of snapshot nodes or their order
	// changes (node added or removed, zone label changed).
	listGen int64
	// order is the snapshot node order, computed lazily for orderGen.
	order    []string
	orderGen int64

	pods    map[types.UID]*podState
	assumed map[types.UID]*podState

	// images counts, per image name, the nodes that have it.
	images map[string]*imageCount
	// imagesGen is the generation of the last change to images.
	imagesGen int64
}

// nodeItem is one NodeInfo in the cache's recency list.
type nodeItem struct {
	name       string
	info       *framework.NodeInfo
	prev, next *nodeItem
	// imageGen is the generation at which the node's image list last
	// changed; snapshots rebuild the node's image map only after it.
	imageGen int64
}

type podState struct {
	pod *v1.Pod
	// assumed is true until an informer event confirms the pod.
	assumed bool
	// bindingFinished is set by FinishBinding; only then can the pod expire.
	bindingFinished bool
	// deadline is when an unconfirmed pod expires.
	deadline time.Time
}

// New returns an empty cache. Assumed pods expire ttl after FinishBinding;
// clk is the time source (a fake one in tests); metrics may be nil, which
// means NoopMetrics.
func New(ttl time.Duration, clk clock.Clock, metrics Metrics) *Cache {
	if clk == nil {
		clk = clock.RealClock{}
	}
	if metrics == nil {
		metrics = NoopMetrics{}
	}
	return &Cache{
		ttl:     ttl,
		clock:   clk,
		metrics: metrics,
		nodes:   make(map[string]*nodeItem),
		pods:    make(map[types.UID]*podState),
		assumed: make(map[types.UID]*podState),
		images:  make(map[string]*imageCount),
		// The order is not computed yet.
		orderGen: -1,
	}
}

func podKey(pod *v1.Pod) (types.UID, error) {
	if pod == nil {
		return "", errors.New("nil pod")
	}
	if pod.UID == "" {
		return "", fmt.Errorf("pod %s/%s has no UID", pod.Namespace, pod.Name)
	}
	return pod.UID, nil
}

func isTerminal(pod *v1.Pod) bool {
	return pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed
}

// AssumePod places pod on pod.Spec.NodeName before the binding is confirmed,
// so that the following scheduling cycles see the node's capacity taken. It
// fails if the pod is already in the cache, assumed or added.
func (c *Cache) AssumePod(logger klog.Logger, pod *v1.Pod) error {
	key, err := podKey(pod)
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" {
		return fmt.Errorf("pod %s/%s cannot be assumed: no node name", pod.Namespace, pod.Name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pods[key]; ok {
		return fmt.Errorf("pod %s/%s (uid %s) is already in the cache, so it cannot be assumed", pod.Namespace, pod.Name, key)
	}
	c.addPodLocked(pod)
	ps := &podState{pod: pod, assumed: true}
	c.pods[key] = ps
	c.assumed[key] = ps
	logger.V(5).Info("Assumed pod", "pod", klog.KObj(pod), "node", klog.KRef("", pod.Spec.NodeName))
	return nil
}

// FinishBinding records that the binding request for an assumed pod has
// been sent. From now on the pod expires if no add event confirms it within
// the cache's TTL. It does nothing for pods that are not assumed.
func (c *Cache) FinishBinding(logger klog.Logger, pod *v1.Pod) error {
	key, err := podKey(pod)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.assumed[key]
	if !ok {
		logger.V(5).Info("FinishBinding for a pod that is not assumed", "pod", klog.KObj(pod))
		return nil
	}
	ps.bindingFinished = true
	ps.deadline = c.clock.Now().Add(c.ttl)
	return nil
}

// ForgetPod undoes AssumePod after a failed binding. Forgetting a pod the
// cache no longer has (it expired) is not an error; forgetting a pod that an
// informer event already confirmed is, and leaves the pod in place, because
// the pod is bound whatever the binding cycle believes.
func (c *Cache) ForgetPod(logger klog.Logger, pod *v1.Pod) error {
	key, err := podKey(pod)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[key]
	if !ok {
		logger.V(4).Info("Pod to forget is not in the cache", "pod", klog.KObj(pod))
		return nil
	}
	if !ps.assumed {
		return fmt.Errorf("pod %s/%s (uid %s) was confirmed bound to %s, so it cannot be forgotten", pod.Namespace, pod.Name, key, ps.pod.Spec.NodeName)
	}
	if pod.Spec.NodeName != "" && pod.Spec.NodeName != ps.pod.Spec.NodeName {
		return fmt.Errorf("pod %s/%s (uid %s) was assumed on %s, not on %s", pod.Namespace, pod.Name, key, ps.pod.Spec.NodeName, pod.Spec.NodeName)
	}
	c.deletePodLocked(logger, key, ps)
	logger.V(5).Info("Forgot assumed pod", "pod", klog.KObj(pod), "node", klog.KRef("", ps.pod.Spec.NodeName))
	return nil
}

// AddPod handles an informer add of a bound pod. For an assumed pod this is
// the confirmation: the informer's object replaces the assumed one, on the
// informer's node if it differs. A pod in a terminal phase is removed rather
// than added.
func (c *Cache) AddPod(logger klog.Logger, pod *v1.Pod) error {
	key, err := podKey(pod)
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" {
		return fmt.Errorf("pod %s/%s is not bound to a node", pod.Namespace, pod.Name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.upsertPodLocked(logger, key, pod)
	return nil
}

// UpdatePod handles an informer update of a bound pod. The cached object is
// replaced by newPod (oldPod is not needed: the cache compares with what it
// holds). An update that reaches a terminal phase (Succeeded or Failed)
// removes the pod, so the event handler may forward such updates here
// rather than call RemovePod.
// An update for a pod the cache does not hold adds it, and an update for an
// assumed pod confirms it, as AddPod would.
func (c *Cache) UpdatePod(logger klog.Logger, oldPod, newPod *v1.Pod) error {
	key, err := podKey(newPod)
	if err != nil {
		return err
	}
	if newPod.Spec.NodeName == "" {
		return fmt.Errorf("pod %s/%s is not bound to a node", newPod.Namespace, newPod.Name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[key]; ok && !ps.assumed && ps.pod.Spec.NodeName != newPod.Spec.NodeName {
		logger.Error(nil, "Bound pod changed node, the cache missed events", "pod", klog.KObj(newPod),
			"cachedNode", klog.KRef("", ps.pod.Spec.NodeName), "newNode", klog.KRef("", newPod.Spec.NodeName))
	}
	c.upsertPodLocked(logger, key, newPod)
	return nil
}

// RemovePod handles an informer delete. The pod is removed from the node the
// cache has it on, even if pod names another one. Removing a pod the cache
// does not hold is not an error.
func (c *Cache) RemovePod(logger klog.Logger, pod *v1.Pod) error {
	key, err := podKey(pod)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[key]
	if !ok {
		logger.V(4).Info("Pod to remove is not in the cache", "pod", klog.KObj(pod))
		return nil
	}
	c.deletePodLocked(logger, key, ps)
	return nil
}

// upsertPodLocked makes pod the confirmed version of key, or removes it if
// it is terminal.
func (c *Cache) upsertPodLocked(logger klog.Logger, key types.UID, pod *v1.Pod) {
	ps, ok := c.pods[key]
	if isTerminal(pod) {
		if ok {
			c.deletePodLocked(logger, key, ps)
		}
		return
	}
	if !ok {
		c.addPodLocked(pod)
		c.pods[key] = &podState{pod: pod}
		return
	}
	if ps.assumed {
		if ps.pod.Spec.NodeName != pod.Spec.NodeName {
			logger.Info("Pod was bound to another node than it was assumed on", "pod", klog.KObj(pod),
				"assumedNode", klog.KRef("", ps.pod.Spec.NodeName), "boundNode", klog.KRef("", pod.Spec.NodeName))
		}
		delete(c.assumed, key)
		ps.assumed = false
		ps.bindingFinished = false
		ps.deadline = time.Time{}
	}
	c.replacePodLocked(logger, ps, pod)
}

// replacePodLocked swaps the cached object of ps for pod, moving it between
// NodeInfos if the node changed.
func (c *Cache) replacePodLocked(logger klog.Logger, ps *podState, pod *v1.Pod) {
	c.removePodLocked(logger, ps.pod)
	c.addPodLocked(pod)
	ps.pod = pod
}

func (c *Cache) deletePodLocked(logger klog.Logger, key types.UID, ps *podState) {
	c.removePodLocked(logger, ps.pod)
	delete(c.pods, key)
	delete(c.assumed, key)
}

// addPodLocked adds pod to its node's NodeInfo, creating a node-less
// NodeInfo if the node is not known yet.
func (c *Cache) addPodLocked(pod *v1.Pod) {
	item := c.itemFor(pod.Spec.NodeName)
	item.info.AddPod(pod)
	c.touch(item)
}

// removePodLocked takes pod off the NodeInfo it was added to. A NodeInfo
// left without pods and without a node is dropped.
func (c *Cache) removePodLocked(logger klog.Logger, pod *v1.Pod) {
	item, ok := c.nodes[pod.Spec.NodeName]
	if !ok {
		logger.Error(nil, "Node of a cached pod is not in the cache", "pod", klog.KObj(pod), "node", klog.KRef("", pod.Spec.NodeName))
		return
	}
	if err := item.info.RemovePod(pod); err != nil {
		logger.Error(err, "Cached pod is not on its node", "pod", klog.KObj(pod))
	}
	if len(item.info.Pods) == 0 && item.info.Node() == nil {
		c.dropItem(item)
		return
	}
	c.touch(item)
}

// IsAssumedPod reports whether the pod is assumed and not yet confirmed.
func (c *Cache) IsAssumedPod(pod *v1.Pod) (bool, error) {
	key, err := podKey(pod)
	if err != nil {
		return false, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.assumed[key]
	return ok, nil
}

// GetPod returns the cached object of the pod with pod's UID: the assumed
// pod or the informer's latest version.
func (c *Cache) GetPod(pod *v1.Pod) (*v1.Pod, error) {
	key, err := podKey(pod)
	if err != nil {
		return nil, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	ps, ok := c.pods[key]
	if !ok {
		return nil, fmt.Errorf("pod %s/%s (uid %s) is not in the cache", pod.Namespace, pod.Name, key)
	}
	return ps.pod, nil
}

// NodeCount returns the number of NodeInfos, including those of deleted
// nodes that still hold pods.
func (c *Cache) NodeCount() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.nodes)
}

// PodCount returns the number of pods in the cache, assumed ones included.
// The error is always nil; it is kept so callers need not change if the
// count ever has to be validated.
func (c *Cache) PodCount() (int, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.pods), nil
}

// BindingCheck asks the API server what became of an assumed pod whose
// TTL has passed: the pod as the server has it now, or nil if it is gone.
// An error means the server could not tell (the pod then stays assumed).
// It is called without the cache's lock held, and must bound its own wait.
type BindingCheck func(pod *v1.Pod) (*v1.Pod, error)

// SetBindingCheck makes CleanupExpiredAssumedPods ask check before
// dropping an expired assumed pod. Without it, an informer lagging more
// than the TTL behind the API server (a slow or stalled watch) would see
// the cache drop pods whose binds succeeded, free their node's capacity
// for other pods, and so overcommit the node once the events arrive.
// Call it before Run.
func (c *Cache) SetBindingCheck(check BindingCheck) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.check = check
}

// CleanupExpiredAssumedPods drops the assumed pods whose binding finished
// more than the TTL ago without an add event confirming them. With a
// BindingCheck, each is first looked up: a pod the API server has bound
// is confirmed as an add event would (on the server's node), a pod the
// server could not be asked about stays assumed for another TTL, and
// only a pod that is gone or not bound is dropped. Run calls it
// periodically; tests call it directly with a fake clock.
func (c *Cache) CleanupExpiredAssumedPods(logger klog.Logger) {
	type expired struct {
		key      types.UID
		pod      *v1.Pod
		deadline time.Time
		now      *v1.Pod
		err      error
	}
	var due []*expired
	c.mu.Lock()
	now := c.clock.Now()
	check := c.check
	for key, ps := range c.assumed {
		if ps.bindingFinished && !now.Before(ps.deadline) {
			due = append(due, &expired{key: key, pod: ps.pod, deadline: ps.deadline})
		}
	}
	c.mu.Unlock()
	if check != nil {
		for _, e := range due {
			e.now, e.err = check(e.pod)
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range due {
		ps, ok := c.assumed[e.key]
		if !ok || ps.pod != e.pod || !ps.deadline.Equal(e.deadline) {
			// Confirmed, forgotten or assumed again meanwhile.
			continue
		}
		switch {
		case e.err != nil:
			ps.deadline = c.clock.Now().Add(c.ttl)
			logger.Info("Warning: assumed pod expired but the API server could not be asked whether it is bound; keeping it for another TTL",
				"pod", klog.KObj(ps.pod), "node", klog.KRef("", ps.pod.Spec.NodeName), "ttl", c.ttl, "err", e.err)
		case e.now != nil && e.now.UID == e.key && e.now.Spec.NodeName != "":
			logger.Info("Warning: assumed pod expired before the informer reported it bound, but the API server has it bound; confirming it",
				"pod", klog.KObj(ps.pod), "node", klog.KRef("", e.now.Spec.NodeName), "ttl", c.ttl)
			c.upsertPodLocked(logger, e.key, e.now)
			c.metrics.DriftDetected(DriftAssumedPodConfirmedLate)
		default:
			// logr has no warning level; V(0) is always shown.
			logger.Info("Warning: assumed pod expired without being confirmed bound; releasing its resources",
				"pod", klog.KObj(ps.pod), "node", klog.KRef("", ps.pod.Spec.NodeName), "ttl", c.ttl)
			c.deletePodLocked(logger, e.key, ps)
			c.metrics.DriftDetected(DriftAssumedPodExpired)
		}
	}
	c.metrics.CacheSize(len(c.nodes), len(c.pods), len(c.assumed))
}

// Run starts a goroutine that calls CleanupExpiredAssumedPods every
// cleanupPeriod until ctx is done. It returns at once.
func (c *Cache) Run(ctx context.Context, cleanupPeriod time.Duration) {
	logger := klog.FromContext(ctx)
	go func() {
		t := c.clock.NewTimer(cleanupPeriod)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C():
				c.CleanupExpiredAssumedPods(logger)
				t.Reset(cleanupPeriod)
			}
		}
	}()
}
