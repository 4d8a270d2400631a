package simulate

import (
	"math"
	"time"

	"github.com/berthsched/berth/pkg/placement/gpu"
)

// Point is the cluster right after one pod arrived (and was placed or
// not): the protocol records one per pod.
type Point struct {
	// ArrivedGPUMilli is the GPU demand of every pod so far, placed or
	// not, in milli-GPU.
	ArrivedGPUMilli int64
	// AllocatedGPUMilli is the GPU held by the placed pods, in milli-GPU:
	// the sum of the cards' used shares.
	AllocatedGPUMilli int64
	// AllocatedCPUMilli is the CPU requested by the placed pods.
	AllocatedCPUMilli int64
	// Placed and Failed count the pods so far.
	Placed, Failed int
}

// Placement is where one pod went.
type Placement struct {
	// Pod and Node name the pod and its node.
	Pod, Node string
	// Cards are the card indexes GPUShare assigned (nil for a pod without
	// GPUs), MilliPerCard the share of each.
	Cards        []int
	MilliPerCard int64
}

// Result is one run of one policy.
type Result struct {
	// Policy is GPUShare's policy; Workload where FGD's typical workload
	// came from.
	Policy   string
	Workload WorkloadMode
	// Trace names the pod list; Seed, Tune and TieBreak are the
	// protocol's.
	Trace    string
	Seed     int64
	Tune     float64
	TieBreak TieBreak
	// Nodes counts the cluster's nodes; GPUCapacityMilli and
	// CPUCapacityMilli are its capacity.
	Nodes                              int
	GPUCapacityMilli, CPUCapacityMilli int64
	// Points has one entry per arriving pod, in arrival order.
	Points []Point
	// Placements lists the placed pods in arrival order; Failed names
	// those that fit nowhere.
	Placements []Placement
	Failed     []string
	// Wall is how long the run took.
	Wall time.Duration
}

// Label names the run in tables and charts: the policy, and for FGD the
// workload mode when it is not the default.
func (r *Result) Label() string {
	if r.Policy == gpu.FGD && r.Workload == WorkloadTrace {
		return r.Policy + "/" + string(WorkloadTrace)
	}
	return r.Policy
}

// Final is the last point (the zero Point for a run without pods).
func (r *Result) Final() Point {
	if len(r.Points) == 0 {
		return Point{}
	}
	return r.Points[len(r.Points)-1]
}

// FinalAllocPct is the GPU allocation at the end of the run, in percent
// of the capacity.
func (r *Result) FinalAllocPct() float64 {
	return pct(r.Final().AllocatedGPUMilli, r.GPUCapacityMilli)
}

// MaxArrivedPct is where the curve ends: tune × 100 when the run was
// tuned, else the demand that arrived, in percent of the capacity.
func (r *Result) MaxArrivedPct() int {
	if r.Tune > 0 {
		return int(math.Round(r.Tune * 100))
	}
	return int(roundHalfEven(pct(r.Final().ArrivedGPUMilli, r.GPUCapacityMilli), 0))
}

// Curve is the GPU allocation against the arrived demand, from 0% to
// MaxArrivedPct in 1% steps (see Curve).
func (r *Result) Curve() []CurvePoint {
	return Curve(r.Points, r.GPUCapacityMilli, r.MaxArrivedPct())
}

// AllocAt is the GPU allocation when arrivedPct percent of the capacity
// had arrived (the paper's headline number at 100), and whether the run
// has points there.
func (r *Result) AllocAt(arrivedPct int) (float64, bool) {
	for _, c := range Curve(r.Points, r.GPUCapacityMilli, arrivedPct) {
		if c.ArrivedPct == arrivedPct {
			return c.AllocPct, true
		}
	}
	return 0, false
}

// CurvePoint is the GPU allocation at one level of arrived demand.
type CurvePoint struct {
	// ArrivedPct is the arrived GPU demand, in whole percent of the
	// capacity.
	ArrivedPct int
	// AllocPct is the allocated GPU, in percent of the capacity.
	AllocPct float64
}

// Curve aggregates per-pod points as the paper's analysis does, so that
// the numbers compare: each point's arrived demand is rounded to a whole
// percent of the capacity (half to even) and its allocation to two
// decimals; the value at X% is the mean allocation of the points at X,
// or, if there are none, of those at X-1..X+1, rounded to two decimals.
// Levels from 0 to maxPct without any such point are left out.
func Curve(points []Point, capacityMilli int64, maxPct int) []CurvePoint {
	if capacityMilli <= 0 || maxPct < 0 {
		return nil
	}
	type bucket struct {
		sum float64
		n   int
	}
	buckets := make([]bucket, maxPct+2)
	for _, p := range points {
		x := int(roundHalfEven(pct(p.ArrivedGPUMilli, capacityMilli), 0))
		if x < 0 || x > maxPct+1 {
			continue
		}
		buckets[x].sum += roundHalfEven(pct(p.AllocatedGPUMilli, capacityMilli), 2)
		buckets[x].n++
	}
	var out []CurvePoint
	for x := 0; x <= maxPct; x++ {
		b := buckets[x]
		if b.n == 0 {
			for y := max(x-1, 0); y <= x+1; y++ {
				b.sum += buckets[y].sum
				b.n += buckets[y].n
			}
		}
		if b.n > 0 {
			out = append(out, CurvePoint{ArrivedPct: x, AllocPct: roundHalfEven(b.sum/float64(b.n), 2)})
		}
	}
	return out
}

// pct is v in percent of of, computed as the paper's analysis does (over
// the number of cards, then by 10) so that values on a rounding boundary
// round the same way.
func pct(v, of int64) float64 {
	if of <= 0 {
		return 0
	}
	return float64(v) / (float64(of) / float64(gpu.MilliPerCard)) / 10
}

// roundHalfEven rounds to the given decimals as NumPy does (scale, round
// half to even, unscale), which the paper's analysis uses.
func roundHalfEven(v float64, decimals int) float64 {
	s := math.Pow(10, float64(decimals))
	return math.RoundToEven(v*s) / s
}
