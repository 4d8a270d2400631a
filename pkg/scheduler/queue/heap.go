package queue

import (
	"container/heap"

	"k8s.io/apimachinery/pkg/types"

	"github.com/berthsched/berth/pkg/framework"
)

// podHeap is a binary heap of pods that also finds a pod by UID, so that
// update and delete are O(log n) instead of a scan.
type podHeap struct {
	items []*framework.QueuedPodInfo
	pos   map[types.UID]int
	less  func(a, b *framework.QueuedPodInfo) bool
}

func newPodHeap(less func(a, b *framework.QueuedPodInfo) bool) *podHeap {
	return &podHeap{pos: map[types.UID]int{}, less: less}
}

// heapImpl adapts podHeap to container/heap without exporting Push/Pop
// methods that would bypass the index.
type heapImpl podHeap

func (h *heapImpl) Len() int           { return len(h.items) }
func (h *heapImpl) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *heapImpl) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.pos[h.items[i].Pod.UID] = i
	h.pos[h.items[j].Pod.UID] = j
}
func (h *heapImpl) Push(x any) {
	p := x.(*framework.QueuedPodInfo)
	h.pos[p.Pod.UID] = len(h.items)
	h.items = append(h.items, p)
}
func (h *heapImpl) Pop() any {
	n := len(h.items) - 1
	p := h.items[n]
	h.items[n] = nil
	h.items = h.items[:n]
	delete(h.pos, p.Pod.UID)
	return p
}

func (h *podHeap) len() int { return len(h.items) }

func (h *podHeap) get(uid types.UID) *framework.QueuedPodInfo {
	if i, ok := h.pos[uid]; ok {
		return h.items[i]
	}
	return nil
}

// addOrUpdate inserts p, or replaces the entry with the same UID and restores
// the heap order (its key may have changed).
func (h *podHeap) addOrUpdate(p *framework.QueuedPodInfo) {
	if i, ok := h.pos[p.Pod.UID]; ok {
		h.items[i] = p
		heap.Fix((*heapImpl)(h), i)
		return
	}
	heap.Push((*heapImpl)(h), p)
}

// fix restores the order after the entry of uid changed in place.
func (h *podHeap) fix(uid types.UID) {
	if i, ok := h.pos[uid]; ok {
		heap.Fix((*heapImpl)(h), i)
	}
}

func (h *podHeap) delete(uid types.UID) *framework.QueuedPodInfo {
	i, ok := h.pos[uid]
	if !ok {
		return nil
	}
	return heap.Remove((*heapImpl)(h), i).(*framework.QueuedPodInfo)
}

func (h *podHeap) peek() *framework.QueuedPodInfo {
	if len(h.items) == 0 {
		return nil
	}
	return h.items[0]
}

func (h *podHeap) pop() *framework.QueuedPodInfo {
	if len(h.items) == 0 {
		return nil
	}
	return heap.Pop((*heapImpl)(h)).(*framework.QueuedPodInfo)
}
