package gpushare

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/placement/gpu"
)

func gpuNode(name string, cards string) *v1.Node {
	return st.MakeNode().Name(name).Capacity("cpu", "32", "memory", "128Gi", "pods", "110", "nvidia.com/gpu", cards).
		Label(DefaultModelLabel, "A100").Label(DefaultMemoryLabel, "40960").Obj()
}

func sharePod(name, milli string) *v1.Pod {
	p := st.MakePod().Name(name).UID(name).Req("cpu", "1").Obj()
	p.Annotations = map[string]string{AnnotationMilli: milli}
	return p
}

func wholePod(name, n string) *v1.Pod {
	return st.MakePod().Name(name).UID(name).Req("cpu", "1", "nvidia.com/gpu", n).Obj()
}

func bound(p *v1.Pod, node string, a *Assignment) *v1.Pod {
	p = p.DeepCopy()
	p.Spec.NodeName = node
	if a != nil {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[AnnotationAssignment] = a.Encode()
	}
	return p
}

func newPlugin(t *testing.T, h framework.Handle, args *Args) *GPUShare {
	t.Helper()
	pl, err := New(context.Background(), args, h)
	if err != nil {
		t.Fatal(err)
	}
	return pl.(*GPUShare)
}

func TestPodRequestRejectsBadValues(t *testing.T) {
	for _, tc := range []struct {
		ann  map[string]string
		gpus string
		want string
	}{
		{map[string]string{AnnotationMilli: "1500"}, "", "outside 1..1000"},
		{map[string]string{AnnotationMilli: "0"}, "", "outside 1..1000"},
		{map[string]string{AnnotationMilli: "-5"}, "", "outside 1..1000"},
		{map[string]string{AnnotationMilli: "half"}, "", "not an integer"},
		{map[string]string{AnnotationMilli: "500"}, "1", "ask for one or the other"},
		{map[string]string{AnnotationMilli: "500", AnnotationMemory: "lots"}, "", "not a quantity"},
		{map[string]string{AnnotationMemory: "8Gi"}, "", "asks for no GPU"},
		{map[string]string{AnnotationMilli: "500", AnnotationModel: " | "}, "", "names no model"},
	} {
		p := st.MakePod().Name("p").Req("cpu", "1").Obj()
		if tc.gpus != "" {
			p = st.MakePod().Name("p").Req("cpu", "1", "nvidia.com/gpu", tc.gpus).Obj()
		}
		p.Annotations = tc.ann
		_, err := PodRequest(p, DefaultResourceName)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.ann, err, tc.want)
		}
	}
	p := sharePod("ok", "460")
	p.Annotations[AnnotationMemory] = "8Gi"
	p.Annotations[AnnotationModel] = "V100M32|V100M16"
	r, err := PodRequest(p, DefaultResourceName)
	if err != nil || r.Count != 1 || r.MilliPerCard != 460 || r.MemoryMiBPerCard != 8192 || strings.Join(r.Models, ",") != "V100M16,V100M32" {
		t.Fatalf("good request: %+v, %v", r, err)
	}
}

func TestPreFilterMessageAndSkip(t *testing.T) {
	h := st.NewHandle(st.NewSnapshot(nil, []*v1.Node{gpuNode("n", "2")}))
	pl := newPlugin(t, h, nil)
	_, s := pl.PreFilter(context.Background(), framework.NewCycleState(), sharePod("bad", "1500"), nil)
	if s.Code() != framework.UnschedulableAndUnresolvable || !strings.Contains(s.Message(), "berth.io/gpu-milli=1500") {
		t.Fatalf("bad request: %v", s)
	}
	_, s = pl.PreFilter(context.Background(), framework.NewCycleState(), st.MakePod().Name("cpu").Req("cpu", "1").Obj(), nil)
	if !s.IsSkip() {
		t.Fatalf("CPU pod: %v, want Skip", s)
	}
}

