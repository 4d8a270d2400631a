package gpu

import (
	"fmt"
	"sort"
	"strings"
)

// MilliPerCard is one whole card in milli-GPU, the unit of GPU shares.
const MilliPerCard int64 = 1000

// Card is one GPU on a node and what is allocated on it.
type Card struct {
	// Index is the card's device index on the node (0-based), the number
	// a device plugin maps to a device.
	Index int
	// ID is the card's stable identity where the node publishes one (a
	// UUID, a DRA device name); empty otherwise.
	ID string
	// MemoryMiB is the card's memory; 0 means unknown, and then memory
	// requests are not checked against it.
	MemoryMiB int64
	// UsedMilli is the milli-GPU allocated on the card (0..1000).
	UsedMilli int64
	// UsedMemoryMiB is the card memory allocated on it.
	UsedMemoryMiB int64
}

// FreeMilli is the card's unallocated milli-GPU.
func (c Card) FreeMilli() int64 { return MilliPerCard - c.UsedMilli }

// Node is one node's GPU capacity and allocations, with the CPU that FGD
// and the resource-vector policies weigh against it.
type Node struct {
	// Name is the node's name.
	Name string
	// Model is the node's card model ("" when unknown); every card on a
	// node has the same model.
	Model string
	// Cards are the node's GPUs in index order.
	Cards []Card
	// CPUCapacityMilli is the node's allocatable CPU.
	CPUCapacityMilli int64
	// CPUFreeMilli is the allocatable CPU not requested by its pods.
	CPUFreeMilli int64
	// MemFreeMiB is the allocatable host memory not requested by its
	// pods; FGD counts a node's GPUs as stranded for pods whose memory it
	// can no longer hold. Negative means unknown (not considered).
	MemFreeMiB int64
	// Kinds counts the GPU pods on the node by Request.Kind, which the
	// GPUClustering policy groups by.
	Kinds map[string]int
}

// Clone returns a deep copy.
func (n *Node) Clone() *Node {
	out := *n
	out.Cards = append([]Card(nil), n.Cards...)
	if n.Kinds != nil {
		out.Kinds = make(map[string]int, len(n.Kinds))
		for k, v := range n.Kinds {
			out.Kinds[k] = v
		}
	}
	return &out
}

// FreeMilli is the node's unallocated milli-GPU over all cards.
func (n *Node) FreeMilli() int64 {
	var t int64
	for _, c := range n.Cards {
		t += c.FreeMilli()
	}
	return t
}

// FullyFree counts the cards with nothing allocated.
func (n *Node) FullyFree() int {
	k := 0
	for _, c := range n.Cards {
		if c.UsedMilli == 0 && c.UsedMemoryMiB == 0 {
			k++
		}
	}
	return k
}

// Request is what a pod asks of GPUs.
type Request struct {
	// Count is the number of cards (0 for a pod without GPUs).
	Count int
	// MilliPerCard is the share of each card, 1..1000; 1000 is a whole,
	// exclusive card. Shares below 1000 come with Count 1.
	MilliPerCard int64
	// MemoryMiBPerCard is the card memory the pod needs on each card (0:
	// none stated). A whole card takes all its memory regardless.
	MemoryMiBPerCard int64
	// Models are the card models the pod accepts; empty accepts any.
	Models []string
	// CPUMilli is the pod's CPU request, which FGD and the vector
	// policies weigh.
	CPUMilli int64
	// HostMemMiB is the pod's host memory request, which FGD weighs.
	HostMemMiB int64
}

// IsGPU reports whether the request needs any GPU.
func (r Request) IsGPU() bool { return r.Count > 0 && r.MilliPerCard > 0 }

// Shared reports whether the request is a share of one card.
func (r Request) Shared() bool { return r.Count == 1 && r.MilliPerCard < MilliPerCard }

// TotalMilli is the milli-GPU the request takes over all its cards.
func (r Request) TotalMilli() int64 { return int64(r.Count) * r.MilliPerCard }

