package simulate

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func names(pods []PodRecord) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Name
	}
	return out
}

// synthPods returns n pods named p-000…, a mix of CPU pods, shares and
// whole cards.
func synthPods(n int) []PodRecord {
	out := make([]PodRecord, n)
	for i := range out {
		p := PodRecord{Name: fmt.Sprintf("p-%03d", i), CPUMilli: int64(1000 + i), MemoryMiB: 1024}
		switch i % 4 {
		case 1:
			p.NumGPU, p.GPUMilli = 1, int64(100*(i%9+1))
		case 2:
			p.NumGPU, p.GPUMilli = 1, 1000
		case 3:
			p.NumGPU, p.GPUMilli = 2, 1000
		}
		out[i] = p
	}
	return out
}

func TestArrivalsSortThenShuffle(t *testing.T) {
	pods := synthPods(50)
	// The file order does not matter: pods are sorted by name first.
	reversed := slices.Clone(pods)
	slices.Reverse(reversed)
	a := Arrivals(pods, 0, 42, 0)
	if d := cmp.Diff(names(a), names(Arrivals(reversed, 0, 42, 0))); d != "" {
		t.Errorf("order depends on the input order (-sorted +reversed):\n%s", d)
	}
	// The paper's sequence: seed, one Int() drawn by a log line, shuffle.
	r := rand.New(rand.NewSource(42))
	r.Int()
	want := slices.Clone(pods)
	r.Shuffle(len(want), func(i, j int) { want[i], want[j] = want[j], want[i] })
	if d := cmp.Diff(names(want), names(a)); d != "" {
		t.Errorf("order (-paper +got):\n%s", d)
	}
	if slices.Equal(names(a), names(Arrivals(pods, 0, 43, 0))) {
		t.Error("seeds 42 and 43 give the same order")
	}
	if !slices.Equal(names(a), names(Arrivals(pods, 0, 42, 0))) {
		t.Error("the same seed gives different orders")
	}
}

// TestArrivalsDefaultTrace pins the arrival order of the embedded trace at
// the paper's setting, whose numbers berth's are compared with: a change
// here changes every result.
func TestArrivalsDefaultTrace(t *testing.T) {
	tr, err := DefaultTrace()
	if err != nil {
		t.Fatal(err)
	}
	capacity := tr.GPUCapacityMilli()
	a := Arrivals(tr.Pods, capacity, DefaultSeed, DefaultTune)
	if len(a) != 10866 {
		t.Errorf("%d arrivals, want 10866", len(a))
	}
	wantFirst := []string{"openb-pod-0255", "openb-pod-1685", "openb-pod-6784", "openb-pod-4463", "openb-pod-0602"}
	if d := cmp.Diff(wantFirst, names(a[:5])); d != "" {
		t.Errorf("first arrivals (-want +got):\n%s", d)
	}
	if last := a[len(a)-1].Name; last != "openb-pod-5877-tuned-2713" {
		t.Errorf("last arrival %s, want openb-pod-5877-tuned-2713", last)
	}
	target := DefaultTune * float64(capacity)
	if d := float64(demandOf(a)); d > target || d <= target-1000 {
		t.Errorf("tuned demand %.0f, want within a card below the target %.0f", d, target)
	}
}

func TestTuneUp(t *testing.T) {
	pods := synthPods(40)
	capacity := demandOf(pods) // the trace asks for 100% of the capacity
	for _, tune := range []float64{1.05, 1.3, 2} {
		a := Arrivals(pods, capacity, 7, tune)
		target := tune * float64(capacity)
		d := float64(demandOf(a))
		// The paper stops at the first clone whose per-card share would
		// overshoot, and lets multi-card clones overshoot by their other
		// cards: here at most one card.
		if d <= target-1000 || d > target+1000 {
			t.Errorf("tune %g: demand %.0f, target %.0f", tune, d, target)
		}
		if !slices.Equal(names(a[:len(pods)]), names(Arrivals(pods, capacity, 7, 0))) {
			t.Errorf("tune %g: the original pods' order changed", tune)
		}
		for i, p := range a[len(pods):] {
			base, suffix, ok := strings.Cut(p.Name, "-tuned-")
			if !ok || suffix != fmt.Sprint(i) {
				t.Fatalf("tune %g: clone %d is named %s, want <name>-tuned-%d", tune, i, p.Name, i)
			}
			orig := pods[slices.IndexFunc(pods, func(q PodRecord) bool { return q.Name == base })]
			orig.Name = p.Name
			if orig != p {
				t.Errorf("tune %g: clone %+v differs from its original", tune, p)
			}
		}
	}
}

func TestTuneDown(t *testing.T) {
	pods := synthPods(40)
	capacity := demandOf(pods)
	a := Arrivals(pods, capacity, 7, 0.5)
	if d, target := float64(demandOf(a)), 0.5*float64(capacity); d > target || d < target-2000 {
		t.Errorf("demand %.0f, target %.0f", d, target)
	}
	if len(a) >= len(pods) {
		t.Errorf("%d pods left of %d", len(a), len(pods))
	}
	if !slices.Equal(names(a), names(Arrivals(pods, capacity, 7, 0.5))) {
		t.Error("tuning down is not deterministic")
	}
}

func TestTuneLeavesUnchanged(t *testing.T) {
	pods := synthPods(12)
	cpuOnly := []PodRecord{{Name: "c-0", CPUMilli: 1}, {Name: "c-1", CPUMilli: 1}}
	for _, tc := range []struct {
		name     string
		pods     []PodRecord
		capacity int64
		tune     float64
	}{
		{"tune 0", pods, 10000, 0},
		{"negative tune", pods, 10000, -1},
		{"no GPUs in the cluster", pods, 0, 1.3},
		{"no GPU pods", cpuOnly, 10000, 1.3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Arrivals(tc.pods, tc.capacity, 1, tc.tune); len(got) != len(tc.pods) {
				t.Errorf("%d arrivals, want the %d pods", len(got), len(tc.pods))
			}
		})
	}
}
