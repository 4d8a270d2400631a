package gpu

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func node(name string, cards int, used ...int64) *Node {
	n := &Node{Name: name, CPUCapacityMilli: 64000, CPUFreeMilli: 64000, MemFreeMiB: 256 << 10}
	for i := 0; i < cards; i++ {
		c := Card{Index: i}
		if i < len(used) {
			c.UsedMilli = used[i]
		}
		n.Cards = append(n.Cards, c)
	}
	return n
}

func share(m int64) Request { return Request{Count: 1, MilliPerCard: m, CPUMilli: 1000} }
func whole(k int) Request   { return Request{Count: k, MilliPerCard: MilliPerCard, CPUMilli: 1000} }

func TestRequestValidate(t *testing.T) {
	for _, tc := range []struct {
		r    Request
		want string
	}{
		{share(500), ""},
		{whole(8), ""},
		{Request{}, ""},
		{Request{Count: 1, MilliPerCard: 0}, "outside 1..1000"},
		{Request{Count: 1, MilliPerCard: 1500}, "outside 1..1000"},
		{Request{Count: 2, MilliPerCard: 500}, "applies to one card"},
		{Request{Count: -1}, "negative"},
		{Request{Count: 1, MilliPerCard: 10, MemoryMiBPerCard: -1}, "negative"},
	} {
		err := tc.r.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: got %v, want %q", tc.r, err, tc.want)
		}
	}
}

func TestFitsAndMisfit(t *testing.T) {
	n := node("n", 4, 1000, 700, 200, 0)
	if !n.Fits(share(300)) || !n.Fits(whole(1)) || n.Fits(whole(2)) {
		t.Fatalf("fits wrong on %+v", n.Cards)
	}
	if got := node("n2", 3, 1000, 700, 200).Detail(share(900)); !strings.Contains(got, "card 1 has 300 milli free") || !strings.Contains(got, "pod asks 900 milli") {
		t.Errorf("misfit: %q", got)
	}
	if got := n.Detail(whole(2)); !strings.Contains(got, "1 of 4 cards fit") {
		t.Errorf("misfit for whole cards: %q", got)
	}
	n.Model = "T4"
	r := share(100)
	r.Models = []string{"V100M16", "V100M32"}
	if n.Fits(r) || !strings.Contains(n.Detail(r), "GPU model T4 is not one of V100M16, V100M32") {
		t.Errorf("model: fits=%v misfit=%q", n.Fits(r), n.Detail(r))
	}
	if got := node("cpu", 0).Detail(share(10)); got != "node has no GPUs" {
		t.Errorf("no GPUs: %q", got)
	}
	mem := node("m", 2)
	mem.Cards[0].MemoryMiB, mem.Cards[1].MemoryMiB = 16384, 16384
	mem.Cards[0].UsedMilli, mem.Cards[0].UsedMemoryMiB = 300, 12000
	big := share(200)
	big.MemoryMiBPerCard = 8000
	if got := FirstFit(mem, big); len(got) != 1 || got[0] != 1 {
		t.Errorf("memory: card 0 has 4384 MiB free, want card 1, got %v", got)
	}
	big.MemoryMiBPerCard = 20000
	if mem.Fits(big) || !strings.Contains(mem.Detail(big), "MiB memory free") {
		t.Errorf("memory over any card: %q", mem.Detail(big))
	}
	if got := mem.Reason(big); got != "pod asks 20000 MiB of GPU memory, more than any card has" || !mem.Misfit(big).Unresolvable() {
		t.Errorf("memory over any card: reason %q, unresolvable %v", got, mem.Misfit(big).Unresolvable())
	}
	if got := node("n3", 2, 900, 900).Reason(share(500)); got != "no card has 500 milli GPU free" || node("n3", 2, 900, 900).Misfit(share(500)).Unresolvable() {
		t.Errorf("share reason: %q", got)
	}
}

func TestAllocateRefusesOversubscription(t *testing.T) {
	n := node("n", 2, 600)
	before := n.Clone()
	if err := n.Allocate(share(500), []int{0}); err == nil {
		t.Fatal("500 milli on a card with 400 free was accepted")
	}
	if err := n.Allocate(whole(2), []int{1, 1}); err == nil {
		t.Fatal("one card named twice was accepted")
	}
	if err := n.Allocate(whole(1), []int{7}); err == nil {
		t.Fatal("a card that does not exist was accepted")
	}
	if n.Cards[0] != before.Cards[0] || n.Cards[1] != before.Cards[1] || n.CPUFreeMilli != before.CPUFreeMilli {
		t.Fatalf("a refused allocation changed the node: %+v", n)
	}
	if err := n.Allocate(share(400), []int{0}); err != nil || n.Cards[0].UsedMilli != 1000 || n.Kinds["share"] != 1 {
		t.Fatalf("exact fit: err=%v cards=%+v", err, n.Cards)
	}
	if got := n.AllocateAny(whole(1)); len(got) != 1 || got[0] != 1 {
		t.Fatalf("AllocateAny: %v", got)
	}
	if got := n.AllocateAny(share(1)); got != nil {
		t.Fatalf("AllocateAny on a full node: %v", got)
	}
}