// TestCardsAcrossCycles runs two cycles the way the engine does: the
// first pod is assumed in the cache (without its annotation) before the
// second is evaluated; the second must not get the first pod's card.
func TestCardsAcrossCycles(t *testing.T) {
	ctx := context.Background()
	node := gpuNode("n", "2")
	other := bound(sharePod("other", "700"), "n", &Assignment{Node: "n", Cards: []int{1}, Milli: 700})
	a := sharePod("a", "600")
	h := st.NewHandle(st.NewSnapshot([]*v1.Pod{other}, []*v1.Node{node}), a)
	pl := newPlugin(t, h, nil)

	state := framework.NewCycleState()
	if _, s := pl.PreFilter(ctx, state, a, nil); !s.IsSuccess() {
		t.Fatal(s)
	}
	ni, _ := h.SnapshotSharedLister().NodeInfos().Get("n")
	if s := pl.Filter(ctx, state, a, ni); !s.IsSuccess() {
		t.Fatal(s)
	}
	if s := pl.PreScore(ctx, state, a, []*framework.NodeInfo{ni}); !s.IsSuccess() {
		t.Fatal(s)
	}
	if s := pl.Reserve(ctx, state, a, "n"); !s.IsSuccess() {
		t.Fatal(s)
	}
	val, err := pl.AssignmentFor(state, "n")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseAssignment(val)
	if err != nil || got.Cards[0] != 0 || got.Milli != 600 {
		t.Fatalf("600 milli must go to card 0 (card 1 has 300 free): %q %v", val, err)
	}
	if s := pl.PreBind(ctx, state, a, "n"); !s.IsSuccess() {
		t.Fatal(s)
	}
	live, _ := h.ClientSet().CoreV1().Pods(a.Namespace).Get(ctx, "a", metav1.GetOptions{})
	if live.Annotations[AnnotationAssignment] != val {
		t.Fatalf("PreBind wrote %q, want %q", live.Annotations[AnnotationAssignment], val)
	}

	// Next cycle: the cache holds the assumed pod without the annotation.
	assumed := bound(a, "n", nil)
	h.Lister = st.NewSnapshot([]*v1.Pod{other, assumed}, []*v1.Node{node})
	ni, _ = h.SnapshotSharedLister().NodeInfos().Get("n")
	b := sharePod("b", "500")
	state2 := framework.NewCycleState()
	if _, s := pl.PreFilter(ctx, state2, b, nil); !s.IsSuccess() {
		t.Fatal(s)
	}
	s := pl.Filter(ctx, state2, b, ni)
	if s.Code() != framework.Unschedulable || s.Message() != "no card has 500 milli GPU free" {
		t.Fatalf("reserved card must count: %v", s)
	}
	if got := pl.ExplainFailure(state2, b); got != "closest GPU node n: card 0 has 400 milli free; card 1 has 300 milli free; pod asks 500 milli" {
		t.Fatalf("explanation: %q", got)
	}

	// Unreserve releases the card.
	pl.Unreserve(ctx, state, a, "n")
	h.Lister = st.NewSnapshot([]*v1.Pod{other, assumed}, []*v1.Node{node})
	ni, _ = h.SnapshotSharedLister().NodeInfos().Get("n")
	if n := pl.tracker.state(ni); n.Cards[0].UsedMilli != 600 {
		// Without reservation or annotation the assumed pod is attributed
		// first-fit: still 600 milli somewhere, never lost.
		t.Fatalf("after unreserve the pod is attributed first-fit, got %+v", n.Cards)
	}
}

// TestRebuildFromAnnotations is a restart: a new plugin sees only the
// pods, and arrives at the same cards.
func TestRebuildFromAnnotations(t *testing.T) {
	node := gpuNode("n", "4")
	pods := []*v1.Pod{
		bound(sharePod("s1", "300"), "n", &Assignment{Node: "n", Cards: []int{2}, Milli: 300}),
		bound(sharePod("s2", "500"), "n", &Assignment{Node: "n", Cards: []int{2}, Milli: 500}),
		bound(wholePod("w", "2"), "n", &Assignment{Node: "n", Cards: []int{0, 3}, Milli: 1000}),
		// Bound by another scheduler: no annotation, attributed first-fit.
		bound(wholePod("x", "1"), "n", nil),
		// An annotation for another node is stale and ignored.
		bound(sharePod("moved", "100"), "n", &Assignment{Node: "elsewhere", Cards: []int{0}, Milli: 100}),
	}
	h := st.NewHandle(st.NewSnapshot(pods, []*v1.Node{node}))
	ni, _ := h.SnapshotSharedLister().NodeInfos().Get("n")
	n := newPlugin(t, h, nil).tracker.state(ni)
	want := []int64{1000, 1000, 900, 1000}
	for i, c := range n.Cards {
		if c.UsedMilli != want[i] || c.MemoryMiB != 40960 {
			t.Fatalf("card %d: %+v, want %d milli of 40960 MiB", i, c, want[i])
		}
	}
	if n.Model != "A100" {
		t.Fatalf("model %q", n.Model)
	}
}

