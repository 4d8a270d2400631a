package loadsim

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// MinutesPerDay is the length of the diurnal cycle in simulated minutes.
const MinutesPerDay = 24 * 60

// noiseStep is the spacing, in minutes, of the knots of a pod's noise:
// the noise is smooth within a step, as load is over a few minutes.
const noiseStep = 10

// minLifetime is the shortest life a pod gets: shorter pods would not
// outlive the one-minute measurement they are placed against.
const minLifetime = 5 * time.Minute

// App is one kind of workload: what its pods request, and how their
// actual CPU use relates to the request over the day. The gap between
// request and use is what the simulation is about: a scheduler that
// reads requests sees every pod of an app alike, whatever it burns.
type App struct {
	// Name labels the app's pods.
	Name string `json:"name"`
	// CPUMilli and MemoryMiB are each pod's requests.
	CPUMilli  int64 `json:"cpuMilli"`
	MemoryMiB int64 `json:"memoryMiB"`
	// PeakRatio is the typical pod's CPU use at the app's daily peak
	// divided by its request: below 1 the app over-requests, above 1 it
	// bursts past its request (within LimitRatio).
	PeakRatio float64 `json:"peakRatio"`
	// RatioSpread is the standard deviation of the log of a pod's own
	// factor on PeakRatio: replicas of one app do not burn alike
	// (uneven load balancing, tenants, data skew).
	RatioSpread float64 `json:"ratioSpread"`
	// Trough is the use at the daily low as a fraction of the peak use;
	// 1 makes the app flat.
	Trough float64 `json:"trough"`
	// PeakHour is the hour of the simulated day (0–24) of the peak.
	PeakHour float64 `json:"peakHour"`
	// Sharpness is the exponent of the daily curve: higher is a shorter
	// peak and a longer plateau near the trough.
	Sharpness float64 `json:"sharpness"`
	// PhaseJitter is the largest shift of a pod's curve, either way:
	// pods of one app do not peak at the same minute.
	PhaseJitter time.Duration `json:"phaseJitterNanos"`
	// Noise is the amplitude of a pod's smooth random variation, as a
	// fraction of its use (0.2: ±20 %).
	Noise float64 `json:"noise"`
	// LimitRatio is the CPU limit over the request; use never exceeds it.
	LimitRatio float64 `json:"limitRatio"`
	// MeanLifetime is the mean of the pods' exponentially distributed
	// lifetimes.
	MeanLifetime time.Duration `json:"meanLifetimeNanos"`
	// Share is the app's part of the requested CPU (the shares of a
	// workload add up to 1).
	Share float64 `json:"share"`
}

// DefaultApps is the workload of the evaluation: six apps whose peak
// use spans 0.3 to 1.5 times their requests, peaking at different hours
// (daytime web and API, an evening stream, a nightly ETL), plus an
// over-requested cache and short flat batch jobs. Services live for one
// to three days, so a node's pods repeat their daily pattern and its
// history forecasts it; batch jobs live three hours.
func DefaultApps() []App {
	return []App{
		{Name: "web", CPUMilli: 500, MemoryMiB: 1024, PeakRatio: 1.4, RatioSpread: 0.3, Trough: 0.15, PeakHour: 13, Sharpness: 2,
			PhaseJitter: 30 * time.Minute, Noise: 0.2, LimitRatio: 2, MeanLifetime: 24 * time.Hour, Share: 0.25},
		{Name: "api", CPUMilli: 1000, MemoryMiB: 2048, PeakRatio: 1.0, RatioSpread: 0.3, Trough: 0.25, PeakHour: 10, Sharpness: 1.5,
			PhaseJitter: 30 * time.Minute, Noise: 0.2, LimitRatio: 2, MeanLifetime: 36 * time.Hour, Share: 0.20},
		{Name: "stream", CPUMilli: 2000, MemoryMiB: 4096, PeakRatio: 1.2, RatioSpread: 0.3, Trough: 0.1, PeakHour: 20, Sharpness: 2,
			PhaseJitter: 30 * time.Minute, Noise: 0.2, LimitRatio: 2, MeanLifetime: 24 * time.Hour, Share: 0.15},
		{Name: "nightly-etl", CPUMilli: 4000, MemoryMiB: 8192, PeakRatio: 1.5, RatioSpread: 0.2, Trough: 0.05, PeakHour: 2, Sharpness: 3,
			PhaseJitter: 45 * time.Minute, Noise: 0.15, LimitRatio: 2, MeanLifetime: 48 * time.Hour, Share: 0.15},
		{Name: "cache", CPUMilli: 2000, MemoryMiB: 8192, PeakRatio: 0.3, RatioSpread: 0.3, Trough: 0.7, PeakHour: 12, Sharpness: 1,
			PhaseJitter: 60 * time.Minute, Noise: 0.1, LimitRatio: 2, MeanLifetime: 72 * time.Hour, Share: 0.15},
		{Name: "batch", CPUMilli: 1000, MemoryMiB: 2048, PeakRatio: 0.9, RatioSpread: 0.2, Trough: 1, PeakHour: 0, Sharpness: 1,
			Noise: 0.3, LimitRatio: 1.5, MeanLifetime: 3 * time.Hour, Share: 0.10},
	}
}

