package cache

import (
	"sort"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
)

// Dump is a copy of the cache's contents for debugging and checks.
type Dump struct {
	// Nodes holds a copy of every NodeInfo by node name, including those
	// of deleted nodes that still hold pods (their Node() is nil). Their
	// ImageStates carry the cluster-wide NumNodes.
	Nodes map[string]*framework.NodeInfo
	// AssumedPods lists the pods not yet confirmed, by namespace and name.
	AssumedPods []AssumedPod
}

// AssumedPod is one assumed pod in a Dump.
type AssumedPod struct {
	Pod *v1.Pod
	// BindingFinished is set once FinishBinding was called; Deadline is
	// then when the pod expires if still unconfirmed.
	BindingFinished bool
	Deadline        time.Time
}

// Dump copies the cache's NodeInfos and assumed pods. It costs a copy of
// every NodeInfo: keep it off the scheduling path.
func (c *Cache) Dump() *Dump {
	c.mu.RLock()
	defer c.mu.RUnlock()
	d := &Dump{Nodes: make(map[string]*framework.NodeInfo, len(c.nodes))}
	for name, item := range c.nodes {
		ni := item.info.Clone()
		ni.ImageStates = make(map[string]*framework.ImageStateSummary, len(item.info.ImageStates))
		for img, own := range item.info.ImageStates {
			sum := &framework.ImageStateSummary{Size: own.Size}
			if ic, ok := c.images[img]; ok {
				sum.NumNodes = ic.numNodes
			}
			ni.ImageStates[img] = sum
		}
		d.Nodes[name] = ni
	}
	for _, ps := range c.assumed {
		d.AssumedPods = append(d.AssumedPods, AssumedPod{Pod: ps.pod, BindingFinished: ps.bindingFinished, Deadline: ps.deadline})
	}
	sort.Slice(d.AssumedPods, func(i, j int) bool {
		a, b := d.AssumedPods[i].Pod, d.AssumedPods[j].Pod
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return d
}

// Reconcile compares the cache with the informers' view and repairs every
// difference: nodes is every node, pods every pod with spec.nodeName set
// (unassigned and terminal pods are ignored here anyway). It returns the
// number of differences and counts each through Metrics.DriftDetected with
// one of the Drift* kinds.
//
// Assumed pods the informer does not list yet are not drift and stay; an
// assumed pod the informer lists as bound is confirmed (drift only if it is
// bound to another node than assumed).
//
// Informer stores are updated before their event handlers run, so a check
// can count events that are merely in flight; that is harmless because the
// event handlers are idempotent, but an alert should look at drift that
// persists over consecutive checks. Reconcile holds the cache lock for a
// pass over all nodes and pods: run it every few minutes, not per cycle.
func (c *Cache) Reconcile(logger klog.Logger, nodes []*v1.Node, pods []*v1.Pod) (drift int) {
	c.mu.Lock()
	defer c.mu.Unlock()

	count := func(kind string, keysAndValues ...any) {
		drift++
		c.metrics.DriftDetected(kind)
		logger.Info("Scheduler cache drift repaired", append([]any{"kind", kind}, keysAndValues...)...)
	}

	wantNodes := make(map[string]struct{}, len(nodes))
	for _, n := range nodes {
		wantNodes[n.Name] = struct{}{}
		item, ok := c.nodes[n.Name]
		switch {
		case !ok || item.info.Node() == nil:
			count(DriftNodeMissing, "node", klog.KObj(n))
			c.setNodeLocked(n)
		case stale(&item.info.Node().ObjectMeta, &n.ObjectMeta, item.info.Node() != n):
			count(DriftNodeStale, "node", klog.KObj(n),
				"cachedVersion", item.info.Node().ResourceVersion, "version", n.ResourceVersion)
			c.setNodeLocked(n)
		}
	}
	var extraNodes []string
	for name, item := range c.nodes {
		if _, ok := wantNodes[name]; !ok && item.info.Node() != nil {
			extraNodes = append(extraNodes, name)
		}
	}
	for _, name := range extraNodes {
		count(DriftNodeExtra, "node", klog.KRef("", name))
		c.removeNodeLocked(name)
	}

	wantPods := make(map[types.UID]struct{}, len(pods))
	for _, p := range pods {
		if p.UID == "" || p.Spec.NodeName == "" || isTerminal(p) {
			continue
		}
		wantPods[p.UID] = struct{}{}
		ps, ok := c.pods[p.UID]
		switch {
		case !ok:
			count(DriftPodMissing, "pod", klog.KObj(p), "node", klog.KRef("", p.Spec.NodeName))
		case ps.pod.Spec.NodeName != p.Spec.NodeName:
			count(DriftPodWrongNode, "pod", klog.KObj(p),
				"cachedNode", klog.KRef("", ps.pod.Spec.NodeName), "node", klog.KRef("", p.Spec.NodeName))
		case ps.assumed:
			// Bound where assumed; its add event is on its way.
			logger.V(4).Info("Confirming assumed pod seen bound by the consistency check", "pod", klog.KObj(p))
		case stale(&ps.pod.ObjectMeta, &p.ObjectMeta, ps.pod != p):
			count(DriftPodStale, "pod", klog.KObj(p),
				"cachedVersion", ps.pod.ResourceVersion, "version", p.ResourceVersion)
		default:
			continue
		}
		c.upsertPodLocked(logger, p.UID, p)
	}
	var extraPods []types.UID
	for key, ps := range c.pods {
		if _, ok := wantPods[key]; !ok && !ps.assumed {
			extraPods = append(extraPods, key)
		}
	}
	for _, key := range extraPods {
		ps := c.pods[key]
		count(DriftPodExtra, "pod", klog.KObj(ps.pod), "node", klog.KRef("", ps.pod.Spec.NodeName))
		c.deletePodLocked(logger, key, ps)
	}
	return drift
}

// stale reports whether the cached object is an older version than the
// informer's. Objects without a resourceVersion (built in tests) are
// compared by identity.
func stale(cached, current *metav1.ObjectMeta, differentObject bool) bool {
	if cached.ResourceVersion == "" && current.ResourceVersion == "" {
		return differentObject
	}
	return cached.ResourceVersion != current.ResourceVersion
}