// Kind names the request's class for GPUClustering: "" without GPUs,
// "share" for a share of a card, "N-gpu" for N whole cards.
func (r Request) Kind() string {
	switch {
	case !r.IsGPU():
		return ""
	case r.Shared():
		return "share"
	default:
		return fmt.Sprintf("%d-gpu", r.Count)
	}
}

// Validate reports a malformed request: a share outside 1..1000, several
// cards with a partial share, negative memory or CPU.
func (r Request) Validate() error {
	switch {
	case r.Count < 0:
		return fmt.Errorf("GPU count %d is negative", r.Count)
	case r.Count == 0:
		return nil
	case r.MilliPerCard <= 0 || r.MilliPerCard > MilliPerCard:
		return fmt.Errorf("GPU share %d milli is outside 1..1000", r.MilliPerCard)
	case r.Count > 1 && r.MilliPerCard < MilliPerCard:
		return fmt.Errorf("a share of %d milli applies to one card, not %d", r.MilliPerCard, r.Count)
	case r.MemoryMiBPerCard < 0:
		return fmt.Errorf("GPU memory %d MiB is negative", r.MemoryMiBPerCard)
	case r.CPUMilli < 0:
		return fmt.Errorf("CPU %d milli is negative", r.CPUMilli)
	case r.HostMemMiB < 0:
		return fmt.Errorf("memory %d MiB is negative", r.HostMemMiB)
	}
	return nil
}

// ModelAllowed reports whether the request accepts the node's model. A
// request with allowed models never fits a node of unknown model.
func (n *Node) ModelAllowed(r Request) bool {
	if len(r.Models) == 0 {
		return true
	}
	if n.Model == "" {
		return false
	}
	for _, m := range r.Models {
		if m == n.Model {
			return true
		}
	}
	return false
}

// CardFits reports whether one card can hold one card's worth of r: the
// share (a whole card must be untouched) and the memory.
func (c Card) CardFits(r Request) bool {
	if r.MilliPerCard >= MilliPerCard {
		if c.UsedMilli != 0 || c.UsedMemoryMiB != 0 {
			return false
		}
		return c.MemoryMiB == 0 || r.MemoryMiBPerCard <= c.MemoryMiB
	}
	if c.FreeMilli() < r.MilliPerCard {
		return false
	}
	return c.MemoryMiB == 0 || r.MemoryMiBPerCard <= c.MemoryMiB-c.UsedMemoryMiB
}

// Fits reports whether the node's cards can hold r (model and cards;
// CPU is the resource filter's business).
func (n *Node) Fits(r Request) bool {
	if !r.IsGPU() {
		return true
	}
	if !n.ModelAllowed(r) {
		return false
	}
	k := 0
	for _, c := range n.Cards {
		if c.CardFits(r) {
			k++
			if k >= r.Count {
				return true
			}
		}
	}
	return false
}

// MisfitKind classifies why a request does not fit a node.
type MisfitKind int

// The kinds of misfit, from the most fundamental.
const (
	// Fits: the request fits (or asks for no GPU).
	Fits MisfitKind = iota
	// NoGPUs: the node has no cards.
	NoGPUs
	// WrongModel: the node's model is not one the request accepts.
	WrongModel
	// TooFewCards: the node has fewer cards than the request.
	TooFewCards
	// MemoryOverAnyCard: the request wants more card memory than any of
	// the node's cards has.
	MemoryOverAnyCard
	// CardsBusy: enough cards exist, but too few have room now.
	CardsBusy
)

// Unresolvable reports whether no eviction can make a request of this
// kind fit.
func (k MisfitKind) Unresolvable() bool { return k != Fits && k != CardsBusy }

// Misfit classifies why r does not fit n.
func (n *Node) Misfit(r Request) MisfitKind {
	switch {
	case !r.IsGPU() || n.Fits(r):
		return Fits
	case len(n.Cards) == 0:
		return NoGPUs
	case !n.ModelAllowed(r):
		return WrongModel
	case r.Count > len(n.Cards):
		return TooFewCards
	}
	if r.MemoryMiBPerCard > 0 {
		biggest := int64(-1)
		for _, c := range n.Cards {
			if c.MemoryMiB > 0 {
				biggest = max(biggest, c.MemoryMiB)
			}
		}
		if biggest >= 0 && biggest < r.MemoryMiBPerCard {
			return MemoryOverAnyCard
		}
	}
	return CardsBusy
}