// validate reports the first problem with a.
func (a *App) validate() error {
	switch {
	case a.Name == "":
		return errors.New("an app has no name")
	case a.CPUMilli <= 0 || a.MemoryMiB <= 0:
		return fmt.Errorf("app %s: requests must be positive", a.Name)
	case a.PeakRatio <= 0 || a.RatioSpread < 0 || a.Noise < 0 || a.Noise >= 1:
		return fmt.Errorf("app %s: peak ratio must be positive, spread non-negative and noise in [0, 1)", a.Name)
	case a.Trough < 0 || a.Trough > 1 || a.Sharpness <= 0:
		return fmt.Errorf("app %s: trough must be in [0, 1] and sharpness positive", a.Name)
	case a.PeakHour < 0 || a.PeakHour >= 24:
		return fmt.Errorf("app %s: peak hour must be in [0, 24)", a.Name)
	case a.LimitRatio < 1:
		return fmt.Errorf("app %s: the limit cannot be below the request", a.Name)
	case a.MeanLifetime < minLifetime || a.PhaseJitter < 0:
		return fmt.Errorf("app %s: mean lifetime must be at least %s", a.Name, minLifetime)
	case a.Share <= 0:
		return fmt.Errorf("app %s: share must be positive", a.Name)
	}
	return nil
}

// Diurnal is the app's daily curve at hour h of the day (any real; it
// wraps every 24 h): 1 at PeakHour, Trough twelve hours away, and
// Trough + (1-Trough)·((1+cos(2π(h-PeakHour)/24))/2)^Sharpness between.
func (a *App) Diurnal(h float64) float64 {
	c := (1 + math.Cos(2*math.Pi*(h-a.PeakHour)/24)) / 2
	return a.Trough + (1-a.Trough)*math.Pow(c, a.Sharpness)
}

// Pod is one arrival of the workload: when it comes, how long it stays,
// and what sets its CPU use apart from its app's.
type Pod struct {
	// Index is the pod's position in Workload.Pods (its identity).
	Index int
	// App indexes Workload.Apps.
	App int
	// Arrival is when the pod is submitted, from the simulation's start;
	// it leaves at Arrival + Lifetime.
	Arrival, Lifetime time.Duration
	// Ratio is the pod's CPU use at its peak divided by its request: the
	// app's PeakRatio times the pod's own factor.
	Ratio float64
	// Shift moves the pod's daily curve, in minutes.
	Shift int
	// seed drives the pod's noise.
	seed uint64
}

// Workload is a seeded, deterministic list of pods and a pure function
// from pod and minute to CPU use, so every policy faces the same demand
// and only where it lands differs.
type Workload struct {
	// Apps are the app types; Pod.App indexes them.
	Apps []App
	// Pods are sorted by arrival.
	Pods []Pod
	// shapes[a][i] is app a's Diurnal at minute i of the day.
	shapes [][MinutesPerDay]float64
}

// WorkloadSpec says what to generate.
type WorkloadSpec struct {
	// Apps are the app types (DefaultApps when empty).
	Apps []App
	// CapacityMilli is the cluster's CPU capacity.
	CapacityMilli int64
	// RequestFraction is the requested CPU as a fraction of the
	// capacity: each app runs Share × RequestFraction × CapacityMilli /
	// CPUMilli replicas (rounded), from the first InitialSpread on.
	RequestFraction float64
	// Duration is how long pods keep arriving.
	Duration time.Duration
	// Seed seeds every random draw.
	Seed int64
}

// InitialSpread is the period over which the initial population
// arrives at the start of a run.
const InitialSpread = 10 * time.Minute

// ReplaceDelay is the mean delay between a pod's end and the arrival of
// its replacement (exponentially distributed): the controller's
// reaction and the new pod's submission.
const ReplaceDelay = time.Minute

