package bench

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/berthsched/berth/internal/nodegen"
)

//go:embed workloads/*.yaml
var builtinWorkloads embed.FS

// Scale names.
const (
	ScaleFull  = "full"
	ScaleSmall = "small"
	ScaleTiny  = "tiny"
)

// Workload is one benchmark scenario, loaded from a YAML file in
// test/bench/workloads. Counts live in Scales so one file describes the
// full, small and tiny variants.
type Workload struct {
	// Name identifies the workload (e.g. Basic).
	Name string `json:"name"`
	// Order sorts the built-in workloads in reports.
	Order int `json:"order"`
	// Description is one line for the report.
	Description string `json:"description"`
	// Nodes describes the fleet (the count is in Scales).
	Nodes NodeSpec `json:"nodes"`
	// InitialPods are created and bound by the harness (round-robin over the
	// nodes, with Binding calls) before the scheduler under test starts.
	// Their templates must not carry placement constraints.
	InitialPods []PodGroup `json:"initialPods"`
	// MeasuredPods are created while the scheduler under test runs; their
	// binds are timed. Pod i uses group i mod the weights, deterministically.
	MeasuredPods []PodGroup `json:"measuredPods"`
	// Churn, if set, deletes initial pods and creates churn pods while the
	// measured pods are created.
	Churn *Churn `json:"churn,omitempty"`
	// Scales holds the counts per scale (full, small, tiny).
	Scales map[string]Counts `json:"scales"`
	// Targets are reported against, never asserted.
	Targets Targets `json:"targets"`
}

// NodeSpec describes the nodes created with nodegen.
type NodeSpec struct {
	Profile string `json:"profile"`
	Zones   int    `json:"zones"`
}

// PodGroup is a weighted pod template.
type PodGroup struct {
	Name   string `json:"name"`
	Weight int    `json:"weight"`
	// Unschedulable marks pods that fit no node by design: they are not
	// expected to be bound, and the ceiling run does not bind them.
	Unschedulable bool `json:"unschedulable"`
	// Template is a Pod (metadata.labels and spec are used); the harness
	// sets the name, namespace, schedulerName, a zero grace period and
	// automountServiceAccountToken=false.
	Template v1.Pod `json:"template"`
}

// Churn knobs.
type Churn struct {
	// PerSecond initial pods are deleted, and as many churn pods created,
	// every second while measured pods are being created and scheduled.
	PerSecond int `json:"perSecond"`
	// Template of the churn pods (scheduled by the scheduler under test,
	// not timed).
	Template v1.Pod `json:"template"`
}

// Counts are the sizes at one scale.
type Counts struct {
	Nodes        int `json:"nodes"`
	InitialPods  int `json:"initialPods"`
	MeasuredPods int `json:"measuredPods"`
	// ChurnPerSecond overrides Churn.PerSecond at this scale.
	ChurnPerSecond int `json:"churnPerSecond,omitempty"`
}

// Targets the report compares against.
type Targets struct {
	// ThroughputVsKubeScheduler is the minimum berth/kube-scheduler
	// average-throughput ratio (0: none).
	ThroughputVsKubeScheduler float64 `json:"throughputVsKubeScheduler,omitempty"`
	// ThroughputVsCeiling is the minimum berth/ceiling ratio (0: none).
	ThroughputVsCeiling float64 `json:"throughputVsCeiling,omitempty"`
	// P99NoWorse: berth's p99 latency must not exceed kube-scheduler's.
	P99NoWorse bool `json:"p99NoWorse,omitempty"`
	// ZeroViolations: no placement-constraint violations.
	ZeroViolations bool `json:"zeroViolations,omitempty"`
}

// LoadWorkloads reads the built-in workloads, or every *.yaml file of dir
// if dir is not empty, sorted by Order then Name.
func LoadWorkloads(dir string) ([]*Workload, error) {
	var fsys fs.FS = builtinWorkloads
	pattern := "workloads/*.yaml"
	if dir != "" {
		fsys, pattern = os.DirFS(dir), "*.yaml"
	}
	files, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, err
	}
	var out []*Workload
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		w, err := ParseWorkload(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", filepath.Base(f), err)
		}
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Order != out[j].Order {
			return out[i].Order < out[j].Order
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// ParseWorkload decodes and validates one workload (strict YAML).
func ParseWorkload(data []byte) (*Workload, error) {
	w := &Workload{}
	if err := yaml.UnmarshalStrict(data, w); err != nil {
		return nil, err
	}
	return w, w.validate()
}

func (w *Workload) validate() error {
	if w.Name == "" {
		return fmt.Errorf("name is required")
	}
	if _, err := nodegen.ParseProfile(w.Nodes.Profile); err != nil {
		return err
	}
	if len(w.MeasuredPods) == 0 {
		return fmt.Errorf("%s: measuredPods needs at least one group", w.Name)
	}
	for _, groups := range [][]PodGroup{w.InitialPods, w.MeasuredPods} {
		for _, g := range groups {
			if g.Weight <= 0 {
				return fmt.Errorf("%s: pod group %q needs a positive weight", w.Name, g.Name)
			}
		}
	}
	for _, s := range []string{ScaleFull, ScaleSmall, ScaleTiny} {
		c, ok := w.Scales[s]
		if !ok {
			return fmt.Errorf("%s: scales.%s is missing", w.Name, s)
		}
		if c.Nodes <= 0 || c.MeasuredPods <= 0 || c.InitialPods < 0 {
			return fmt.Errorf("%s: scales.%s needs positive nodes and measuredPods", w.Name, s)
		}
		if c.InitialPods > 0 && len(w.InitialPods) == 0 {
			return fmt.Errorf("%s: scales.%s has initialPods but no initialPods templates", w.Name, s)
		}
	}
	return nil
}

// Counts returns the counts at scale.
func (w *Workload) Counts(scale string) (Counts, error) {
	c, ok := w.Scales[scale]
	if !ok {
		return Counts{}, fmt.Errorf("workload %s has no scale %q", w.Name, scale)
	}
	if c.ChurnPerSecond == 0 && w.Churn != nil {
		c.ChurnPerSecond = w.Churn.PerSecond
	}
	return c, nil
}

// groupFor returns the group of pod i: a deterministic weighted round-robin.
func groupFor(groups []PodGroup, i int) *PodGroup {
	total := 0
	for _, g := range groups {
		total += g.Weight
	}
	slot := i % total
	for k := range groups {
		if slot < groups[k].Weight {
			return &groups[k]
		}
		slot -= groups[k].Weight
	}
	return &groups[len(groups)-1]
}

// expectedSchedulable counts the measured pods not marked unschedulable.
func expectedSchedulable(groups []PodGroup, n int) int {
	c := 0
	for i := range n {
		if !groupFor(groups, i).Unschedulable {
			c++
		}
	}
	return c
}

// SelectWorkloads filters ws by a comma-separated list of names
// (case-insensitive); empty or "all" keeps everything.
func SelectWorkloads(ws []*Workload, names string) ([]*Workload, error) {
	if names == "" || names == "all" {
		return ws, nil
	}
	var out []*Workload
	for _, n := range strings.Split(names, ",") {
		n = strings.TrimSpace(n)
		found := false
		for _, w := range ws {
			if strings.EqualFold(w.Name, n) {
				out = append(out, w)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown workload %q", n)
		}
	}
	return out, nil
}
