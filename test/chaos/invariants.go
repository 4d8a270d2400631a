package chaos

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	resourcehelper "k8s.io/component-helpers/resource"

	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
)

// Invariant names a property every scenario must keep; a Violation says
// which one broke.
type Invariant string

// The invariants Check judges.
const (
	// BoundTwice: a pod's node changed from one node to another, or more
	// than one bind of it was accepted (the API refuses to rebind a
	// bound pod, so either means something bypassed that or a scheduler
	// believed a bind it had not made).
	BoundTwice Invariant = "bound-twice"
	// BoundToMissingNode: a pod was bound to a node that the watch never
	// saw, or that had been deleted for longer than Record.NodeGrace.
	BoundToMissingNode Invariant = "bound-to-missing-node"
	// NotBound: a pod the workload expects to be placed was still
	// pending when the recovery timeout ended: a lost pod.
	NotBound Invariant = "not-bound"
	// Overcommitted: the requests of the pods bound to a node exceed its
	// allocatable for some resource.
	Overcommitted Invariant = "overcommitted"
	// AssumedLeft: berth's cache still held assumed pods (the
	// berth_cache_size{type="assumed_pods"} gauge) once every pod was
	// bound and the assumed-pod TTL had passed.
	AssumedLeft Invariant = "assumed-left"
	// PartialGang: a PodGroup has some members bound but fewer than its
	// minimum.
	PartialGang Invariant = "partial-gang"
	// Crashed: a berth process panicked, or exited without the harness
	// killing it.
	Crashed Invariant = "crashed"
	// GPUOversubscribed: a GPU card's shares exceed 1000 milli or its
	// memory, a whole card is shared, or an assignment names a card the
	// node does not have or another node.
	GPUOversubscribed Invariant = "gpu-oversubscribed"
)

// Violation is one broken invariant, about one object.
type Violation struct {
	Invariant Invariant
	// Object is the pod (namespace/name), node, PodGroup or process
	// concerned.
	Object string
	// Detail says what was seen.
	Detail string
}

func (v Violation) String() string { return fmt.Sprintf("%s: %s: %s", v.Invariant, v.Object, v.Detail) }

// Bind is one node a pod was seen bound to, and when the watch saw it.
type Bind struct {
	Node string
	At   time.Time
}

// PodTrace is one pod's life as the watch saw it.
type PodTrace struct {
	// Key is namespace/name.
	Key string
	UID types.UID
	// Binds lists each change of spec.nodeName to a new non-empty value.
	Binds []Bind
	// Deleted is when the watch saw the pod go (zero: it did not).
	Deleted time.Time
	// Group is the namespace/name of the PodGroup the pod belongs to
	// (spec.schedulingGroup), or "".
	Group string
}

// NodeTrace is one node's life as the watch saw it.
type NodeTrace struct {
	// Seen is when the watch first saw the node (its initial list
	// included).
	Seen time.Time
	// Deleted is when the watch saw it go (zero: it did not).
	Deleted time.Time
}

// Group is a gang: the PodGroup's key and minimum, its members being the
// pods whose trace names it (deleted ones included: a member bound to a
// node that was then deleted counts as bound).
type Group struct {
	Key      string
	MinCount int
}

// Record is what one scenario leaves to judge: the watch's history, the
// state read back from the API at the end, the binds schedulers reported
// accepting, and berth's assumed-pod gauges.
type Record struct {
	Pods  map[types.UID]*PodTrace
	Nodes map[string]*NodeTrace
	// Final is every pod of the scenario as read at the end; the ones
	// with ExpectLabel=true must be bound.
	Final []v1.Pod
	// FinalNodes are the nodes that exist at the end.
	FinalNodes []v1.Node
	Groups     []Group
	// Accepted counts the binds reported successful per pod
	// (namespace/name): berth's "Successfully bound" log lines of every
	// process of the scenario and the competing scheduler's binds.
	Accepted map[string]int
	// Assumed is each berth process's assumed-pods gauge at the end
	// (processes that are not running are absent).
	Assumed map[string]float64
	// Crashes lists, per berth process, its panics and unexpected exit.
	Crashes map[string][]string
	// NodeGrace is how long after a node's deletion a bind to it is
	// still a race rather than a violation: berth learns of the deletion
	// through its watch, and the API accepts a bind to any node name.
	NodeGrace time.Duration
}

