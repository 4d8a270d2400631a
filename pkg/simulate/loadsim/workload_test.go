package loadsim

import (
	"math"
	"reflect"
	"testing"
	"time"
)

func TestDiurnalShape(t *testing.T) {
	a := App{Trough: 0.2, PeakHour: 14, Sharpness: 2}
	if got := a.Diurnal(14); math.Abs(got-1) > 1e-12 {
		t.Errorf("at the peak: %v, want 1", got)
	}
	if got := a.Diurnal(2); math.Abs(got-0.2) > 1e-12 {
		t.Errorf("twelve hours from the peak: %v, want the trough 0.2", got)
	}
	if a.Diurnal(14+24) != a.Diurnal(14) || math.Abs(a.Diurnal(-3)-a.Diurnal(21)) > 1e-12 {
		t.Error("the curve does not wrap every 24 hours")
	}
	// Falling from the peak to the trough, symmetric around the peak.
	prev := 2.0
	for h := 14.0; h <= 26; h += 0.5 {
		v := a.Diurnal(h)
		if v > prev+1e-12 {
			t.Errorf("Diurnal(%v) = %v rises after the peak (%v before)", h, v, prev)
		}
		if w := a.Diurnal(28 - h); math.Abs(w-v) > 1e-12 {
			t.Errorf("not symmetric: Diurnal(%v) = %v, Diurnal(%v) = %v", h, v, 28-h, w)
		}
		prev = v
	}
	flat := App{Trough: 1, Sharpness: 1}
	for h := 0.0; h < 24; h += 3 {
		if flat.Diurnal(h) != 1 {
			t.Errorf("a flat app's curve at %v is %v", h, flat.Diurnal(h))
		}
	}
}

// TestUseFollowsRatioAndCurve pins Use on a noiseless pod: request ×
// ratio × curve, capped at the limit.
func TestUseFollowsRatioAndCurve(t *testing.T) {
	apps := []App{{Name: "a", CPUMilli: 1000, MemoryMiB: 1, PeakRatio: 1, Trough: 0.25, PeakHour: 6, Sharpness: 1,
		LimitRatio: 1.5, MeanLifetime: time.Hour, Share: 1}}
	w, err := Generate(WorkloadSpec{Apps: apps, CapacityMilli: 10000, RequestFraction: 0.5, Duration: time.Hour, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ratio  float64
		shift  int
		minute int
		want   float64
	}{
		{0.3, 0, 6 * 60, 300},                    // over-requesting pod at its peak
		{0.3, 0, 18 * 60, 75},                    // … at its trough
		{1.2, 0, 6 * 60, 1200},                   // bursting pod, below its limit
		{2.0, 0, 6 * 60, 1500},                   // capped at the limit
		{1.0, 60, 5 * 60, 1000},                  // shifted an hour earlier
		{1.0, 0, 6*60 + 3*MinutesPerDay, 1000},   // any day
		{1.0, 0, 12 * 60, 1000 * (0.25 + 0.375)}, // six hours off: halfway
	} {
		p := &Pod{App: 0, Ratio: tc.ratio, Shift: tc.shift}
		if got := w.Use(p, tc.minute); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("ratio %v shift %d minute %d: use %v, want %v", tc.ratio, tc.shift, tc.minute, got, tc.want)
		}
	}
}

func TestSmoothNoise(t *testing.T) {
	var lo, hi float64
	for seed := uint64(1); seed < 50; seed++ {
		prev := smoothNoise(seed, -1)
		for m := 0; m < 3*MinutesPerDay; m++ {
			v := smoothNoise(seed, m)
			if v < -1 || v > 1 {
				t.Fatalf("noise %v out of [-1, 1]", v)
			}
			// Smooth: one minute moves it by at most 1.5 × the knot gap
			// over the step.
			if d := math.Abs(v - prev); d > 1.5*2/noiseStep {
				t.Fatalf("seed %d minute %d: noise jumps by %v", seed, m, d)
			}
			prev = v
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if lo > -0.9 || hi < 0.9 {
		t.Errorf("noise spans only [%v, %v]", lo, hi)
	}
}

func TestGenerate(t *testing.T) {
	spec := WorkloadSpec{CapacityMilli: 50 * 32000, RequestFraction: 0.6, Duration: 3 * 24 * time.Hour, Seed: 7}
	w, err := Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(w.Pods, again.Pods) {
		t.Error("the same seed gave another workload")
	}
	spec.Seed = 8
	other, err := Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(w.Pods, other.Pods) {
		t.Error("another seed gave the same workload")
	}

	ratios := make([][]float64, len(w.Apps))
	for i, p := range w.Pods {
		if p.Index != i {
			t.Fatalf("pod %d has index %d", i, p.Index)
		}
		if i > 0 && p.Arrival < w.Pods[i-1].Arrival {
			t.Fatalf("pod %d arrives before pod %d", i, i-1)
		}
		if p.Arrival < 0 || p.Arrival >= spec.Duration || p.Lifetime < minLifetime || p.Arrival%time.Second != 0 {
			t.Fatalf("pod %d: arrival %s, lifetime %s", i, p.Arrival, p.Lifetime)
		}
		if j := int(w.Apps[p.App].PhaseJitter / time.Minute); p.Shift < -j || p.Shift > j {
			t.Fatalf("pod %d: shift %d beyond ±%d", i, p.Shift, j)
		}
		ratios[p.App] = append(ratios[p.App], p.Ratio)
	}
	// Each app's pods scatter around its peak ratio (the lognormal
	// factor has mean 1), so ratios span over-requesting to bursting.
	for ai, rs := range ratios {
		a := w.Apps[ai]
		var sum float64
		for _, r := range rs {
			sum += r
		}
		mean := sum / float64(len(rs))
		if len(rs) < 50 || math.Abs(mean/a.PeakRatio-1) > 0.15 {
			t.Errorf("app %s: %d pods, mean ratio %.3f, want about %.2f", a.Name, len(rs), mean, a.PeakRatio)
		}
	}
	// The requested CPU stays at the target from the first minutes on,
	// short of the replicas between a pod and its replacement.
	for at := InitialSpread; at < spec.Duration; at += 17 * time.Minute {
		f := float64(w.RequestedMilli(at)) / float64(spec.CapacityMilli)
		if f > spec.RequestFraction+0.005 || f < spec.RequestFraction-0.03 {
			t.Errorf("requested at %s: %.2f of the capacity, want about %.2f", at, f, spec.RequestFraction)
		}
	}
}

func TestGenerateRejectsBadSpecs(t *testing.T) {
	ok := WorkloadSpec{CapacityMilli: 1000, RequestFraction: 0.5, Duration: time.Hour}
	bad := DefaultApps()
	bad[0].Trough = 2
	for name, s := range map[string]WorkloadSpec{
		"no capacity":  {RequestFraction: 0.5, Duration: time.Hour},
		"fraction > 1": {CapacityMilli: 1000, RequestFraction: 1.5, Duration: time.Hour},
		"no duration":  {CapacityMilli: 1000, RequestFraction: 0.5},
		"bad app":      {Apps: bad, CapacityMilli: 1000, RequestFraction: 0.5, Duration: time.Hour},
	} {
		if _, err := Generate(s); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := Generate(ok); err != nil {
		t.Errorf("valid spec: %v", err)
	}
}
