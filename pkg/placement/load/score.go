package load

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Mode selects how a node's load becomes a score.
type Mode string

// The scoring modes.
const (
	// LeastUtilized prefers the node with the most idle capacity: it
	// spreads load.
	LeastUtilized Mode = "leastUtilized"
	// TargetLoadPacking prefers nodes whose utilisation after placing the
	// pod is closest to a target (below it first), so nodes fill up to
	// the target and the rest stay free for bursts or scale-down.
	TargetLoadPacking Mode = "targetLoadPacking"
	// RiskBalancing prefers the node whose riskiest resource (mean plus k
	// standard deviations over the history window) stays lowest, so
	// nodes whose load swings are avoided even when they look idle now.
	RiskBalancing Mode = "riskBalancing"
)

// Modes lists the valid modes, for validation messages.
func Modes() []string {
	return []string{string(LeastUtilized), string(TargetLoadPacking), string(RiskBalancing)}
}

// Policy is the scoring configuration, decoded once from plugin args.
type Policy struct {
	Mode Mode
	// Weights weigh each resource in the score; 0 leaves it out. GPU
	// counts only for pods that request GPUs (the plugin zeroes it for
	// the others).
	Weights [NumResources]float64
	// Target is TargetLoadPacking's utilisation target (fraction).
	Target float64
	// RiskK is k in mean + k·σ.
	RiskK float64
	// TTL is how old a sample may be and still be trusted.
	TTL time.Duration
	// Warmup is how long a pod runs before a sample reflects it: pods
	// placed less than Warmup before a sample's window began are still
	// counted as estimates.
	Warmup time.Duration
	// UseForecast scores on the forecast peak where it is higher than the
	// current value, so a node about to peak is avoided.
	UseForecast bool
	// Thresholds refuse a node (Filter) whose measured utilisation plus
	// estimates is above them; 0 means no threshold.
	Thresholds [NumResources]float64
}

// Placement is a pod on a node as the estimates see it: when it was
// placed and the share of the node's capacity it is expected to use.
type Placement struct {
	At    time.Time
	Share [NumResources]float64
}

// NodeState is what the scorer needs to know about one node: its load
// (nil when the source has none), and for the fallback and the estimates
// its requests and the pods on it.
type NodeState struct {
	Name string
	Load *NodeLoad
	// Requested and Allocatable are in the same units per resource (milli
	// CPU, bytes, GPUs); DiskIO has no requests.
	Requested, Allocatable [NumResources]float64
	// Placed are the node's pods, with their placement time.
	Placed []Placement
	// Problem is the source's explanation when Load is nil or lacks a
	// resource (the snapshot's error or the metric's problem).
	Problem string
}

// View is one node's load as the scores see it: measured utilisation plus
// estimates, or request-based utilisation when the measurements cannot be
// trusted (ByRequests, with the Reason to show in explain).
type View struct {
	ByRequests bool
	Reason     string
	// Util is the utilisation per resource (fraction), estimates included.
	Util [NumResources]float64
	// Estimated is the part of Util that estimates pods placed since the
	// sample; EstimatedPods counts those pods.
	Estimated     [NumResources]float64
	EstimatedPods int
	// Fresh marks the resources with a trusted measurement, and Measured
	// holds it (estimates included) even when the view is scored by
	// requests: thresholds apply to every trusted measurement.
	Fresh    [NumResources]bool
	Measured [NumResources]float64
	// Age is the age of the oldest measurement used.
	Age time.Duration
	// Peak is the forecast peak plus estimates, where HasPeak.
	Peak    [NumResources]float64
	HasPeak [NumResources]bool
	// Risk is mean + k·σ plus estimates, where HasRisk.
	Risk    [NumResources]float64
	HasRisk [NumResources]bool
}

// View applies the freshness contract to one node: if every resource the
// pod is scored by (weights > 0) has a sample younger than the TTL, the
// view holds the measurements plus the estimates of pods placed since;
// otherwise it holds requests over allocatable and says why.
func (p *Policy) View(now time.Time, ns NodeState, weights [NumResources]float64) View {
	var v View
	nl := ns.Load
	var missing, stale []string
	for r := Resource(0); r < NumResources; r++ {
		if nl == nil || !nl.Samples[r].Valid() {
			if weights[r] > 0 {
				missing = append(missing, r.String())
			}
			continue
		}
		s := nl.Samples[r]
		age := now.Sub(s.Time)
		if age < 0 {
			age = 0
		}
		if p.TTL > 0 && age > p.TTL {
			if weights[r] > 0 {
				stale = append(stale, r.String())
				v.Age = max(v.Age, age)
			}
			continue
		}
		v.Fresh[r] = true
	}
	if len(missing) > 0 || len(stale) > 0 {
		v.ByRequests = true
		switch {
		case len(missing) > 0 && nl == nil:
			v.Reason = fmt.Sprintf("no load data for %s", ns.Name)
		case len(missing) > 0:
			v.Reason = fmt.Sprintf("no %s data for %s", strings.Join(missing, "/"), ns.Name)
		default:
			v.Reason = fmt.Sprintf("load data for %s is %s old (ttl %s)", ns.Name, roundAge(v.Age), p.TTL)
		}
		if ns.Problem != "" && len(missing) > 0 {
			v.Reason += " (" + ns.Problem + ")"
		}
		v.Reason += "; scored by requests"
		for r := Resource(0); r < NumResources; r++ {
			if ns.Allocatable[r] > 0 {
				v.Util[r] = ns.Requested[r] / ns.Allocatable[r]
			}
		}
		p.addMeasured(&v, now, ns)
		return v
	}
	p.addMeasured(&v, now, ns)
	return v
}

