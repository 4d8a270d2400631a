package bench

import (
	"fmt"
	"math"
	"sort"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// Violations counts placement-constraint violations found in the final
// cluster state (computed from API objects, whichever scheduler placed the
// pods). Every count must be 0 for a correct scheduler.
type Violations struct {
	// Total is the sum of the counts below.
	Total int `json:"total"`
	// CapacityOvercommit counts (node, resource) pairs whose summed pod
	// requests exceed the node's allocatable (cpu, memory, ephemeral
	// storage, extended resources, and the pod count).
	CapacityOvercommit int `json:"capacityOvercommit"`
	// NodeAffinity counts bound pods whose node does not match their
	// nodeSelector / required node affinity.
	NodeAffinity int `json:"nodeAffinity"`
	// PodAntiAffinity counts bound pods with a required anti-affinity term
	// that another bound pod in the same topology domain matches.
	PodAntiAffinity int `json:"podAntiAffinity"`
	// PodAffinity counts bound pods with a required affinity term that no
	// other pod in the same domain satisfies.
	PodAffinity int `json:"podAffinity"`
	// TopologySpread counts hard (DoNotSchedule) spread constraints, per
	// namespace and constraint, whose final skew exceeds maxSkew.
	TopologySpread int `json:"topologySpread"`
	// UnschedulableBound counts measured pods designed to fit nowhere that
	// were bound anyway.
	UnschedulableBound int `json:"unschedulableBound"`
	// VolumeUnbound counts bound pods with a PersistentVolumeClaim that
	// is missing, not Bound, or whose PV is not bound back to it.
	VolumeUnbound int `json:"volumeUnbound"`
	// VolumeNodeAffinity counts bound pods with a claim whose PV's node
	// affinity does not admit the pod's node.
	VolumeNodeAffinity int `json:"volumeNodeAffinity"`
	// StorageCapacity counts nodes whose volumes from the local
	// provisioner add up to more than the node's local capacity.
	StorageCapacity int `json:"storageCapacity"`
	// DeviceDoubleAllocated counts ResourceClaim allocations of a device
	// that another claim holds too (per device, the claims beyond the
	// first; admin-access and shared allocations are left out).
	DeviceDoubleAllocated int `json:"deviceDoubleAllocated"`
	// ClaimUnallocated counts bound pods with a ResourceClaim that is
	// missing, not allocated, or not reserved for the pod.
	ClaimUnallocated int `json:"claimUnallocated"`
	// DeviceNode counts bound pods with an allocated claim whose node
	// selector excludes the pod's node, or whose device lives in another
	// node's pool.
	DeviceNode int `json:"deviceNode"`
	// MaxTopologySkew is the largest final skew seen per topology key of a
	// hard spread constraint (informative; compare with maxSkew).
	MaxTopologySkew map[string]int `json:"maxTopologySkew"`
}

// Quality is the placement quality of one run.
type Quality struct {
	Violations Violations `json:"violations"`
	// CPURequestedCV is the coefficient of variation, across nodes, of
	// requested CPU / allocatable CPU (lower = more even spread).
	CPURequestedCV float64 `json:"cpuRequestedCV"`
	// CPURequestedMean is the mean of requested/allocatable CPU.
	CPURequestedMean float64 `json:"cpuRequestedMean"`
}

// evaluateQuality inspects the bound, non-terminating pods on nodes; st,
// if not nil, adds the storage checks, and ds the device checks.
func evaluateQuality(nodes []v1.Node, pods []v1.Pod, unschedulableByDesign func(*v1.Pod) bool, st *storageState, ds *draState) Quality {
	var q Quality
	v := &q.Violations
	v.MaxTopologySkew = map[string]int{}

	nodeByName := make(map[string]*v1.Node, len(nodes))
	for i := range nodes {
		nodeByName[nodes[i].Name] = &nodes[i]
	}
	var bound []*v1.Pod
	for i := range pods {
		p := &pods[i]
		if p.Spec.NodeName == "" || p.DeletionTimestamp != nil || p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed {
			continue
		}
		if _, ok := nodeByName[p.Spec.NodeName]; !ok {
			continue
		}
		bound = append(bound, p)
	}

	// Capacity.
	type usage struct {
		req  v1.ResourceList
		pods int64
	}
	use := map[string]*usage{}
	for _, p := range bound {
		u := use[p.Spec.NodeName]
		if u == nil {
			u = &usage{req: v1.ResourceList{}}
			use[p.Spec.NodeName] = u
		}
		u.pods++
		for name, qty := range resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{}) {
			cur := u.req[name]
			cur.Add(qty)
			u.req[name] = cur
		}
	}
	var ratios []float64
	for i := range nodes {
		n := &nodes[i]
		u := use[n.Name]
		alloc := n.Status.Allocatable
		if u != nil {
			if max := alloc.Pods().Value(); u.pods > max {
				v.CapacityOvercommit++
			}
			for name, qty := range u.req {
				a, ok := alloc[name]
				if !ok {
					if !qty.IsZero() {
						v.CapacityOvercommit++
					}
					continue
				}
				if qty.Cmp(a) > 0 {
					v.CapacityOvercommit++
				}
			}
		}
		if a := alloc.Cpu().MilliValue(); a > 0 {
			var r int64
			if u != nil {
				c := u.req[v1.ResourceCPU]
				r = c.MilliValue()
			}
			ratios = append(ratios, float64(r)/float64(a))
		}
	}
	q.CPURequestedMean, q.CPURequestedCV = meanCV(ratios)

	// Node affinity and "designed unschedulable" pods that got bound.
	for _, p := range bound {
		if ok, err := nodeaffinity.GetRequiredNodeAffinity(p).Match(nodeByName[p.Spec.NodeName]); err != nil || !ok {
			v.NodeAffinity++
		}
		if unschedulableByDesign != nil && unschedulableByDesign(p) {
			v.UnschedulableBound++
		}
		if st != nil {
			st.podViolations(p, nodeByName[p.Spec.NodeName], v)
		}
		if ds != nil {
			ds.podViolations(p, nodeByName[p.Spec.NodeName], v)
		}
	}
	if st != nil {
		v.StorageCapacity = st.overCapacityNodes()
	}
	if ds != nil {
		v.DeviceDoubleAllocated = ds.doubleAllocated()
	}

	// Inter-pod (anti-)affinity.
	domainOf := func(p *v1.Pod, key string) (string, bool) {
		val, ok := nodeByName[p.Spec.NodeName].Labels[key]
		return val, ok
	}
	// index: topology key -> value -> pods
	index := map[string]map[string][]*v1.Pod{}
	podsIn := func(key, val string) []*v1.Pod {
		m, ok := index[key]
		if !ok {
			m = map[string][]*v1.Pod{}
			for _, p := range bound {
				if d, ok := domainOf(p, key); ok {
					m[d] = append(m[d], p)
				}
			}
			index[key] = m
		}
		return m[val]
	}
	termMatches := func(owner *v1.Pod, t *v1.PodAffinityTerm, other *v1.Pod) bool {
		nss := t.Namespaces
		if len(nss) == 0 && t.NamespaceSelector == nil {
			nss = []string{owner.Namespace}
		}
		if t.NamespaceSelector == nil || len(t.NamespaceSelector.MatchLabels)+len(t.NamespaceSelector.MatchExpressions) > 0 {
			found := false
			for _, ns := range nss {
				if ns == other.Namespace {
					found = true
				}
			}
			if !found {
				return false
			}
		} // an empty namespaceSelector matches every namespace
		sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
		if err != nil {
			return false
		}
		return sel.Matches(labels.Set(other.Labels))
	}
	for _, p := range bound {
		aff := p.Spec.Affinity
		if aff == nil {
			continue
		}
		if aa := aff.PodAntiAffinity; aa != nil {
		anti:
			for i := range aa.RequiredDuringSchedulingIgnoredDuringExecution {
				t := &aa.RequiredDuringSchedulingIgnoredDuringExecution[i]
				d, ok := domainOf(p, t.TopologyKey)
				if !ok {
					continue
				}
				for _, o := range podsIn(t.TopologyKey, d) {
					if o.UID != p.UID && termMatches(p, t, o) {
						v.PodAntiAffinity++
						break anti
					}
				}
			}
		}
		if pa := aff.PodAffinity; pa != nil {
		affinity:
			for i := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
				t := &pa.RequiredDuringSchedulingIgnoredDuringExecution[i]
				d, ok := domainOf(p, t.TopologyKey)
				satisfied := false
				if ok {
					for _, o := range podsIn(t.TopologyKey, d) {
						if o.UID != p.UID && termMatches(p, t, o) {
							satisfied = true
							break
						}
					}
				}
				if !satisfied && ok && termMatches(p, t, p) {
					// The first pod of a self-affine group may go
					// anywhere if no other matching pod exists.
					others := false
					for _, o := range bound {
						if o.UID != p.UID && termMatches(p, t, o) {
							others = true
							break
						}
					}
					satisfied = !others
				}
				if !satisfied {
					v.PodAffinity++
					break affinity
				}
			}
		}
	}

	// Topology spread: per namespace and distinct hard constraint, the
	// final skew over the eligible nodes (nodes with the key that match
	// the pod's required node affinity: nodeAffinityPolicy Honor).
	type spreadKey struct{ ns, key, selector, affinity string }
	type spreadGroup struct {
		maxSkew int32
		owner   *v1.Pod
		c       *v1.TopologySpreadConstraint
	}
	groups := map[spreadKey]*spreadGroup{}
	var order []spreadKey
	for _, p := range bound {
		for i := range p.Spec.TopologySpreadConstraints {
			c := &p.Spec.TopologySpreadConstraints[i]
			if c.WhenUnsatisfiable != v1.DoNotSchedule {
				continue
			}
			k := spreadKey{p.Namespace, c.TopologyKey, metav1.FormatLabelSelector(c.LabelSelector), fmt.Sprint(p.Spec.NodeSelector, p.Spec.Affinity != nil && p.Spec.Affinity.NodeAffinity != nil)}
			if _, ok := groups[k]; !ok {
				groups[k] = &spreadGroup{maxSkew: c.MaxSkew, owner: p, c: c}
				order = append(order, k)
			}
		}
	}
	for _, k := range order {
		g := groups[k]
		sel, err := metav1.LabelSelectorAsSelector(g.c.LabelSelector)
		if err != nil {
			continue
		}
		req := nodeaffinity.GetRequiredNodeAffinity(g.owner)
		counts := map[string]int{}
		for i := range nodes {
			n := &nodes[i]
			val, ok := n.Labels[g.c.TopologyKey]
			if !ok {
				continue
			}
			if m, err := req.Match(n); err != nil || !m {
				continue
			}
			if _, seen := counts[val]; !seen {
				counts[val] = 0
			}
		}
		for _, p := range bound {
			if p.Namespace != k.ns || !sel.Matches(labels.Set(p.Labels)) {
				continue
			}
			val, ok := nodeByName[p.Spec.NodeName].Labels[g.c.TopologyKey]
			if !ok {
				continue
			}
			if _, eligible := counts[val]; eligible {
				counts[val]++
			}
		}
		if len(counts) == 0 {
			continue
		}
		lo, hi := math.MaxInt, 0
		for _, c := range counts {
			lo, hi = min(lo, c), max(hi, c)
		}
		skew := hi - lo
		if skew > v.MaxTopologySkew[g.c.TopologyKey] {
			v.MaxTopologySkew[g.c.TopologyKey] = skew
		} else if _, ok := v.MaxTopologySkew[g.c.TopologyKey]; !ok {
			v.MaxTopologySkew[g.c.TopologyKey] = skew
		}
		if skew > int(g.maxSkew) {
			v.TopologySpread++
		}
	}

	v.Total = v.CapacityOvercommit + v.NodeAffinity + v.PodAntiAffinity + v.PodAffinity + v.TopologySpread + v.UnschedulableBound +
		v.VolumeUnbound + v.VolumeNodeAffinity + v.StorageCapacity + v.DeviceDoubleAllocated + v.ClaimUnallocated + v.DeviceNode
	return q
}

func meanCV(xs []float64) (mean, cv float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if mean == 0 {
		return 0, 0
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss/float64(len(xs))) / mean
}

// percentile returns the p-th percentile (0..100, nearest rank) of xs,
// which it sorts.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	rank := int(math.Ceil(p / 100 * float64(len(xs))))
	rank = min(max(rank, 1), len(xs))
	return xs[rank-1]
}