// Reason says in a few words why a request of kind k does not fit (model
// is the node's, for WrongModel): the same words for every node that
// fails the same way, so that a scheduler's "0/N nodes are available"
// message counts nodes per reason; "" for Fits.
func (k MisfitKind) Reason(r Request, model string) string {
	switch k {
	case NoGPUs:
		return "node has no GPUs"
	case WrongModel:
		if model == "" {
			model = "unknown"
		}
		return fmt.Sprintf("GPU model %s not accepted by the pod", model)
	case TooFewCards:
		return fmt.Sprintf("node has fewer than %d GPUs", r.Count)
	case MemoryOverAnyCard:
		return fmt.Sprintf("pod asks %d MiB of GPU memory, more than any card has", r.MemoryMiBPerCard)
	case CardsBusy:
		switch {
		case r.MilliPerCard >= MilliPerCard:
			return fmt.Sprintf("fewer than %d whole GPUs free", r.Count)
		case r.MemoryMiBPerCard > 0:
			return fmt.Sprintf("no card has %d milli GPU and %d MiB GPU memory free", r.MilliPerCard, r.MemoryMiBPerCard)
		}
		return fmt.Sprintf("no card has %d milli GPU free", r.MilliPerCard)
	}
	return ""
}

// Reason is Misfit(r).Reason for this node.
func (n *Node) Reason(r Request) string { return n.Misfit(r).Reason(r, n.Model) }

// Detail explains why r does not fit the node, card by card, for events
// and explain ("card 3 has 300 milli free, pod asks 500"); "" when it fits.
func (n *Node) Detail(r Request) string {
	if !r.IsGPU() || n.Fits(r) {
		return ""
	}
	if len(n.Cards) == 0 {
		return "node has no GPUs"
	}
	if !n.ModelAllowed(r) {
		m := n.Model
		if m == "" {
			m = "unknown"
		}
		return fmt.Sprintf("GPU model %s is not one of %s", m, strings.Join(r.Models, ", "))
	}
	if r.Count > len(n.Cards) {
		return fmt.Sprintf("node has %d GPUs, pod asks %d", len(n.Cards), r.Count)
	}
	var parts []string
	fitting := 0
	for _, c := range n.Cards {
		if c.CardFits(r) {
			fitting++
			continue
		}
		switch {
		case r.MilliPerCard >= MilliPerCard && c.UsedMilli > 0:
			parts = append(parts, fmt.Sprintf("card %d has %d milli free", c.Index, c.FreeMilli()))
		case c.FreeMilli() < r.MilliPerCard:
			parts = append(parts, fmt.Sprintf("card %d has %d milli free", c.Index, c.FreeMilli()))
		default:
			parts = append(parts, fmt.Sprintf("card %d has %d MiB memory free", c.Index, c.MemoryMiB-c.UsedMemoryMiB))
		}
	}
	const maxParts = 4
	if len(parts) > maxParts {
		parts = append(parts[:maxParts], fmt.Sprintf("%d more", len(parts)-maxParts))
	}
	ask := fmt.Sprintf("%d milli", r.MilliPerCard)
	if r.MilliPerCard >= MilliPerCard {
		ask = "a whole card"
	}
	if r.MemoryMiBPerCard > 0 {
		ask += fmt.Sprintf(" and %d MiB", r.MemoryMiBPerCard)
	}
	if r.Count > 1 {
		return fmt.Sprintf("%d of %d cards fit, pod asks %d × %s (%s)", fitting, len(n.Cards), r.Count, ask, strings.Join(parts, "; "))
	}
	return fmt.Sprintf("%s; pod asks %s", strings.Join(parts, "; "), ask)
}