// addMeasured fills the fresh resources' measured values and estimates,
// and unless the view is scored by requests their Util, peaks and risks.
// A view scored by requests keeps its measured values for the
// thresholds: a stale GPU sample must not let a node whose CPU is
// measured at 99 % through.
func (p *Policy) addMeasured(v *View, now time.Time, ns NodeState) {
	nl := ns.Load
	if nl == nil {
		return
	}
	counted := make([]bool, len(ns.Placed))
	for r := Resource(0); r < NumResources; r++ {
		if !v.Fresh[r] {
			continue
		}
		s := nl.Samples[r]
		v.Age = max(v.Age, max(now.Sub(s.Time), 0))
		cut := s.Time.Add(-s.Window - p.Warmup)
		est := 0.0
		for i, pl := range ns.Placed {
			if pl.At.After(cut) && pl.Share[r] > 0 {
				est += pl.Share[r]
				counted[i] = true
			}
		}
		v.Measured[r] = s.Value + est
		if v.ByRequests {
			continue
		}
		v.Estimated[r] = est
		v.Util[r] = v.Measured[r]
		if nl.HasForecast[r] {
			v.Peak[r], v.HasPeak[r] = nl.Peak[r]+est, true
		}
		if nl.HasStats[r] {
			v.Risk[r], v.HasRisk[r] = nl.Mean[r]+p.RiskK*nl.Std[r]+est, true
		}
	}
	if !v.ByRequests {
		for _, c := range counted {
			if c {
				v.EstimatedPods++
			}
		}
	}
}

// Exceeds reports the first resource whose trusted measured utilisation
// (estimates included) is above its threshold. Nodes without trusted data
// never exceed: an unreachable source must not block scheduling.
func (p *Policy) Exceeds(v View) (Resource, float64, bool) {
	for r := Resource(0); r < NumResources; r++ {
		if t := p.Thresholds[r]; t > 0 && v.Fresh[r] && v.Measured[r] > t {
			return r, v.Measured[r], true
		}
	}
	return 0, 0, false
}

// Score ranks one node for a pod expected to use podShare of its
// capacity per resource, in [0, 100]. weights are the policy's weights
// as they apply to this pod.
func (p *Policy) Score(v View, podShare [NumResources]float64, weights [NumResources]float64) int64 {
	var sum, wsum float64
	worst := math.Inf(1)
	for r := Resource(0); r < NumResources; r++ {
		w := weights[r]
		if w <= 0 {
			continue
		}
		u := v.Util[r] + podShare[r]
		if p.UseForecast && v.HasPeak[r] {
			u = max(u, v.Peak[r]+podShare[r])
		}
		var s float64
		switch p.Mode {
		case TargetLoadPacking:
			s = targetScore(u, p.Target)
		case RiskBalancing:
			risk := u
			if v.HasRisk[r] {
				risk = max(v.Risk[r]+podShare[r], 0)
			}
			s = 1 - clamp01(risk)
			worst = min(worst, s)
		default:
			s = 1 - clamp01(u)
		}
		sum += w * s
		wsum += w
	}
	if wsum == 0 {
		return 0
	}
	if p.Mode == RiskBalancing {
		return int64(math.Round(100 * worst))
	}
	return int64(math.Round(100 * sum / wsum))
}

// targetScore is 1 at the target, falls linearly to 0.5 for an idle node
// (packing below the target is preferred to an empty node) and to 0 at
// full utilisation (above the target is worst).
func targetScore(u, target float64) float64 {
	if target <= 0 || target >= 1 {
		return 1 - clamp01(u)
	}
	switch {
	case u < 0:
		return 0.5
	case u <= target:
		return 0.5 + 0.5*u/target
	case u < 1:
		return (1 - u) / (1 - target)
	default:
		return 0
	}
}

func clamp01(v float64) float64 { return min(max(v, 0), 1) }

func roundAge(d time.Duration) time.Duration {
	if d >= time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}

// Describe renders the view for explain: either the fallback reason or
// the measured values, e.g. "cpu 62% (+8% estimated for 2 pods placed
// since the sample), memory 40%; sample 20s old; forecast cpu peak 75%".
func (p *Policy) Describe(v View, weights [NumResources]float64) string {
	if v.ByRequests {
		return v.Reason
	}
	var parts []string
	for r := Resource(0); r < NumResources; r++ {
		if weights[r] <= 0 && p.Thresholds[r] <= 0 {
			continue
		}
		s := fmt.Sprintf("%s %s", r, pct(v.Util[r]))
		if v.Estimated[r] > 0 {
			s += fmt.Sprintf(" (+%s estimated)", pct(v.Estimated[r]))
		}
		if p.UseForecast && v.HasPeak[r] {
			s += fmt.Sprintf(", forecast peak %s", pct(v.Peak[r]))
		}
		if p.Mode == RiskBalancing && v.HasRisk[r] {
			s += fmt.Sprintf(", risk %s", pct(v.Risk[r]))
		}
		parts = append(parts, s)
	}
	out := "measured " + strings.Join(parts, ", ")
	if v.EstimatedPods > 0 {
		out += fmt.Sprintf("; %d pod(s) placed since the sample counted as estimates", v.EstimatedPods)
	}
	return out + fmt.Sprintf("; data %s old", roundAge(v.Age))
}

func pct(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) }
