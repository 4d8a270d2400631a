package gpu

import (
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
)

// MaxScore is the top of the score range every policy returns, the same
// range as a scheduler Score plugin.
const MaxScore int64 = 100

// Env is what policies read besides the node and the request.
type Env struct {
	// Dist is the typical workload (FGD); nil scores every node alike.
	Dist *Distribution
	// Cache memoizes fragmentation (FGD); nil computes every time.
	Cache *FragCache
	// MaxCPUMilli and MaxGPUMilli normalize resource vectors (BestFit,
	// DotProduct, GPUClustering): the largest node's CPU and GPU capacity.
	// Zero means 128 cores and 8 cards.
	MaxCPUMilli, MaxGPUMilli int64
	// Seed makes Random's choices reproducible.
	Seed uint64
	// Key identifies the pod being placed (Random draws per pod and node).
	Key string
	// ScoreOnly says the caller needs Rating.Score only, not the cards
	// (a Score call, not Reserve): FGD may answer from its memo of scores
	// per node state and request shape.
	ScoreOnly bool
	// Chosen, when set, is the node Random drew for this pod among the
	// feasible ones (RandomPick): it scores MaxScore, every other node 0,
	// so the pick is uniform whatever the scheduler's tie-break.
	Chosen string
}

// RandomPick draws one of names for the pod env.Key, reproducibly.
func RandomPick(env *Env, names []string) string {
	if len(names) == 0 {
		return ""
	}
	return names[draw(env.Seed, env.Key, "", len(names))%uint64(len(names))]
}

func (e *Env) maxCPU() float64 {
	if e == nil || e.MaxCPUMilli <= 0 {
		return 128000
	}
	return float64(e.MaxCPUMilli)
}

func (e *Env) maxGPU() int64 {
	if e == nil || e.MaxGPUMilli <= 0 {
		return 8 * MilliPerCard
	}
	return e.MaxGPUMilli
}

// Rating is a policy's verdict on placing a request on a node.
type Rating struct {
	// Score is in [0, MaxScore], higher is better.
	Score int64
	// Fine is the policy's unrounded preference, higher is better, for
	// breaking ties between nodes of equal Score.
	Fine float64
	// Cards are the card indexes the policy would use (nil for a request
	// without GPUs).
	Cards []int
}

// Policy ranks a node for a request that fits it and chooses its cards.
// Implementations are stateless and safe for concurrent use.
type Policy interface {
	// Name is the policy's configuration name.
	Name() string
	// Rate rates placing r on n; n must fit r (Node.Fits).
	Rate(n *Node, r Request, env *Env) Rating
}

// Policy names, as configured.
const (
	FGD           = "FGD"
	BestFit       = "BestFit"
	GPUPacking    = "GPUPacking"
	GPUClustering = "GPUClustering"
	DotProduct    = "DotProduct"
	Random        = "Random"
)

// PolicyNames lists every policy, the default first.
var PolicyNames = []string{FGD, BestFit, GPUPacking, GPUClustering, DotProduct, Random}

