package whatif

import (
	"sort"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	schedcache "github.com/berthsched/berth/pkg/scheduler/cache"
)

// ResultAPIVersion and ResultKind identify the JSON output, so scripts
// can check what they parse.
const (
	ResultAPIVersion = "whatif.berth.io/v1alpha1"
	ResultKind       = "WhatIf"
)

// Result is a what-if's answer.
type Result struct {
	metav1.TypeMeta `json:",inline"`
	Snapshot        SnapshotInfo `json:"snapshot"`
	Mode            Mode         `json:"mode"`
	Seed            uint64       `json:"seed"`
	// Changes describe the change compared with the baseline; empty
	// when the run only places the snapshot's pending pods.
	Changes []string `json:"changes,omitempty"`
	// Before and After count the pods each run placed and left pending.
	Before RunSummary `json:"before"`
	After  RunSummary `json:"after"`
	// Placements lists every pod either run placed or tried to, in the
	// baseline's queue order then the added pods.
	Placements []Placement `json:"placements"`
	// Moved are pods both runs placed, on different nodes; NewlyPending
	// pods the baseline placed and the change does not (or that the
	// change displaced and cannot place again); NewlyPlaced pods only
	// the change places; Added the change's new pods.
	Moved        []Placement `json:"moved,omitempty"`
	NewlyPending []Placement `json:"newlyPending,omitempty"`
	NewlyPlaced  []Placement `json:"newlyPlaced,omitempty"`
	StillPending []Placement `json:"stillPending,omitempty"`
	Added        RunSummary  `json:"added"`
	// Nodes and Zones are requested resources over allocatable, before
	// and after (nil where the node does not exist in that run).
	Nodes []NodeUsage `json:"nodes"`
	Zones []NodeUsage `json:"zones"`
	// Capacity answers the capacity question, if asked.
	Capacity *Capacity       `json:"capacity,omitempty"`
	Wall     metav1.Duration `json:"wall"`
}

// SnapshotInfo says which state the what-if ran on.
type SnapshotInfo struct {
	TakenAt metav1.Time `json:"takenAt"`
	Server  string      `json:"server,omitempty"`
	// Nodes and Pods count the snapshot's; Objects lists every kind's
	// count.
	Nodes   int    `json:"nodes"`
	Pods    int    `json:"pods"`
	Objects string `json:"objects"`
}

// RunSummary counts one run's outcome.
type RunSummary struct {
	Placed  int `json:"placed"`
	Pending int `json:"pending"`
}

// Placement is one pod's node in each run ("" when pending, with the
// reason) and whether its best node shared the top score with another
// (Tied: then the seed, not the scores, chose).
type Placement struct {
	Pod string `json:"pod"`
	// Was is the pod's node in the snapshot, for pods that were bound
	// and are placed again (displaced, or every pod in mode all).
	Was          string `json:"was,omitempty"`
	Before       string `json:"before,omitempty"`
	After        string `json:"after,omitempty"`
	BeforeReason string `json:"beforeReason,omitempty"`
	AfterReason  string `json:"afterReason,omitempty"`
	TiedBefore   bool   `json:"tiedBefore,omitempty"`
	TiedAfter    bool   `json:"tiedAfter,omitempty"`
	Added        bool   `json:"added,omitempty"`
	inBefore     bool
}

// Usage is requested over allocatable, in percent, and the pod count.
type Usage struct {
	CPU    float64 `json:"cpuPercent"`
	Memory float64 `json:"memoryPercent"`
	// GPU counts whole GPUs (nvidia.com/gpu); absent without GPUs.
	GPU  *float64 `json:"gpuPercent,omitempty"`
	Pods int      `json:"pods"`
	// Nodes counts the nodes behind a zone's figures.
	Nodes int `json:"nodes,omitempty"`

	cpu, cpuAlloc, mem, memAlloc, gpu, gpuAlloc int64
}

// NodeUsage is a node's or a zone's usage in each run.
type NodeUsage struct {
	Name   string `json:"name"`
	Zone   string `json:"zone,omitempty"`
	Before *Usage `json:"before,omitempty"`
	After  *Usage `json:"after,omitempty"`
}

// Capacity is how many more copies of a pod fit, and why the next does
// not.
type Capacity struct {
	Pod   string `json:"pod"`
	Fit   int    `json:"fit"`
	Limit int    `json:"limit"`
	// Reached is set when Limit copies fit (the answer is "at least").
	Reached bool `json:"reached,omitempty"`
	// PerZone counts the fitted copies by zone.
	PerZone map[string]int `json:"perZone,omitempty"`
	// Failure is the next copy's FailedScheduling message, ByZone its
	// most common rejection per zone, Summary a sentence of both.
	Failure string            `json:"failure,omitempty"`
	ByZone  map[string]string `json:"byZone,omitempty"`
	Summary string            `json:"summary"`
}