func TestFirstFit(t *testing.T) {
	n := node("n", 4, 0, 500, 800, 0)
	if got := FirstFit(n, share(200)); got[0] != 2 {
		t.Errorf("share goes to the tightest card (2), got %v", got)
	}
	if got := FirstFit(n, whole(2)); len(got) != 2 || got[0] != 0 || got[1] != 3 {
		t.Errorf("whole cards: lowest untouched, got %v", got)
	}
	if got := FirstFit(n, whole(3)); got != nil {
		t.Errorf("3 whole cards do not fit, got %v", got)
	}
}

func TestWorkloadWindowAndCoverage(t *testing.T) {
	w := NewWorkload(WorkloadConfig{Window: 10, Coverage: 0.8})
	for i := 0; i < 6; i++ {
		w.Observe(share(500))
	}
	for i := 0; i < 3; i++ {
		w.Observe(whole(1))
	}
	w.Observe(share(100))
	d := w.Refresh()
	if len(d.Shapes) != 2 || d.Shapes[0].Shape.MilliPerCard != 500 || math.Abs(d.Shapes[0].P-6.0/9) > 1e-9 {
		t.Fatalf("80%% coverage keeps the two frequent shapes renormalized, got %+v", d.Shapes)
	}
	// The window slides: ten new whole-card requests push everything out.
	for i := 0; i < 10; i++ {
		w.Observe(whole(2))
	}
	d2 := w.Distribution()
	if d2.Version <= d.Version || len(d2.Shapes) != 1 || d2.Shapes[0].Shape.Count != 2 || d2.Observed != 10 {
		t.Fatalf("after sliding: %+v", d2)
	}
	if w.Distribution() != d2 {
		t.Fatal("an unchanged window must not republish")
	}
}

func typical(shapes ...Typical) *Distribution {
	w := NewWorkload(WorkloadConfig{Window: 1000, Coverage: 1})
	for _, s := range shapes {
		for i := 0; i < int(s.P); i++ {
			w.Observe(s.Request)
		}
	}
	return w.Refresh()
}

func TestFrag(t *testing.T) {
	d := typical(Typical{Request: share(500), P: 1}, Typical{Request: whole(1), P: 1})
	// Cards free: 1000, 300, 600. For the 500 share the 300 card is a
	// fragment; for a whole card the 300 and 600 cards are.
	n := node("n", 3, 0, 700, 400)
	want := 0.5*300 + 0.5*900
	if got := Frag(n, d); math.Abs(got-want) > 1e-9 {
		t.Fatalf("Frag = %v, want %v", got, want)
	}
	// Without CPU for either shape every free milli is a fragment.
	n.CPUFreeMilli = 500
	if got := Frag(n, d); math.Abs(got-1900) > 1e-9 {
		t.Fatalf("Frag without CPU = %v, want 1900", got)
	}
	n.CPUFreeMilli = 64000
	n.MemFreeMiB = 0
	r := share(500)
	r.HostMemMiB = 1024
	if got := Frag(n, typical(Typical{Request: r, P: 1})); got != 1900 {
		t.Fatalf("Frag without memory = %v, want 1900", got)
	}
}

func randomNode(rng *rand.Rand, name string) *Node {
	cards := []int{0, 1, 2, 4, 8}[rng.IntN(5)]
	n := node(name, cards)
	n.Model = []string{"T4", "V100", ""}[rng.IntN(3)]
	for i := range n.Cards {
		n.Cards[i].UsedMilli = []int64{0, 0, 1000, 810, 470, 250, 940}[rng.IntN(7)]
	}
	n.CPUFreeMilli = rng.Int64N(64000)
	n.MemFreeMiB = rng.Int64N(256 << 10)
	return n
}

func TestFragCacheAgreesWithFrag(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	d := typical(Typical{Request: share(470), P: 5}, Typical{Request: Request{Count: 1, MilliPerCard: 1000, CPUMilli: 12000, Models: []string{"T4"}}, P: 3},
		Typical{Request: Request{CPUMilli: 4000, HostMemMiB: 8192}, P: 2}, Typical{Request: whole(4), P: 1})
	c := NewFragCache()
	for i := 0; i < 2000; i++ {
		n := randomNode(rng, "n")
		if got, want := c.Frag(n, d), Frag(n, d); got != want {
			t.Fatalf("cache %v != %v for %+v", got, want, n)
		}
	}
}