func TestScoreAndArgs(t *testing.T) {
	ctx := context.Background()
	half := bound(sharePod("h", "500"), "half", &Assignment{Node: "half", Cards: []int{0}, Milli: 500})
	h := st.NewHandle(st.NewSnapshot([]*v1.Pod{half}, []*v1.Node{gpuNode("half", "2"), gpuNode("empty", "2")}))
	pl := newPlugin(t, h, nil)
	// Teach the workload that 500-milli shares and whole cards arrive: a
	// card left half free is then a fragment for the whole-card pods.
	for i := 0; i < 50; i++ {
		pl.workload.Observe(gpu.Request{Count: 1, MilliPerCard: 500, CPUMilli: 1000})
		pl.workload.Observe(gpu.Request{Count: 1, MilliPerCard: 1000, CPUMilli: 1000})
	}
	p := sharePod("p", "500")
	state := framework.NewCycleState()
	pl.PreFilter(ctx, state, p, nil)
	infos := h.SnapshotSharedLister().NodeInfos().List()
	if s := pl.PreScore(ctx, state, p, infos); !s.IsSuccess() {
		t.Fatal(s)
	}
	var scores [2]int64
	for i, ni := range infos {
		sc, s := pl.Score(ctx, state, p, ni)
		if !s.IsSuccess() {
			t.Fatal(s)
		}
		scores[i] = sc
	}
	if scores[0] <= scores[1] {
		t.Fatalf("FGD must complete the half-used card: half=%d empty=%d", scores[0], scores[1])
	}

	if errs := ValidateArgs(&Args{Policy: "Tetris", WorkloadWindow: 0, WorkloadCoverage: 101}, field.NewPath("args")); len(errs) != 4 {
		t.Fatalf("want 4 errors (policy, window, coverage, resourceName), got %v", errs)
	}
	a := &Args{}
	SetDefaultArgs(a)
	if errs := ValidateArgs(a, field.NewPath("args")); len(errs) != 0 || a.Policy != gpu.FGD || *a.ScoreCPUPods {
		t.Fatalf("defaults: %+v %v", a, errs)
	}
}

func TestSweepDropsOrphanReservations(t *testing.T) {
	h := st.NewHandle(st.NewSnapshot(nil, []*v1.Node{gpuNode("n", "1")}))
	pl := newPlugin(t, h, nil)
	now := time.Now()
	pl.tracker.reserve("gone", "n", []int{0}, now.Add(-time.Hour))
	pl.tracker.reserve("fresh", "n", []int{0}, now)
	if got := pl.tracker.sweep(h.SnapshotSharedLister().NodeInfos(), now); got != 1 {
		t.Fatalf("swept %d, want only the old orphan", got)
	}
	if _, ok := pl.tracker.resv["fresh"]; !ok {
		t.Fatal("a fresh reservation was dropped")
	}
}

// TestWholeCardVerdictMatchesResourceCount checks that for pods asking
// for whole cards through the resource, GPUShare reaches NodeResourcesFit's
// verdict (free = allocatable - requested), whatever other schedulers
// placed: berth must not reject what kube-scheduler would accept.
func TestWholeCardVerdictMatchesResourceCount(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(9, 9))
	for i := 0; i < 300; i++ {
		cards := rng.IntN(9)
		node := gpuNode("n", fmt.Sprint(cards))
		var pods []*v1.Pod
		used := 0
		for j := 0; used < cards && j < 4; j++ {
			k := 1 + rng.IntN(cards-used)
			var a *Assignment
			if rng.IntN(2) == 0 {
				// Placed by berth: the annotation names cards. Otherwise bound
				// by someone else, without one.
				a = &Assignment{Node: "n", Milli: 1000}
				for c := used; c < used+k; c++ {
					a.Cards = append(a.Cards, c)
				}
			}
			pods = append(pods, bound(wholePod(fmt.Sprintf("p%d", j), fmt.Sprint(k)), "n", a))
			used += k
		}
		h := st.NewHandle(st.NewSnapshot(pods, []*v1.Node{node}))
		pl := newPlugin(t, h, nil)
		ni, _ := h.SnapshotSharedLister().NodeInfos().Get("n")
		want := 1 + rng.IntN(9)
		p := wholePod("new", fmt.Sprint(want))
		state := framework.NewCycleState()
		if _, s := pl.PreFilter(ctx, state, p, nil); !s.IsSuccess() {
			t.Fatal(s)
		}
		got := pl.Filter(ctx, state, p, ni).IsSuccess()
		if fits := cards-used >= want; got != fits {
			t.Fatalf("%d cards, %d used, pod asks %d: GPUShare says %v, resource count says %v", cards, used, want, got, fits)
		}
	}
}

