package loadsim

import (
	"math"
	"testing"
)

func TestMeter(t *testing.T) {
	m := &Meter{}
	// node 0: one hot minute (0.9); node 1: hot and saturated (1.2
	// counts as 1); node 2: exactly at the threshold, not hot.
	for _, v := range []struct {
		node, minute int
		demand       float64
	}{{0, 0, 0.5}, {0, 1, 0.9}, {1, 60, 1.2}, {1, MinutesPerDay + 61, 0.81}, {2, 0, 0.8}, {2, 1, -0.1}} {
		m.Add(v.node, v.minute, v.demand)
	}
	got := m.Summary()
	want := Metrics{NodeMinutes: 6, HotNodeMinutes: 3, SaturatedNodeMinutes: 1, HotNodes: 2, HotByHour: [24]int{0: 1, 1: 2},
		P99: 1, P50: 0.8, Mean: (0.5 + 0.9 + 1 + 0.81 + 0.8 + 0) / 6, Max: 1}
	if math.Abs(got.Mean-want.Mean) > 1e-12 {
		t.Errorf("mean %v, want %v", got.Mean, want.Mean)
	}
	got.Mean = want.Mean
	if got != want {
		t.Errorf("summary\n got %+v\nwant %+v", got, want)
	}
	if f := got.HotFraction(); f != 0.5 {
		t.Errorf("hot fraction %v, want 0.5", f)
	}

	custom := &Meter{Threshold: 0.5}
	custom.Add(0, 0, 0.6)
	if s := custom.Summary(); s.HotNodeMinutes != 1 {
		t.Errorf("threshold 0.5: %d hot minutes, want 1", s.HotNodeMinutes)
	}
	if s := (&Meter{}).Summary(); s != (Metrics{}) || s.HotFraction() != 0 {
		t.Errorf("empty meter: %+v", s)
	}
}

func TestPercentile(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(i + 1)
	}
	for _, tc := range []struct {
		vals []float64
		p    float64
		want float64
	}{
		{hundred, 99, 99},
		{hundred, 50, 50},
		{hundred, 100, 100},
		{hundred, 0.5, 1},
		{[]float64{0.1, 0.2, 0.3}, 99, 0.3},
		{[]float64{0.1, 0.2, 0.3}, 50, 0.2},
		{[]float64{0.7}, 99, 0.7},
	} {
		if got := Percentile(tc.vals, tc.p); got != tc.want {
			t.Errorf("p%v of %d values: %v, want %v", tc.p, len(tc.vals), got, tc.want)
		}
	}
	if !math.IsNaN(Percentile(nil, 99)) {
		t.Error("p99 of nothing is not NaN")
	}
}