// ExpectLabel marks the pods that must end bound (value "true"): every
// pod of the workload fits on the nodes that stay schedulable.
const ExpectLabel = "chaos.berth.io/expect-bound"

// Check judges r against every invariant and returns the violations,
// sorted.
func Check(r *Record) []Violation {
	var out []Violation
	out = append(out, checkBinds(r)...)
	out = append(out, checkBound(r)...)
	out = append(out, checkCapacity(r)...)
	out = append(out, checkAssumed(r)...)
	out = append(out, checkGangs(r)...)
	out = append(out, checkGPUs(r)...)
	for proc, cs := range r.Crashes {
		for _, c := range cs {
			out = append(out, Violation{Crashed, proc, c})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Invariant != out[j].Invariant {
			return out[i].Invariant < out[j].Invariant
		}
		return out[i].Object < out[j].Object
	})
	return out
}

func checkBinds(r *Record) []Violation {
	var out []Violation
	for _, p := range r.Pods {
		if len(p.Binds) > 1 {
			out = append(out, Violation{BoundTwice, p.Key, fmt.Sprintf("node changed %s", bindsString(p.Binds))})
		}
		for _, b := range p.Binds {
			n, ok := r.Nodes[b.Node]
			switch {
			case !ok:
				out = append(out, Violation{BoundToMissingNode, p.Key, fmt.Sprintf("bound to %s, which never existed", b.Node)})
			case !n.Deleted.IsZero() && b.At.Sub(n.Deleted) > r.NodeGrace:
				out = append(out, Violation{BoundToMissingNode, p.Key, fmt.Sprintf("bound to %s %v after the node was deleted", b.Node, b.At.Sub(n.Deleted).Round(time.Millisecond))})
			}
		}
	}
	for key, n := range r.Accepted {
		if n > 1 {
			out = append(out, Violation{BoundTwice, key, fmt.Sprintf("%d binds reported accepted", n)})
		}
	}
	return out
}

func bindsString(bs []Bind) string {
	s := ""
	for i, b := range bs {
		if i > 0 {
			s += " → "
		}
		s += b.Node
	}
	return s
}

func checkBound(r *Record) []Violation {
	var out []Violation
	for _, p := range r.Final {
		if p.Labels[ExpectLabel] == "true" && p.Spec.NodeName == "" && p.DeletionTimestamp == nil {
			out = append(out, Violation{NotBound, p.Namespace + "/" + p.Name, "still pending at the end of the recovery timeout"})
		}
	}
	return out
}

// terminal pods hold no resources.
func terminal(p *v1.Pod) bool {
	return p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed
}

func checkCapacity(r *Record) []Violation {
	used := map[string]v1.ResourceList{}
	count := map[string]int64{}
	for i := range r.Final {
		p := &r.Final[i]
		if p.Spec.NodeName == "" || terminal(p) {
			continue
		}
		req := resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{})
		u := used[p.Spec.NodeName]
		if u == nil {
			u = v1.ResourceList{}
			used[p.Spec.NodeName] = u
		}
		for name, q := range req {
			sum := u[name]
			sum.Add(q)
			u[name] = sum
		}
		count[p.Spec.NodeName]++
	}
	var out []Violation
	for _, n := range r.FinalNodes {
		u := used[n.Name]
		for name, alloc := range n.Status.Allocatable {
			if name == v1.ResourcePods {
				if count[n.Name] > alloc.Value() {
					out = append(out, Violation{Overcommitted, n.Name, fmt.Sprintf("%d pods, allocatable %s", count[n.Name], alloc.String())})
				}
				continue
			}
			if q, ok := u[name]; ok && q.Cmp(alloc) > 0 {
				out = append(out, Violation{Overcommitted, n.Name, fmt.Sprintf("%s requested %s, allocatable %s", name, q.String(), alloc.String())})
			}
		}
		for name, q := range u {
			if _, ok := n.Status.Allocatable[name]; !ok && !q.IsZero() {
				out = append(out, Violation{Overcommitted, n.Name, fmt.Sprintf("%s requested %s, the node has none", name, q.String())})
			}
		}
	}
	return out
}