// diff compares the runs' placements.
func (r *Result) diff(before, after *outcome) {
	idx := map[string]int{}
	add := func(key string) *Placement {
		if i, ok := idx[key]; ok {
			return &r.Placements[i]
		}
		idx[key] = len(r.Placements)
		r.Placements = append(r.Placements, Placement{Pod: key})
		return &r.Placements[len(r.Placements)-1]
	}
	for _, k := range before.order {
		p := add(k)
		p.inBefore = true
		p.Was = before.in.unbound[k]
		p.Before, p.BeforeReason, p.TiedBefore = before.node[k], before.reason[k], before.tied[k]
		if p.Before != "" {
			r.Before.Placed++
		} else {
			r.Before.Pending++
		}
	}
	for _, k := range after.order {
		p := add(k)
		if p.Was == "" {
			p.Was = after.in.unbound[k]
		}
		p.Added = before != after && !p.inBefore && p.Was == ""
		p.After, p.AfterReason, p.TiedAfter = after.node[k], after.reason[k], after.tied[k]
		if p.After != "" {
			r.After.Placed++
		} else {
			r.After.Pending++
		}
		if p.Added {
			if p.After != "" {
				r.Added.Placed++
			} else {
				r.Added.Pending++
			}
		}
	}
	if before == after {
		return
	}
	for _, p := range r.Placements {
		// A pod the baseline did not place because it was bound (not
		// displaced) counts as placed where it was.
		b := p.Before
		if !p.inBefore {
			b = ""
		}
		switch {
		case p.Added:
		case b != "" && p.After != "" && b != p.After:
			r.Moved = append(r.Moved, p)
		case b != "" && p.After == "":
			r.NewlyPending = append(r.NewlyPending, p)
		case !p.inBefore && p.Was != "" && p.After == "":
			r.NewlyPending = append(r.NewlyPending, p)
		case !p.inBefore && p.Was != "" && p.After != p.Was:
			r.Moved = append(r.Moved, p)
		case p.inBefore && b == "" && p.After != "":
			r.NewlyPlaced = append(r.NewlyPlaced, p)
		case p.inBefore && b == "" && p.After == "":
			r.StillPending = append(r.StillPending, p)
		}
	}
}

// utilisation reads every node's requested and allocatable resources in
// both runs and sums them by zone.
func (r *Result) utilisation(before, after *outcome) {
	b := usageByNode(before)
	a := b
	if after != before {
		a = usageByNode(after)
	}
	names := map[string]string{}
	for n, u := range b {
		names[n] = u.zone
	}
	for n, u := range a {
		names[n] = u.zone
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	zones := map[string]*NodeUsage{}
	for _, n := range sorted {
		nu := NodeUsage{Name: n, Zone: names[n]}
		z := zones[zoneName(names[n])]
		if z == nil {
			z = &NodeUsage{Name: zoneName(names[n])}
			zones[z.Name] = z
		}
		if u, ok := b[n]; ok {
			nu.Before = u.usage.finish()
			z.Before = z.Before.sum(u.usage)
		}
		if u, ok := a[n]; ok {
			nu.After = u.usage.finish()
			z.After = z.After.sum(u.usage)
		}
		r.Nodes = append(r.Nodes, nu)
	}
	zs := make([]string, 0, len(zones))
	for z := range zones {
		zs = append(zs, z)
	}
	sort.Strings(zs)
	for _, z := range zs {
		nu := zones[z]
		nu.Before = nu.Before.finish()
		nu.After = nu.After.finish()
		r.Zones = append(r.Zones, *nu)
	}
}

type nodeUsage struct {
	zone  string
	usage *Usage
}

// gpuResource is the extended resource utilisation counts as GPUs.
const gpuResource v1.ResourceName = "nvidia.com/gpu"

func usageByNode(o *outcome) map[string]nodeUsage {
	snap := schedcache.NewEmptySnapshot()
	if err := o.Evaluator().Cache().UpdateSnapshot(klog.Background(), snap); err != nil {
		return nil
	}
	out := map[string]nodeUsage{}
	for _, ni := range snap.List() {
		n := ni.Node()
		if n == nil {
			continue
		}
		u := &Usage{
			Pods: len(ni.Pods),
			cpu:  ni.Requested.MilliCPU, cpuAlloc: ni.Allocatable.MilliCPU,
			mem: ni.Requested.Memory, memAlloc: ni.Allocatable.Memory,
			gpu: ni.Requested.Get(gpuResource), gpuAlloc: ni.Allocatable.Get(gpuResource),
		}
		out[n.Name] = nodeUsage{zone: n.Labels[ZoneLabel], usage: u}
	}
	return out
}

// sum adds a node's raw figures to a zone's.
func (u *Usage) sum(n *Usage) *Usage {
	if u == nil {
		u = &Usage{}
	}
	u.cpu += n.cpu
	u.cpuAlloc += n.cpuAlloc
	u.mem += n.mem
	u.memAlloc += n.memAlloc
	u.gpu += n.gpu
	u.gpuAlloc += n.gpuAlloc
	u.Pods += n.Pods
	u.Nodes++
	return u
}

// finish computes the percentages from the raw figures.
func (u *Usage) finish() *Usage {
	if u == nil {
		return nil
	}
	pct := func(used, total int64) float64 {
		if total <= 0 {
			return 0
		}
		return float64(used*1000/total) / 10
	}
	u.CPU, u.Memory = pct(u.cpu, u.cpuAlloc), pct(u.mem, u.memAlloc)
	if u.gpuAlloc > 0 {
		g := pct(u.gpu, u.gpuAlloc)
		u.GPU = &g
	}
	return u
}