// Allocate records r on the given cards (and its CPU). It returns an
// error, changing nothing, when a card does not exist or cannot hold its
// part: callers use it to rebuild state from assignments and must hear
// about an oversubscription rather than make one.
func (n *Node) Allocate(r Request, cards []int) error {
	if !r.IsGPU() {
		n.takeHost(r)
		return nil
	}
	if len(cards) != r.Count {
		return fmt.Errorf("assignment names %d cards, request is for %d", len(cards), r.Count)
	}
	pos := make([]int, len(cards))
	for i, idx := range cards {
		p := n.cardPos(idx)
		if p < 0 {
			return fmt.Errorf("node %s has no card %d", n.Name, idx)
		}
		for _, q := range pos[:i] {
			if q == p {
				return fmt.Errorf("card %d named twice", idx)
			}
		}
		if !n.Cards[p].CardFits(r) {
			return fmt.Errorf("card %d on node %s has %d milli free, assignment asks %d", idx, n.Name, n.Cards[p].FreeMilli(), r.MilliPerCard)
		}
		pos[i] = p
	}
	for _, p := range pos {
		n.take(p, r)
	}
	n.takeHost(r)
	if n.Kinds == nil {
		n.Kinds = map[string]int{}
	}
	n.Kinds[r.Kind()]++
	return nil
}

// AllocateAny records r on the cards FirstFit would choose, for pods
// whose cards nobody recorded (bound by another scheduler, or counted by
// a device plugin without per-card state). It returns the cards, or nil
// when r does not fit any more (the node is then left unchanged).
func (n *Node) AllocateAny(r Request) []int {
	cards := FirstFit(n, r)
	if cards == nil {
		return nil
	}
	if err := n.Allocate(r, cards); err != nil {
		return nil
	}
	return cards
}

// takeHost takes the request's CPU and host memory off the node.
func (n *Node) takeHost(r Request) {
	n.CPUFreeMilli -= r.CPUMilli
	if n.MemFreeMiB >= 0 {
		n.MemFreeMiB -= r.HostMemMiB
	}
}

func (n *Node) take(p int, r Request) {
	c := &n.Cards[p]
	if r.MilliPerCard >= MilliPerCard {
		c.UsedMilli = MilliPerCard
		c.UsedMemoryMiB = c.MemoryMiB
		if c.MemoryMiB == 0 {
			c.UsedMemoryMiB = r.MemoryMiBPerCard
		}
		return
	}
	c.UsedMilli += r.MilliPerCard
	c.UsedMemoryMiB += r.MemoryMiBPerCard
}

func (n *Node) cardPos(index int) int {
	if index >= 0 && index < len(n.Cards) && n.Cards[index].Index == index {
		return index
	}
	for i, c := range n.Cards {
		if c.Index == index {
			return i
		}
	}
	return -1
}

// FirstFit chooses cards for r on n without a policy: for a share, the
// fitting card with the least free milli (lowest index on ties); for
// whole cards, the lowest-indexed untouched ones. It returns card
// indexes, or nil when r does not fit.
func FirstFit(n *Node, r Request) []int {
	if !r.IsGPU() {
		return nil
	}
	if !n.ModelAllowed(r) {
		return nil
	}
	if r.Shared() {
		best := -1
		for i, c := range n.Cards {
			if c.CardFits(r) && (best < 0 || c.FreeMilli() < n.Cards[best].FreeMilli()) {
				best = i
			}
		}
		if best < 0 {
			return nil
		}
		return []int{n.Cards[best].Index}
	}
	return wholeCards(n, r)
}

// wholeCards picks the lowest-indexed cards that each fit r.
func wholeCards(n *Node, r Request) []int {
	out := make([]int, 0, r.Count)
	for _, c := range n.Cards {
		if c.CardFits(r) {
			out = append(out, c.Index)
			if len(out) == r.Count {
				return out
			}
		}
	}
	return nil
}

// sharedCandidates lists the positions of the cards a share fits on.
func sharedCandidates(n *Node, r Request) []int {
	var out []int
	for i, c := range n.Cards {
		if c.CardFits(r) {
			out = append(out, i)
		}
	}
	return out
}

// NormalizeModels returns models sorted, deduplicated and without
// blanks, the canonical form Workload keys shapes by.
func NormalizeModels(models []string) []string {
	var out []string
	for _, m := range models {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	k := 0
	for i, m := range out {
		if i == 0 || m != out[k-1] {
			out[k] = m
			k++
		}
	}
	return out[:k]
}
