package simulate

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCurve(t *testing.T) {
	// One card: 10 milli-GPU is 1% of the capacity.
	const capacity = 1000
	points := []Point{
		{ArrivedGPUMilli: 0, AllocatedGPUMilli: 0},
		{ArrivedGPUMilli: 4, AllocatedGPUMilli: 4},     // 0.4% -> 0
		{ArrivedGPUMilli: 6, AllocatedGPUMilli: 6},     // 0.6% -> 1
		{ArrivedGPUMilli: 15, AllocatedGPUMilli: 15},   // 1.5% -> 2 (half to even)
		{ArrivedGPUMilli: 25, AllocatedGPUMilli: 15},   // 2.5% -> 2 (half to even)
		{ArrivedGPUMilli: 45, AllocatedGPUMilli: 33},   // 4.5% -> 4; nothing at 3
		{ArrivedGPUMilli: 61, AllocatedGPUMilli: 40},   // 6.1% -> 6; nothing at 5
		{ArrivedGPUMilli: 64, AllocatedGPUMilli: 41},   // 6.4% -> 6
		{ArrivedGPUMilli: 90, AllocatedGPUMilli: 41},   // 9% -> 9; 7 and 8 empty
		{ArrivedGPUMilli: 101, AllocatedGPUMilli: 42},  // 10.1% -> 10
		{ArrivedGPUMilli: 110, AllocatedGPUMilli: 49},  // 11% -> 11, past maxPct but seen by 10's neighbours
		{ArrivedGPUMilli: 500, AllocatedGPUMilli: 100}, // 50%, beyond the curve
	}
	got := Curve(points, capacity, 10)
	want := []CurvePoint{
		{ArrivedPct: 0, AllocPct: 0.2},  // mean of 0 and 0.4
		{ArrivedPct: 1, AllocPct: 0.6},  // the one point at 1
		{ArrivedPct: 2, AllocPct: 1.5},  // mean of 1.5 and 1.5
		{ArrivedPct: 3, AllocPct: 2.1},  // none at 3: mean of 2's and 4's (1.5, 1.5, 3.3)
		{ArrivedPct: 4, AllocPct: 3.3},  // the one point at 4
		{ArrivedPct: 5, AllocPct: 3.8},  // none at 5: mean of 4's and 6's (3.3, 4.0, 4.1) = 3.8
		{ArrivedPct: 6, AllocPct: 4.05}, // mean of 4.0 and 4.1
		{ArrivedPct: 7, AllocPct: 4.05}, // none at 7: 6's and 8's (none)
		{ArrivedPct: 8, AllocPct: 4.1},  // none at 8: 7's (none) and 9's
		{ArrivedPct: 9, AllocPct: 4.1},
		{ArrivedPct: 10, AllocPct: 4.2},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("curve (-want +got):\n%s", d)
	}

	r := &Result{Points: points, GPUCapacityMilli: capacity, Tune: 0.1}
	if v, ok := r.AllocAt(3); !ok || v != 2.1 {
		t.Errorf("AllocAt(3) = %v, %v; want 2.4", v, ok)
	}
	if _, ok := r.AllocAt(30); ok {
		t.Error("AllocAt(30) found a value where no point is near")
	}
	if n := len(r.Curve()); n != 11 {
		t.Errorf("Curve() has %d points, want 0..10%% (tune 0.1)", n)
	}
	if got := r.MaxArrivedPct(); got != 10 {
		t.Errorf("MaxArrivedPct = %d with tune 0.1, want 10", got)
	}
	r.Tune = 0
	if got := r.MaxArrivedPct(); got != 50 {
		t.Errorf("MaxArrivedPct = %d untuned, want the arrived 50", got)
	}
	if got := r.FinalAllocPct(); got != 10 {
		t.Errorf("FinalAllocPct = %v, want 10", got)
	}
}

func TestCurveEmpty(t *testing.T) {
	if c := Curve(nil, 1000, 100); c != nil {
		t.Errorf("no points: %v", c)
	}
	if c := Curve([]Point{{}}, 0, 100); c != nil {
		t.Errorf("no capacity: %v", c)
	}
	var r Result
	if r.Final() != (Point{}) || r.FinalAllocPct() != 0 {
		t.Errorf("empty result: %+v", r.Final())
	}
}

func TestRoundHalfEven(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		d    int
		want float64
	}{
		{0.5, 0, 0}, {1.5, 0, 2}, {2.5, 0, 2}, {99.5, 0, 100}, {100.49, 0, 100},
		{95.144, 2, 95.14}, {95.146, 2, 95.15}, {0.125, 2, 0.12},
	} {
		if got := roundHalfEven(tc.v, tc.d); got != tc.want {
			t.Errorf("roundHalfEven(%v, %d) = %v, want %v", tc.v, tc.d, got, tc.want)
		}
	}
}