func TestFGDSendsAShareWhereItFragmentsLeast(t *testing.T) {
	d := typical(Typical{Request: share(500), P: 3}, Typical{Request: whole(1), P: 1})
	env := &Env{Dist: d, Cache: NewFragCache()}
	p, _ := PolicyByName("fgd")
	// On a node with a half-used card the share completes that card; an
	// empty node would lose a whole card.
	half := node("half", 2, 500)
	empty := node("empty", 2)
	rh, re := p.Rate(half, share(500), env), p.Rate(empty, share(500), env)
	if rh.Score <= re.Score || rh.Cards[0] != 0 {
		t.Fatalf("half: %+v, empty: %+v", rh, re)
	}
	// A pod without GPUs prefers a node without free GPUs to one whose
	// CPU the GPU pods need.
	cpu := Request{CPUMilli: 60000}
	gpuNode := node("gpu", 2)
	full := node("full", 2, 1000, 1000)
	if a, b := p.Rate(full, cpu, env), p.Rate(gpuNode, cpu, env); a.Score <= b.Score {
		t.Fatalf("CPU pod: full GPU node %d, free GPU node %d", a.Score, b.Score)
	}
}

func TestPoliciesRateInRangeWithFittingCards(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	d := typical(Typical{Request: share(300), P: 2}, Typical{Request: whole(1), P: 2}, Typical{Request: Request{CPUMilli: 2000}, P: 1})
	reqs := []Request{share(100), share(650), whole(1), whole(2), whole(8), {CPUMilli: 3000}}
	for _, name := range PolicyNames {
		p, err := PolicyByName(name)
		if err != nil {
			t.Fatal(err)
		}
		env := &Env{Dist: d, Cache: NewFragCache(), Seed: 7, Key: "pod"}
		for i := 0; i < 500; i++ {
			n := randomNode(rng, "n")
			r := reqs[rng.IntN(len(reqs))]
			if !n.Fits(r) || (r.IsGPU() && len(n.Cards) == 0) {
				continue
			}
			got := p.Rate(n, r, env)
			if got.Score < 0 || got.Score > MaxScore {
				t.Fatalf("%s: score %d out of range", name, got.Score)
			}
			if r.IsGPU() {
				if err := n.Clone().Allocate(r, got.Cards); err != nil {
					t.Fatalf("%s chose cards %v that do not hold %+v on %+v: %v", name, got.Cards, r, n.Cards, err)
				}
			}
		}
	}
	if _, err := PolicyByName("Tetris"); err == nil || !strings.Contains(err.Error(), "valid policies are FGD") {
		t.Fatalf("unknown policy: %v", err)
	}
}

func TestRandomIsReproducible(t *testing.T) {
	p, _ := PolicyByName(Random)
	n := node("n", 4)
	a := p.Rate(n, share(100), &Env{Seed: 1, Key: "x"})
	b := p.Rate(n, share(100), &Env{Seed: 1, Key: "x"})
	if a.Score != b.Score || a.Cards[0] != b.Cards[0] {
		t.Fatalf("same seed and pod, different draws: %+v %+v", a, b)
	}
}

func TestFGDFastPathAgreesWithSlowPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	d := typical(Typical{Request: share(470), P: 5}, Typical{Request: whole(1), P: 3}, Typical{Request: Request{CPUMilli: 30000, HostMemMiB: 4096}, P: 2})
	env := &Env{Dist: d, Cache: NewFragCache()}
	memoEnv := &Env{Dist: d, Cache: NewFragCache(), ScoreOnly: true}
	for i := 0; i < 1000; i++ {
		n := randomNode(rng, "n")
		for _, r := range []Request{share(470), share(100), whole(1), whole(2), {CPUMilli: 30000, HostMemMiB: 4096}} {
			if !n.Fits(r) {
				continue
			}
			if len(n.Cards) == 0 {
				continue
			}
			fast, slow := fgd{}.Rate(n, r, env), fgdRateSlow(n, r, env)
			// The score memo answers alike, the first time and from memory.
			for range 2 {
				if got := (fgd{}).Rate(n, r, memoEnv).Score; got != fast.Score {
					t.Fatalf("memoized score %d, computed %d for %+v on %+v", got, fast.Score, r, n)
				}
			}
			if fast.Score != slow.Score || math.Abs(fast.Fine-slow.Fine) > 1e-6 || len(fast.Cards) != len(slow.Cards) {
				t.Fatalf("node %+v request %+v: fast %+v, slow %+v", n, r, fast, slow)
			}
		}
	}
}

func TestFreezeAndRandomPick(t *testing.T) {
	w := NewWorkload(WorkloadConfig{Window: 10})
	w.Observe(share(500))
	d := w.Freeze()
	for i := 0; i < 20; i++ {
		w.Observe(whole(1))
	}
	if got := w.Distribution(); got != d || len(got.Shapes) != 1 {
		t.Fatalf("a frozen workload changed: %+v", got)
	}
	p, _ := PolicyByName(Random)
	env := &Env{Seed: 3, Key: "pod"}
	env.Chosen = RandomPick(env, []string{"a", "b", "c"})
	top := 0
	for _, name := range []string{"a", "b", "c"} {
		if p.Rate(node(name, 1), share(10), env).Score == MaxScore {
			top++
		}
	}
	if top != 1 {
		t.Fatalf("%d nodes got the top score, want exactly the drawn one", top)
	}
}