// PolicyByName returns the named policy (case-insensitive).
func PolicyByName(name string) (Policy, error) {
	for _, p := range []Policy{fgd{}, bestFit{}, gpuPacking{}, gpuClustering{}, dotProduct{}, random{}} {
		if strings.EqualFold(p.Name(), name) {
			return p, nil
		}
	}
	return nil, fmt.Errorf("unknown GPU policy %q; valid policies are %s", name, strings.Join(PolicyNames, ", "))
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// fgd places where fragmentation grows least (see Frag).
type fgd struct{}

func (fgd) Name() string { return FGD }

func (fgd) Rate(n *Node, r Request, env *Env) Rating {
	if len(n.Cards) == 0 {
		if !r.IsGPU() {
			// A node without GPUs is where a pod without GPUs strands
			// nothing; in a cluster without GPUs every node scores alike.
			return Rating{Score: MaxScore, Fine: 1}
		}
		return fgdRating(0, nil)
	}
	v, ok := viewOf(n)
	if !ok {
		return fgdRateSlow(n, r, env)
	}
	d := env.Dist
	after := v
	after.cpu -= r.CPUMilli
	if after.mem >= 0 {
		after.mem -= r.HostMemMiB
	}
	if !r.IsGPU() {
		// Usually the pod's CPU and memory cross no typical request, and
		// the fragmentation cannot change.
		delta := 0.0
		if d != nil && (rank(d.cpuCuts, after.cpu) != rank(d.cpuCuts, v.cpu) || (v.mem >= 0 && rank(d.memCuts, after.mem) != rank(d.memCuts, v.mem))) {
			delta = env.Cache.fragView(&v, d) - env.Cache.fragView(&after, d)
		}
		if delta > -0.5 {
			return cpuHeadroomRating(n, r, d)
		}
		return fgdRating(delta, nil)
	}
	var memo *scoreKey
	if env.ScoreOnly && env.Cache != nil && d != nil && r.MemoryMiBPerCard == 0 {
		memo = &scoreKey{node: v.key(d), cpuAfter: int32(rank(d.cpuCuts, after.cpu)), memAft: -1,
			milli: r.MilliPerCard, count: r.Count, models: strings.Join(r.Models, "|")}
		if after.mem >= 0 {
			memo.memAft = int32(rank(d.memCuts, after.mem))
		}
		if s, ok := env.Cache.score(memo, d); ok {
			return Rating{Score: s}
		}
	}
	rt := fgdRateView(n, r, env, &v, &after)
	if memo != nil {
		env.Cache.storeScore(memo, d, rt.Score)
	}
	return rt
}

// fgdRateView rates r on n from n's view v and v with r's CPU and memory
// taken (after).
func fgdRateView(n *Node, r Request, env *Env, v, after *view) Rating {
	d := env.Dist
	before := env.Cache.fragView(v, d)
	if r.Shared() {
		bestDelta := math.Inf(-1)
		var cards []int
		for p, c := range n.Cards {
			if !c.CardFits(r) {
				continue
			}
			after.free[p] -= r.MilliPerCard
			d := before - env.Cache.fragView(after, d)
			after.free[p] += r.MilliPerCard
			if d > bestDelta {
				bestDelta, cards = d, []int{c.Index}
			}
		}
		return fgdRating(bestDelta, cards)
	}
	cards := wholeCards(n, r)
	for _, idx := range cards {
		after.free[n.cardPos(idx)] = 0
	}
	return fgdRating(before-env.Cache.fragView(after, d), cards)
}

// fgdRateSlow is Rate for nodes with more cards than a view holds.
func fgdRateSlow(n *Node, r Request, env *Env) Rating {
	before := Frag(n, env.Dist)
	after := n.Clone()
	if r.Shared() {
		bestDelta := math.Inf(-1)
		var cards []int
		for _, p := range sharedCandidates(n, r) {
			after.Cards[p] = n.Cards[p]
			after.Cards[p].UsedMilli += r.MilliPerCard
			after.CPUFreeMilli, after.MemFreeMiB = n.CPUFreeMilli, n.MemFreeMiB
			after.takeHost(r)
			d := before - Frag(after, env.Dist)
			after.Cards[p] = n.Cards[p]
			if d > bestDelta {
				bestDelta, cards = d, []int{n.Cards[p].Index}
			}
		}
		return fgdRating(bestDelta, cards)
	}
	var cards []int
	if r.IsGPU() {
		cards = wholeCards(n, r)
		for _, idx := range cards {
			after.take(after.cardPos(idx), r)
		}
	}
	after.takeHost(r)
	delta := before - Frag(after, env.Dist)
	if !r.IsGPU() && delta > -0.5 {
		return cpuHeadroomRating(n, r, env.Dist)
	}
	return fgdRating(delta, cards)
}

func fgdRating(delta float64, cards []int) Rating {
	return Rating{Score: int64(sigmoid(delta/1000) * float64(MaxScore)), Fine: delta, Cards: cards}
}

// cpuHeadroomRating ranks the nodes where a pod without GPUs leaves the
// fragmentation unchanged, which is most of them: FGD alone would leave
// the choice to the tie-break. berth sends such pods where CPU is most
// plentiful for the GPUs left, that is nodes without free GPUs first,
// then nodes whose free CPU per free card is highest relative to what
// the typical GPU pod needs, so that CPU pods do not use up the CPU that
// GPU pods will need next to the free cards. On the openb trace this
// leaves 0.3–0.5 points more of the GPUs allocated at 100% arrived demand
// (docs/gpu.md). Scores stay in (50, 100), above every node where the
// pod would fragment GPUs, and below nodes without GPUs.
func cpuHeadroomRating(n *Node, r Request, d *Distribution) Rating {
	perCard := 8000.0
	if d != nil && d.cpuPerCard > 0 {
		perCard = d.cpuPerCard
	}
	x := float64(max(n.CPUFreeMilli-r.CPUMilli, 0)) / ((float64(n.FreeMilli())/float64(MilliPerCard) + 0.1) * perCard)
	h := x / (x + 1)
	s := float64(MaxScore)/2 + 1 + h*float64(MaxScore/2-2)
	return Rating{Score: int64(s), Fine: h}
}

// bestFit prefers the node with the least CPU and GPU left after the pod,
// normalized by the largest node.
type bestFit struct{}

func (bestFit) Name() string { return BestFit }

func (bestFit) Rate(n *Node, r Request, env *Env) Rating {
	left := 0.5*float64(n.CPUFreeMilli-r.CPUMilli)/env.maxCPU() +
		0.5*float64(n.FreeMilli()-r.TotalMilli())/float64(env.maxGPU())
	s := (1 - left) * float64(MaxScore)
	return Rating{Score: clampScore(int64(s)), Fine: s, Cards: FirstFit(n, r)}
}

// gpuPacking fills partly used cards first, then partly used nodes, and
// opens idle nodes last.
type gpuPacking struct{}

func (gpuPacking) Name() string { return GPUPacking }

func (gpuPacking) Rate(n *Node, r Request, _ *Env) Rating {
	if !r.IsGPU() {
		return Rating{}
	}
	cards := FirstFit(n, r)
	free := n.FullyFree()
	if free == len(n.Cards) {
		s := max(MaxScore/3-int64(free), int64(free))
		return Rating{Score: s, Fine: float64(s), Cards: cards}
	}
	// Cards in ascending free order, as a packer would take them.
	order := make([]int, 0, len(n.Cards))
	for i := range n.Cards {
		order = append(order, i)
	}
	for i := 1; i < len(order); i++ {
		for j := i; j > 0 && n.Cards[order[j]].FreeMilli() < n.Cards[order[j-1]].FreeMilli(); j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	need, idle := r.Count, 0
	var freeOnUsed int64
	for _, p := range order {
		if need == 0 {
			break
		}
		if c := n.Cards[p]; c.FreeMilli() >= r.MilliPerCard {
			need--
			if c.FreeMilli() == MilliPerCard {
				idle++
			}
			freeOnUsed += c.FreeMilli() * 100 / MilliPerCard
		}
	}
	if idle > 0 {
		s := max(MaxScore/2-int64(idle), MaxScore/3)
		return Rating{Score: s, Fine: float64(s), Cards: cards}
	}
	s := max(MaxScore-freeOnUsed/10, MaxScore/2)
	return Rating{Score: s, Fine: float64(s), Cards: cards}
}

// gpuClustering keeps pods of one kind (shares, 1 card, 2 cards …)
// together, preferring fuller nodes within a class.
type gpuClustering struct{}

func (gpuClustering) Name() string { return GPUClustering }

func (gpuClustering) Rate(n *Node, r Request, env *Env) Rating {
	if !r.IsGPU() {
		return Rating{}
	}
	maxG := env.maxGPU()
	fill := MaxScore / 4 * (maxG - n.FreeMilli()) / maxG
	var band int64
	kind := r.Kind()
	switch {
	case n.Kinds[kind] > 0 && len(n.Kinds) == 1:
		band = 3
	case n.Kinds[kind] > 0:
		band = 2
	case len(n.Kinds) == 0:
		band = 1
	}
	s := fill + MaxScore*band/4
	return Rating{Score: s, Fine: float64(s), Cards: FirstFit(n, r)}
}

// dotProduct prefers the node whose free CPU and GPU vector is least
// aligned with the request's (both normalized by the largest node).
type dotProduct struct{}

func (dotProduct) Name() string { return DotProduct }

func (dotProduct) Rate(n *Node, r Request, env *Env) Rating {
	if n.CPUFreeMilli < r.CPUMilli {
		return Rating{Cards: FirstFit(n, r)}
	}
	mc, mg := env.maxCPU(), float64(env.maxGPU())
	dot := float64(n.CPUFreeMilli)/mc*float64(r.CPUMilli)/mc + float64(n.FreeMilli())/mg*float64(r.TotalMilli())/mg
	s := (1 - dot/2) * float64(MaxScore)
	return Rating{Score: clampScore(int64(s)), Fine: s, Cards: FirstFit(n, r)}
}

// random gives the node drawn for the pod (Env.Chosen) the top score and
// the others none, or without a draw scores every node by a draw from
// (seed, pod, node); a share goes to a random card.
type random struct{}

func (random) Name() string { return Random }

func (random) Rate(n *Node, r Request, env *Env) Rating {
	var seed uint64
	var key string
	if env != nil {
		seed, key = env.Seed, env.Key
	}
	h := draw(seed, key, n.Name, -1)
	s := int64(h % uint64(MaxScore+1))
	if env != nil && env.Chosen != "" {
		s = 0
		if n.Name == env.Chosen {
			s = MaxScore
		}
	}
	if !r.Shared() {
		return Rating{Score: s, Fine: float64(h), Cards: FirstFit(n, r)}
	}
	cands := sharedCandidates(n, r)
	if len(cands) == 0 {
		return Rating{Score: s, Fine: float64(h)}
	}
	p := cands[draw(seed, key, n.Name, len(cands))%uint64(len(cands))]
	return Rating{Score: s, Fine: float64(h), Cards: []int{n.Cards[p].Index}}
}

func draw(seed uint64, key, node string, salt int) uint64 {
	h := fnv.New64a()
	var b [8]byte
	for i := range b {
		b[i] = byte(seed >> (8 * i))
	}
	h.Write(b[:])
	h.Write([]byte(key))
	h.Write([]byte{0})
	h.Write([]byte(node))
	h.Write([]byte(strconv.Itoa(salt)))
	return h.Sum64()
}

func clampScore(s int64) int64 { return min(max(s, 0), MaxScore) }