// TestWhatIfCopiesAreNotMemoized is preemption's reprieve loop on one
// clone of a node: add a victim back, Filter, remove it, add another,
// Filter. The clone keeps its generation and pod count; its card state
// must still follow its pods.
func TestWhatIfCopiesAreNotMemoized(t *testing.T) {
	ctx := context.Background()
	keep := bound(sharePod("keep", "600"), "n", &Assignment{Node: "n", Cards: []int{0}, Milli: 600})
	v3 := bound(wholePod("v3", "1"), "n", &Assignment{Node: "n", Cards: []int{1}, Milli: 1000})
	v4 := bound(sharePod("v4", "100"), "n", &Assignment{Node: "n", Cards: []int{1}, Milli: 100})
	snap := st.NewSnapshot([]*v1.Pod{keep, v3, v4}, []*v1.Node{gpuNode("n", "2")})
	pl := newPlugin(t, st.NewHandle(snap), nil)
	p := sharePod("preemptor", "500")
	state := framework.NewCycleState()
	pl.PreFilter(ctx, state, p, nil)
	ni := snap.NodeInfos().List()[0].Clone()
	for _, v := range []*v1.Pod{v3, v4} {
		if err := ni.RemovePod(v); err != nil {
			t.Fatal(err)
		}
	}
	ni.AddPod(v3)
	if s := pl.Filter(ctx, state, p, ni); s.IsSuccess() {
		t.Fatal("card 1 is taken whole and card 0 has 400 free: 500 milli must not fit")
	}
	if err := ni.RemovePod(v3); err != nil {
		t.Fatal(err)
	}
	ni.AddPod(v4)
	if s := pl.Filter(ctx, state, p, ni); !s.IsSuccess() {
		t.Fatalf("with only 100 milli on card 1 the pod fits: %v", s)
	}
}

// TestExplainFailureSkipsNodesRejectedElsewhere: a node whose cards would
// hold the pod (another filter rejected it) is not "the closest".
func TestExplainFailureSkipsNodesRejectedElsewhere(t *testing.T) {
	ctx := context.Background()
	full := bound(wholePod("full", "1"), "b", nil)
	snap := st.NewSnapshot([]*v1.Pod{full}, []*v1.Node{gpuNode("a", "1"), gpuNode("b", "1")})
	pl := newPlugin(t, st.NewHandle(snap), nil)
	p := sharePod("p", "500")
	state := framework.NewCycleState()
	pl.PreFilter(ctx, state, p, nil)
	if got := pl.ExplainFailure(state, p); got != "closest GPU node b: card 0 has 0 milli free; pod asks 500 milli" {
		t.Fatalf("explanation: %q", got)
	}
}

// TestProfilesShareReservations: two profiles' GPUShare instances over
// one snapshot; a card one holds between Reserve and the annotation is
// taken for the other too, and each keeps its own state on the NodeInfo.
func TestProfilesShareReservations(t *testing.T) {
	node := gpuNode("n", "2")
	a := sharePod("a", "600")
	h := st.NewHandle(st.NewSnapshot(nil, []*v1.Node{node}), a)
	first, second := newPlugin(t, h, nil), newPlugin(t, h, &Args{Policy: gpu.BestFit})
	// The first profile holds card 1 for a (first-fit would say card 0).
	first.tracker.reserve("a", "n", []int{1}, time.Now())
	h.Lister = st.NewSnapshot([]*v1.Pod{bound(a, "n", nil)}, []*v1.Node{node})
	ni, _ := h.SnapshotSharedLister().NodeInfos().Get("n")
	if n := second.tracker.state(ni); n.Cards[1].UsedMilli != 600 || n.Cards[0].UsedMilli != 0 {
		t.Fatalf("the other profile's reservation was not seen: %+v", n.Cards)
	}
	if first.tracker.derivedKey == second.tracker.derivedKey {
		t.Fatal("two instances share a derived-state key")
	}
}
