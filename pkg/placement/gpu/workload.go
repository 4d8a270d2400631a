package gpu

import (
	"slices"
	"sort"
	"strings"
	"sync"
)

// Shape is a request reduced to what fragmentation depends on: CPU and
// host memory, the share per card, the card count and the allowed models
// (normalized and joined with "|"). Pods of one shape are interchangeable to FGD.
type Shape struct {
	CPUMilli     int64
	HostMemMiB   int64
	MilliPerCard int64
	Count        int
	Models       string
}

// ShapeOf reduces a request to its shape.
func ShapeOf(r Request) Shape {
	s := Shape{CPUMilli: r.CPUMilli, HostMemMiB: r.HostMemMiB}
	if r.IsGPU() {
		s.MilliPerCard, s.Count = r.MilliPerCard, r.Count
		s.Models = strings.Join(NormalizeModels(r.Models), "|")
	}
	return s
}

// Request turns the shape back into a request.
func (s Shape) Request() Request {
	r := Request{Count: s.Count, MilliPerCard: s.MilliPerCard, CPUMilli: s.CPUMilli, HostMemMiB: s.HostMemMiB}
	if s.Models != "" {
		r.Models = strings.Split(s.Models, "|")
	}
	return r
}

// less orders shapes by CPU, share, count, then models.
func (s Shape) less(o Shape) bool {
	switch {
	case s.CPUMilli != o.CPUMilli:
		return s.CPUMilli < o.CPUMilli
	case s.HostMemMiB != o.HostMemMiB:
		return s.HostMemMiB < o.HostMemMiB
	case s.MilliPerCard != o.MilliPerCard:
		return s.MilliPerCard < o.MilliPerCard
	case s.Count != o.Count:
		return s.Count < o.Count
	}
	return s.Models < o.Models
}

// Typical is one shape of the typical workload and how often it arrives.
type Typical struct {
	Shape   Shape
	Request Request
	// P is the shape's share of arrivals among the typical shapes (they
	// sum to 1).
	P float64
}

// Distribution is the typical workload FGD measures fragmentation
// against. It is immutable; Workload publishes a new one as it learns.
type Distribution struct {
	// Version increases with every published distribution; caches of
	// values computed under one are keyed by it.
	Version uint64
	// Shapes are the typical shapes, most frequent first.
	Shapes []Typical
	// Observed is how many requests the window held when it was built.
	Observed int
	// cpuCuts and memCuts are the distinct CPU and memory requests of
	// the shapes, ascending: a node's free CPU and memory matter to
	// fragmentation only through how many of them they reach.
	cpuCuts, memCuts []int64
	// cpuPerCard is the typical GPU pod's CPU request per card.
	cpuPerCard float64
}

// rank counts the cuts that free reaches.
func rank(cuts []int64, free int64) int {
	return sort.Search(len(cuts), func(i int) bool { return cuts[i] > free })
}

// WorkloadConfig tunes the online learner.
type WorkloadConfig struct {
	// Window is how many recent requests the distribution is learned from
	// (default 5000).
	Window int
	// Coverage is the share of the window the typical shapes must cover,
	// most frequent first, in (0, 1] (default 0.95); rare shapes beyond it
	// are left out so that they do not dilute the distribution.
	Coverage float64
}

// DefaultWorkloadConfig is the learner's default.
var DefaultWorkloadConfig = WorkloadConfig{Window: 5000, Coverage: 0.95}

// Workload learns the typical workload online from the requests the
// scheduler sees: a sliding window of shapes whose most frequent ones,
// covering Coverage of the window, form the Distribution. It republishes
// when the window changed by a twentieth since the last distribution, so
// caches keyed by the version stay useful while the estimate follows the
// workload. It is safe for concurrent use.
type Workload struct {
	cfg WorkloadConfig

	mu      sync.Mutex
	ring    []Shape
	next    int
	counts  map[Shape]int
	since   int
	version uint64
	dist    *Distribution
	frozen  bool
}

// NewWorkload returns an empty learner; zero fields of cfg take the
// defaults.
func NewWorkload(cfg WorkloadConfig) *Workload {
	if cfg.Window <= 0 {
		cfg.Window = DefaultWorkloadConfig.Window
	}
	if cfg.Coverage <= 0 || cfg.Coverage > 1 {
		cfg.Coverage = DefaultWorkloadConfig.Coverage
	}
	return &Workload{cfg: cfg, counts: map[Shape]int{}, dist: &Distribution{}}
}

// Observe adds one arriving request to the window (nothing once frozen).
func (w *Workload) Observe(r Request) {
	s := ShapeOf(r)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.frozen {
		return
	}
	if len(w.ring) < w.cfg.Window {
		w.ring = append(w.ring, s)
	} else {
		old := w.ring[w.next]
		if w.counts[old]--; w.counts[old] == 0 {
			delete(w.counts, old)
		}
		w.ring[w.next] = s
		w.next = (w.next + 1) % w.cfg.Window
	}
	w.counts[s]++
	w.since++
}

// Distribution returns the current typical workload, rebuilding it first
// when the window changed enough since the last one.
func (w *Workload) Distribution() *Distribution {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.since > 0 && w.since*20 >= len(w.ring) {
		w.rebuild()
	}
	return w.dist
}

// Freeze publishes the distribution of the window now and keeps it: later
// observations are ignored. A simulation that knows its workload up front
// (the paper's protocol) seeds the window and freezes it.
func (w *Workload) Freeze() *Distribution {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rebuild()
	w.frozen = true
	return w.dist
}

// Refresh rebuilds the distribution now (after seeding a known workload).
func (w *Workload) Refresh() *Distribution {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rebuild()
	return w.dist
}

func (w *Workload) rebuild() {
	w.since = 0
	w.version++
	total := len(w.ring)
	shapes := make([]Typical, 0, len(w.counts))
	for s, c := range w.counts {
		shapes = append(shapes, Typical{Shape: s, P: float64(c)})
	}
	sort.Slice(shapes, func(i, j int) bool {
		if shapes[i].P != shapes[j].P {
			return shapes[i].P > shapes[j].P
		}
		return shapes[j].Shape.less(shapes[i].Shape)
	})
	need := w.cfg.Coverage * float64(total)
	covered, k := 0.0, 0
	for k < len(shapes) && covered < need {
		covered += shapes[k].P
		k++
	}
	shapes = shapes[:k]
	d := &Distribution{Version: w.version, Observed: total}
	for i := range shapes {
		shapes[i].P /= covered
		shapes[i].Request = shapes[i].Shape.Request()
		d.cpuCuts = append(d.cpuCuts, shapes[i].Shape.CPUMilli)
		d.memCuts = append(d.memCuts, shapes[i].Shape.HostMemMiB)
	}
	var cpu, cards float64
	for _, t := range shapes {
		if t.Request.IsGPU() {
			cpu += t.P * float64(t.Shape.CPUMilli)
			cards += t.P * float64(t.Shape.Count) * float64(t.Shape.MilliPerCard) / float64(MilliPerCard)
		}
	}
	if cards > 0 {
		d.cpuPerCard = cpu / cards
	}
	slices.Sort(d.cpuCuts)
	d.cpuCuts = slices.Compact(d.cpuCuts)
	slices.Sort(d.memCuts)
	d.memCuts = slices.Compact(d.memCuts)
	d.Shapes = shapes
	w.dist = d
}
