package gpushare

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/placement/gpu"
)

// reservation is a pod's card choice between Reserve and the moment its
// assignment annotation reaches the cache: the assumed pod in the cache
// is the pre-Reserve copy, without the annotation.
type reservation struct {
	node  string
	cards []int
	at    time.Time
}

// tracker derives every node's card state from the pods the scheduler's
// cache holds on it, so the state is exactly as current as the snapshot
// a cycle reads (no second copy of the cluster to drift). Cards come from
// each pod's assignment annotation, from the reservation of a pod berth
// assumed but has not yet annotated, or, for pods nobody assigned (bound
// by another scheduler), from a first-fit attribution after the others.
// A restarted berth therefore rebuilds the same state from the pods.
type tracker struct {
	res         v1.ResourceName
	modelLabel  string
	memoryLabel string
	// derivedKey keys this tracker's card state on NodeInfos: two
	// profiles' GPUShare instances (different args) read one snapshot.
	derivedKey string

	*reservations
}

// reservations are the cards held between Reserve and the annotation, by
// pod UID. They are shared by every GPUShare instance over one snapshot
// (the profiles of one scheduler), so that a card one profile holds is
// taken for the others too.
type reservations struct {
	mu   sync.Mutex
	resv map[types.UID]reservation
}

// sharedReservations maps a snapshot lister to its reservations.
var sharedReservations sync.Map

// trackerSeq numbers trackers for their derived-state keys.
var trackerSeq atomic.Int64

func newTracker(a *Args, snapshot any) *tracker {
	r := &reservations{resv: map[types.UID]reservation{}}
	if snapshot != nil {
		v, _ := sharedReservations.LoadOrStore(snapshot, r)
		r = v.(*reservations)
	}
	return &tracker{
		res: a.ResourceName, modelLabel: a.ModelLabel, memoryLabel: a.MemoryLabel,
		derivedKey:   Name + "/" + strconv.FormatInt(trackerSeq.Add(1), 10),
		reservations: r,
	}
}

// cardCount is the node's number of cards, from its allocatable.
func (t *tracker) cardCount(ni *framework.NodeInfo) int64 {
	return ni.Allocatable.Get(t.res)
}

// state returns the node's card state; callers must not modify it. It is
// built once per change of the NodeInfo and kept on it
// (NodeInfo.SetDerived), which the engine drops whenever the node's pods
// change, preemption's what-if copies included.
func (t *tracker) state(ni *framework.NodeInfo) *gpu.Node {
	if s, ok := ni.Derived(t.derivedKey).(*gpu.Node); ok {
		return s
	}
	if ni.Node() == nil {
		return &gpu.Node{}
	}
	s := t.build(ni)
	ni.SetDerived(t.derivedKey, s)
	return s
}

// maxCards bounds the cards berth models per node.
const maxCards = 1024

func (t *tracker) build(ni *framework.NodeInfo) *gpu.Node {
	node := ni.Node()
	n := &gpu.Node{
		Name:             node.Name,
		Model:            node.Labels[t.modelLabel],
		CPUCapacityMilli: ni.Allocatable.MilliCPU,
		CPUFreeMilli:     ni.Allocatable.MilliCPU - ni.Requested.MilliCPU,
		MemFreeMiB:       max(ni.Allocatable.Memory-ni.Requested.Memory, 0) >> 20,
	}
	count := min(t.cardCount(ni), maxCards)
	if count <= 0 {
		return n
	}
	mem := parseMemoryMiB(node.Labels[t.memoryLabel])
	n.Cards = make([]gpu.Card, count)
	for i := range n.Cards {
		n.Cards[i] = gpu.Card{Index: i, MemoryMiB: mem}
	}
	// The pods' CPU and memory are already in the free amounts; Allocate
	// must not take them again.
	var unassigned []gpu.Request
	for _, pi := range ni.Pods {
		pod := pi.Pod
		if !mayUseGPU(pod, t.res) {
			continue
		}
		r, err := PodRequest(pod, t.res)
		if err != nil || !r.IsGPU() {
			continue
		}
		r.CPUMilli, r.HostMemMiB = 0, 0
		if cards, ok := t.cardsOf(pod, node.Name); ok && n.Allocate(r, cards) == nil {
			continue
		}
		unassigned = append(unassigned, r)
	}
	for _, r := range unassigned {
		n.AllocateAny(r)
	}
	return n
}

// mayUseGPU is a cheap test that lets most pods skip PodRequest: a pod
// uses cards only through the share annotation or the resource in a
// container's requests or limits.
func mayUseGPU(pod *v1.Pod, res v1.ResourceName) bool {
	if _, ok := pod.Annotations[AnnotationMilli]; ok {
		return true
	}
	has := func(cs []v1.Container) bool {
		for i := range cs {
			if _, ok := cs[i].Resources.Requests[res]; ok {
				return true
			}
			if _, ok := cs[i].Resources.Limits[res]; ok {
				return true
			}
		}
		return false
	}
	return has(pod.Spec.Containers) || has(pod.Spec.InitContainers)
}

// cardsOf returns the cards recorded for a pod on node: its annotation,
// else berth's reservation. A pod whose annotation reached the cache no
// longer needs the reservation.
func (t *tracker) cardsOf(pod *v1.Pod, node string) ([]int, bool) {
	t.mu.Lock()
	r, reserved := t.resv[pod.UID]
	t.mu.Unlock()
	reserved = reserved && r.node == node
	if s, ok := pod.Annotations[AnnotationAssignment]; ok {
		if a, err := ParseAssignment(s); err == nil && a.Node == node {
			// A reservation that differs from the annotation is newer: the
			// annotation is left from an earlier attempt whose bind failed.
			if !reserved || slices.Equal(r.cards, a.Cards) {
				t.unreserve(pod.UID)
				return a.Cards, true
			}
		}
	}
	if reserved {
		return r.cards, true
	}
	return nil, false
}

func (t *tracker) reserve(uid types.UID, node string, cards []int, now time.Time) {
	t.mu.Lock()
	t.resv[uid] = reservation{node: node, cards: cards, at: now}
	t.mu.Unlock()
}

func (t *tracker) unreserve(uid types.UID) {
	t.mu.Lock()
	delete(t.resv, uid)
	t.mu.Unlock()
}

// reservationTTL is how long a reservation may outlive its pod on the
// node before sweep drops it.
const reservationTTL = 5 * time.Minute

// sweep drops reservations older than reservationTTL whose pod is no
// longer on its node in the snapshot (deleted, or bound elsewhere
// without berth hearing of it), so they cannot leak.
func (t *tracker) sweep(lister framework.NodeInfoLister, now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	dropped := 0
	for uid, r := range t.resv {
		if now.Sub(r.at) < reservationTTL {
			continue
		}
		ni, err := lister.Get(r.node)
		if err == nil && hasPod(ni, uid) {
			continue
		}
		delete(t.resv, uid)
		dropped++
	}
	return dropped
}

func hasPod(ni *framework.NodeInfo, uid types.UID) bool {
	for _, pi := range ni.Pods {
		if pi.Pod.UID == uid {
			return true
		}
	}
	return false
}

// parseMemoryMiB reads a card memory label: a plain number is MiB (GPU
// feature discovery's convention), anything else a quantity.
func parseMemoryMiB(s string) int64 {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return max(v, 0)
	}
	if q, err := resource.ParseQuantity(s); err == nil && q.Sign() > 0 {
		return q.Value() >> 20
	}
	return 0
}