func checkAssumed(r *Record) []Violation {
	var out []Violation
	for proc, n := range r.Assumed {
		if n > 0 {
			out = append(out, Violation{AssumedLeft, proc, fmt.Sprintf("%v assumed pods in the cache after the TTL", n)})
		}
	}
	return out
}

func checkGangs(r *Record) []Violation {
	bound, members := map[string]int{}, map[string]int{}
	for _, t := range r.Pods {
		if t.Group == "" {
			continue
		}
		members[t.Group]++
		if len(t.Binds) > 0 {
			bound[t.Group]++
		}
	}
	var out []Violation
	for _, g := range r.Groups {
		if b := bound[g.Key]; b > 0 && b < g.MinCount {
			out = append(out, Violation{PartialGang, g.Key, fmt.Sprintf("%d of %d members bound, minCount %d", b, members[g.Key], g.MinCount)})
		}
	}
	return out
}

// gpuMemoryLabel is where nodegen's gpu profile puts each card's memory
// in MiB (as NVIDIA's GPU feature discovery does).
const gpuMemoryLabel = "nvidia.com/gpu.memory"

type cardKey struct {
	node string
	card int
}

type cardUse struct {
	milli, memMiB int64
	pods          []string
	whole         bool
}

func checkGPUs(r *Record) []Violation {
	nodes := map[string]*v1.Node{}
	for i := range r.FinalNodes {
		nodes[r.FinalNodes[i].Name] = &r.FinalNodes[i]
	}
	var out []Violation
	use := map[cardKey]*cardUse{}
	for _, p := range r.Final {
		raw, ok := p.Annotations[gpushare.AnnotationAssignment]
		if !ok || p.Spec.NodeName == "" {
			continue
		}
		key := p.Namespace + "/" + p.Name
		a, err := gpushare.ParseAssignment(raw)
		if err != nil {
			out = append(out, Violation{GPUOversubscribed, key, err.Error()})
			continue
		}
		if a.Node != p.Spec.NodeName {
			// berth writes the assignment in PreBind; one for another
			// node is stale and ignored by the device plugin.
			continue
		}
		n := nodes[a.Node]
		if n == nil {
			continue
		}
		cards := n.Status.Allocatable[nodegen.ResourceGPU]
		for _, c := range a.Cards {
			if c < 0 || int64(c) >= cards.Value() {
				out = append(out, Violation{GPUOversubscribed, key, fmt.Sprintf("assignment names card %d; %s has %d", c, a.Node, cards.Value())})
				continue
			}
			k := cardKey{a.Node, c}
			u := use[k]
			if u == nil {
				u = &cardUse{}
				use[k] = u
			}
			u.milli += a.Milli
			u.memMiB += a.MemoryMiB
			u.pods = append(u.pods, key)
			u.whole = u.whole || a.Milli >= 1000
		}
	}
	for k, u := range use {
		sort.Strings(u.pods)
		obj := fmt.Sprintf("%s/card %d", k.node, k.card)
		mem, _ := strconv.ParseInt(nodes[k.node].Labels[gpuMemoryLabel], 10, 64)
		switch {
		case u.whole && len(u.pods) > 1:
			out = append(out, Violation{GPUOversubscribed, obj, fmt.Sprintf("a whole card shared by %v", u.pods)})
		case u.milli > 1000:
			out = append(out, Violation{GPUOversubscribed, obj, fmt.Sprintf("%d milli assigned to %v", u.milli, u.pods)})
		case mem > 0 && u.memMiB > mem:
			out = append(out, Violation{GPUOversubscribed, obj, fmt.Sprintf("%d MiB of %d assigned to %v", u.memMiB, mem, u.pods)})
		}
	}
	return out
}