// Generate draws the workload. Each app is a set of replicas, as a
// Deployment keeps them: every replica's first pod arrives within
// InitialSpread, each pod lives an exponentially distributed lifetime
// (a restart, a rollout, a rescheduling, a finished job), and its
// replacement arrives ReplaceDelay later on average. The requested CPU
// therefore stays at RequestFraction of the capacity whatever the
// policy, while pods arrive at every hour of the day (as a Poisson
// process in aggregate: lifetimes are memoryless). Each app draws from
// its own stream of the seed, so adding an app does not change the
// others' pods.
func Generate(s WorkloadSpec) (*Workload, error) {
	apps := s.Apps
	if len(apps) == 0 {
		apps = DefaultApps()
	}
	if s.CapacityMilli <= 0 || s.RequestFraction <= 0 || s.RequestFraction > 1 || s.Duration <= 0 {
		return nil, errors.New("loadsim: the workload needs a positive capacity and duration and a request fraction in (0, 1]")
	}
	w := &Workload{Apps: slices.Clone(apps), shapes: make([][MinutesPerDay]float64, len(apps))}
	for ai := range w.Apps {
		a := &w.Apps[ai]
		if err := a.validate(); err != nil {
			return nil, fmt.Errorf("loadsim: %w", err)
		}
		for i := range w.shapes[ai] {
			w.shapes[ai][i] = a.Diurnal(float64(i) / 60)
		}
		rng := rand.New(rand.NewPCG(uint64(s.Seed), uint64(ai)+1))
		replicas := int(math.Round(a.Share * s.RequestFraction * float64(s.CapacityMilli) / float64(a.CPUMilli)))
		for range replicas {
			for t := time.Duration(rng.Float64() * float64(InitialSpread)); t < s.Duration; {
				p := w.drawPod(rng, ai, t)
				w.Pods = append(w.Pods, p)
				t = p.Arrival + p.Lifetime + time.Duration(rng.ExpFloat64()*float64(ReplaceDelay))
			}
		}
	}
	slices.SortStableFunc(w.Pods, func(a, b Pod) int {
		return cmp.Or(cmp.Compare(a.Arrival, b.Arrival), cmp.Compare(a.App, b.App))
	})
	for i := range w.Pods {
		w.Pods[i].Index = i
	}
	return w, nil
}

// drawPod draws one pod of app ai arriving at at; arrival times are
// kept to the second, as a trace would record them.
func (w *Workload) drawPod(rng *rand.Rand, ai int, at time.Duration) Pod {
	a := &w.Apps[ai]
	life := max(time.Duration(rng.ExpFloat64()*float64(a.MeanLifetime)), minLifetime).Round(time.Second)
	ratio := a.PeakRatio * math.Exp(a.RatioSpread*rng.NormFloat64()-a.RatioSpread*a.RatioSpread/2)
	shift := 0
	if j := int(a.PhaseJitter / time.Minute); j > 0 {
		shift = rng.IntN(2*j+1) - j
	}
	return Pod{App: ai, Arrival: at.Truncate(time.Second), Lifetime: life, Ratio: ratio, Shift: shift, seed: rng.Uint64()}
}

// Use is pod p's CPU use in milli-cores during simulated minute m (m
// minutes after the start, which is midnight): request × Ratio ×
// the app's curve at the pod's shifted minute of the day × (1 + noise),
// capped at the pod's limit. It depends on nothing but the pod and the
// minute.
func (w *Workload) Use(p *Pod, m int) float64 {
	a := &w.Apps[p.App]
	i := (m + p.Shift) % MinutesPerDay
	if i < 0 {
		i += MinutesPerDay
	}
	req := float64(a.CPUMilli)
	u := req * p.Ratio * w.shapes[p.App][i] * (1 + a.Noise*smoothNoise(p.seed, m))
	return min(max(u, 0), req*a.LimitRatio)
}

// smoothNoise is value noise in [-1, 1]: a pseudo-random value per
// noiseStep minutes, interpolated smoothly between knots.
func smoothNoise(seed uint64, m int) float64 {
	k := m / noiseStep
	if m < 0 && m%noiseStep != 0 {
		k--
	}
	f := float64(m-k*noiseStep) / noiseStep
	f = f * f * (3 - 2*f)
	a, b := knot(seed, k), knot(seed, k+1)
	return a + (b-a)*f
}

// knot hashes (seed, k) to a value in [-1, 1) with splitmix64.
func knot(seed uint64, k int) float64 {
	z := seed + uint64(k)*0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	z ^= z >> 31
	return float64(z>>11)/(1<<52) - 1
}

// RequestedMilli is the CPU the pods present at time t request: the
// packing every policy shares.
func (w *Workload) RequestedMilli(t time.Duration) int64 {
	var sum int64
	for i := range w.Pods {
		p := &w.Pods[i]
		if p.Arrival <= t && t < p.Arrival+p.Lifetime {
			sum += w.Apps[p.App].CPUMilli
		}
	}
	return sum
}
