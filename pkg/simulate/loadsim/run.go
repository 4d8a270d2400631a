package loadsim

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	goruntime "runtime"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/metricsource"
	"github.com/berthsched/berth/pkg/plugins/defaultbinder"
	"github.com/berthsched/berth/pkg/plugins/loadaware"
	"github.com/berthsched/berth/pkg/plugins/noderesources"
	"github.com/berthsched/berth/pkg/plugins/prioritysort"
	"github.com/berthsched/berth/pkg/scheduler/cache"
	"github.com/berthsched/berth/pkg/scheduler/core"
	"github.com/berthsched/berth/pkg/scheduler/profile"
	"github.com/berthsched/berth/pkg/simulate"
)

// ProfileName is the schedulerName of the simulation's profiles.
const ProfileName = "berth-loadsim"

// Namespace is the namespace of the simulated pods.
const Namespace = "loadsim"

// Start is the simulated clock's origin, a Monday at midnight UTC: the
// apps' peak hours are hours of this clock.
var Start = time.Date(2025, time.January, 6, 0, 0, 0, 0, time.UTC)

// Size names a preset of Options.
type Size string

// The presets.
const (
	// SizeSmall runs in a few seconds: what `make test` runs.
	SizeSmall Size = "small"
	// SizeFull is the evaluation in docs/load-aware-evaluation.md.
	SizeFull Size = "full"
)

// Defaults of Options.
const (
	// DefaultNodeCPUMilli and DefaultNodeMemoryMiB are a common large
	// VM's allocatable: 32 CPU, 128 GiB.
	DefaultNodeCPUMilli  = 32000
	DefaultNodeMemoryMiB = 128 << 10
	// DefaultRequestFraction requests 70 % of the CPU: every pod fits
	// under every policy, and requests-only already has hot nodes.
	DefaultRequestFraction = 0.7
	// DefaultSystemOverhead is the kubelet's and daemons' CPU.
	DefaultSystemOverhead = 0.03
	// DefaultWarmupDays gives Holt-Winters its two 24-hour seasons.
	DefaultWarmupDays = 2
	// DefaultSeed is the seed of the documented runs.
	DefaultSeed = 1
)

// Options configure a run of every policy on the same workload.
type Options struct {
	// Nodes is the number of identical nodes.
	Nodes int
	// NodeCPUMilli and NodeMemoryMiB are each node's allocatable
	// (DefaultNodeCPUMilli, DefaultNodeMemoryMiB when 0).
	NodeCPUMilli  int64
	NodeMemoryMiB int64
	// WarmupDays are simulated before the measured period: the cluster
	// fills, and the forecast's history accumulates (Holt-Winters needs
	// two seasons). Nothing is measured during the warm-up, for any
	// policy.
	WarmupDays float64
	// Days is the measured period that follows.
	Days float64
	// Seed seeds the workload and the tie-breaks.
	Seed int64
	// RequestFraction is the mean requested CPU over the capacity
	// (DefaultRequestFraction when 0).
	RequestFraction float64
	// SystemOverhead is each node's CPU use besides its pods, as a
	// fraction (DefaultSystemOverhead when 0; negative for none).
	SystemOverhead float64
	// HotThreshold is the utilisation above which a node-minute is hot
	// (DefaultHotThreshold when 0).
	HotThreshold float64
	// Apps is the workload (DefaultApps when empty).
	Apps []App
	// Policies are the policies to compare (DefaultPolicies when empty).
	Policies []Policy
	// Registry builds the plugins (plugins.NewInTreeRegistry()); it must
	// hold PrioritySort, DefaultBinder, simulate.FilterPlugins and the
	// policies' request scorers. LoadAware is registered by the run over
	// its simulated source.
	Registry framework.Registry
	// Parallelism bounds the policies run at once (each on one
	// goroutine); <= 0 means GOMAXPROCS. Results do not depend on it.
	Parallelism int
	// Progress, if set, is called after every simulated hour of a
	// policy's run with the minutes done and the total. Calls are
	// serialised.
	Progress func(policy string, done, total int)
}

// SizeOptions returns the preset's options (to which the caller adds a
// Registry).
func SizeOptions(s Size) (Options, error) {
	switch s {
	case SizeSmall:
		return Options{Nodes: 20, WarmupDays: DefaultWarmupDays, Days: 1, Seed: DefaultSeed}, nil
	case SizeFull:
		return Options{Nodes: 150, WarmupDays: DefaultWarmupDays, Days: 4, Seed: DefaultSeed}, nil
	}
	return Options{}, fmt.Errorf("unknown size %q; valid sizes are %s and %s", s, SizeSmall, SizeFull)
}

// complete validates o and fills its defaults.
func (o *Options) complete() error {
	if o.Nodes <= 0 {
		return errors.New("loadsim: nodes must be positive")
	}
	if o.Days <= 0 || o.WarmupDays < 0 {
		return errors.New("loadsim: days must be positive and warm-up days not negative")
	}
	if o.minutes(o.WarmupDays+o.Days) > 366*MinutesPerDay {
		return errors.New("loadsim: a run of more than a year is not supported")
	}
	if o.Registry == nil {
		return errors.New("loadsim: no plugin registry")
	}
	if o.NodeCPUMilli == 0 {
		o.NodeCPUMilli = DefaultNodeCPUMilli
	}
	if o.NodeMemoryMiB == 0 {
		o.NodeMemoryMiB = DefaultNodeMemoryMiB
	}
	if o.NodeCPUMilli < 0 || o.NodeMemoryMiB < 0 {
		return errors.New("loadsim: node capacity must be positive")
	}
	if o.RequestFraction == 0 {
		o.RequestFraction = DefaultRequestFraction
	}
	if o.RequestFraction < 0 || o.RequestFraction > 1 {
		return errors.New("loadsim: the request fraction must be in (0, 1]")
	}
	switch {
	case o.SystemOverhead == 0:
		o.SystemOverhead = DefaultSystemOverhead
	case o.SystemOverhead < 0:
		o.SystemOverhead = 0
	case o.SystemOverhead >= 1:
		return errors.New("loadsim: the system overhead must be below 1")
	}
	if o.HotThreshold == 0 {
		o.HotThreshold = DefaultHotThreshold
	}
	if o.HotThreshold < 0 || o.HotThreshold >= 1 {
		return errors.New("loadsim: the hot threshold must be in (0, 1)")
	}
	if len(o.Apps) == 0 {
		o.Apps = DefaultApps()
	}
	if len(o.Policies) == 0 {
		o.Policies = DefaultPolicies()
	}
	names := map[string]bool{}
	for _, p := range o.Policies {
		if names[p.Name] {
			return fmt.Errorf("loadsim: two policies named %q", p.Name)
		}
		names[p.Name] = true
		if !p.RequestScorers && p.LoadAware == nil {
			return fmt.Errorf("loadsim: policy %q enables no scorer", p.Name)
		}
		if p.LoadAware != nil {
			_, c := newSourceConfig(p.LoadAware)
			if c.window > 0 && (c.step < time.Minute || c.step%time.Minute != 0 || c.interval < time.Minute) {
				return fmt.Errorf("loadsim: policy %q: the simulated source needs a history step in whole minutes and an interval of at least a minute", p.Name)
			}
		}
	}
	if o.Parallelism <= 0 {
		o.Parallelism = goruntime.GOMAXPROCS(0)
	}
	return nil
}

func (o *Options) minutes(days float64) int { return int(math.Round(days * MinutesPerDay)) }

// Report is the outcome of a run: the setup, and one Result per policy
// in the order of Options.Policies.
type Report struct {
	// Nodes, NodeCPUMilli and NodeMemoryMiB are the cluster.
	Nodes         int   `json:"nodes"`
	NodeCPUMilli  int64 `json:"nodeCPUMilli"`
	NodeMemoryMiB int64 `json:"nodeMemoryMiB"`
	// WarmupDays and Days are the unmeasured and measured periods.
	WarmupDays float64 `json:"warmupDays"`
	Days       float64 `json:"days"`
	// Seed seeded the workload and the tie-breaks.
	Seed int64 `json:"seed"`
	// RequestFraction, SystemOverhead and HotThreshold are the run's
	// completed Options.
	RequestFraction float64 `json:"requestFraction"`
	SystemOverhead  float64 `json:"systemOverhead"`
	HotThreshold    float64 `json:"hotThreshold"`
	// Apps is the workload's definition.
	Apps []App `json:"apps"`
	// Pods is the number of arrivals over the whole run.
	Pods int `json:"pods"`
	// Results holds one Result per policy.
	Results []*Result `json:"results"`
}

// Result is one policy's outcome.
type Result struct {
	Policy Policy `json:"policy"`
	// Placed and Failed count the arrivals of the whole run: equal
	// Placed across policies (and no Failed) is the same packing.
	Placed int `json:"placed"`
	Failed int `json:"failed"`
	// MeanRequested and MaxRequested are the cluster's requested CPU
	// over its capacity in the measured period.
	MeanRequested float64 `json:"meanRequested"`
	MaxRequested  float64 `json:"maxRequested"`
	// Metrics are the measured period's node-minutes.
	Metrics
	// Refits counts the simulated source's history refits, Models the
	// per-node forecasts by the model actually used (Holt-Winters falls
	// back to EWMA until two seasons of history exist).
	Refits int            `json:"refits,omitempty"`
	Models map[string]int `json:"models,omitempty"`
	// Wall is how long the policy's run took.
	Wall time.Duration `json:"wall"`
}

// Result returns the named policy's result, or nil.
func (r *Report) Result(policy string) *Result {
	for _, res := range r.Results {
		if res.Policy.Name == policy {
			return res
		}
	}
	return nil
}

// Run generates the workload once and runs every policy on it. Each run
// is sequential and deterministic: pods arrive in order, each is placed
// by core.Evaluate on a snapshot that holds the pods still running, the
// measured load is published every minute, and pods leave the snapshot
// when their lifetime ends. The plugins' logs are discarded: they
// report what a live scheduler would (nodes scored by requests before
// the first sample), which is noise in a simulation.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.complete(); err != nil {
		return nil, err
	}
	ctx = klog.NewContext(ctx, klog.Logger{})
	total := o.minutes(o.WarmupDays + o.Days)
	w, err := Generate(WorkloadSpec{Apps: o.Apps, CapacityMilli: int64(o.Nodes) * o.NodeCPUMilli, RequestFraction: o.RequestFraction,
		Duration: time.Duration(total) * time.Minute, Seed: o.Seed})
	if err != nil {
		return nil, err
	}
	rep := &Report{Nodes: o.Nodes, NodeCPUMilli: o.NodeCPUMilli, NodeMemoryMiB: o.NodeMemoryMiB, WarmupDays: o.WarmupDays, Days: o.Days,
		Seed: o.Seed, RequestFraction: o.RequestFraction, SystemOverhead: o.SystemOverhead, HotThreshold: o.HotThreshold,
		Apps: w.Apps, Pods: len(w.Pods), Results: make([]*Result, len(o.Policies))}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Parallelism)
	for i, p := range o.Policies {
		g.Go(func() error {
			var progress func(int, int)
			if o.Progress != nil {
				progress = func(done, total int) {
					mu.Lock()
					defer mu.Unlock()
					o.Progress(p.Name, done, total)
				}
			}
			res, err := runPolicy(gctx, &o, w, p, progress)
			if err != nil {
				return fmt.Errorf("policy %s: %w", p.Name, err)
			}
			rep.Results[i] = res
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return rep, nil
}

// running is a placed pod.
type running struct {
	pod   *Pod
	obj   *v1.Pod
	node  int
	start time.Duration
	// slot is the pod's index in its node's list.
	slot int
}

// end is when the pod leaves.
func (r *running) end() time.Duration { return r.pod.Arrival + r.pod.Lifetime }

// departures orders the running pods by the end of their life.
type departures []*running

func (d departures) Len() int { return len(d) }
func (d departures) Less(i, j int) bool {
	if ea, eb := d[i].end(), d[j].end(); ea != eb {
		return ea < eb
	}
	return d[i].pod.Index < d[j].pod.Index
}
func (d departures) Swap(i, j int) { d[i], d[j] = d[j], d[i] }
func (d *departures) Push(x any)   { *d = append(*d, x.(*running)) }
func (d *departures) Pop() any {
	old := *d
	r := old[len(old)-1]
	*d = old[:len(old)-1]
	return r
}

// sim is one policy's run.
type sim struct {
	o     *Options
	w     *Workload
	prof  *profile.Profile
	la    *loadaware.LoadAware
	src   *source
	snap  *cache.Snapshot
	rng   *rand.Rand
	names []string
	// now is the simulated time LoadAware's clock reads.
	now time.Time
	// pods[n] are node n's running pods; partial[n] the CPU (milli ×
	// minutes) of pods that left node n during the current minute.
	pods    [][]*running
	partial []float64
	byName  map[string]int
	leaving departures
	// next indexes the next arrival in w.Pods.
	next       int
	generation int64
	requested  int64
	res        *Result
}

func runPolicy(ctx context.Context, o *Options, w *Workload, p Policy, progress func(int, int)) (*Result, error) {
	wall := time.Now()
	s, err := newSim(ctx, o, w, p)
	if err != nil {
		return nil, err
	}
	if err := s.run(ctx, progress); err != nil {
		return nil, err
	}
	s.res.Wall = time.Since(wall)
	return s.res, nil
}

// newSim builds a policy's empty cluster, profile and source.
func newSim(ctx context.Context, o *Options, w *Workload, p Policy) (*sim, error) {
	s := &sim{o: o, w: w, rng: rand.New(rand.NewPCG(uint64(o.Seed), 0x5eed)), pods: make([][]*running, o.Nodes),
		partial: make([]float64, o.Nodes), byName: map[string]int{}, res: &Result{Policy: p}}
	nodes := make([]*v1.Node, o.Nodes)
	for i := range nodes {
		name := fmt.Sprintf("node-%03d", i)
		nodes[i] = simulate.NodeObject(simulate.NodeRecord{Name: name, CPUMilli: o.NodeCPUMilli, MemoryMiB: o.NodeMemoryMiB})
		s.names = append(s.names, name)
		s.byName[name] = i
	}
	s.snap = cache.NewSnapshot(nil, nodes)
	static := metricsource.NewStatic("synthetic")
	var err error
	s.prof, s.la, err = buildProfile(ctx, o.Registry, simulate.NewHandle(s.snap), p, static)
	if err != nil {
		return nil, err
	}
	if s.la != nil {
		s.la.SetClock(func() time.Time { return s.now })
		_, cfg := newSourceConfig(p.LoadAware)
		s.src = newSource(static, cfg, Start, s.names)
	}
	return s, nil
}

// run simulates the whole period, minute by minute, into s.res.
func (s *sim) run(ctx context.Context, progress func(int, int)) error {
	o, w, src := s.o, s.w, s.src
	total, warm := o.minutes(o.WarmupDays+o.Days), o.minutes(o.WarmupDays)
	capacity := float64(o.NodeCPUMilli)
	meter := &Meter{Threshold: o.HotThreshold}
	utils := make([]float64, o.Nodes)
	var reqSum float64
	for m := 0; m < total; m++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		t0 := time.Duration(m) * time.Minute
		t1 := t0 + time.Minute
		if m > 0 && src != nil {
			if err := src.publish(m, utils); err != nil {
				return err
			}
		}
		if err := s.advance(ctx, m, t1); err != nil {
			return err
		}
		for n := range s.pods {
			demand := s.partial[n]
			s.partial[n] = 0
			for _, r := range s.pods[n] {
				frac := 1.0
				if r.start > t0 {
					frac = float64(t1-r.start) / float64(time.Minute)
				}
				demand += w.Use(r.pod, m) * frac
			}
			d := demand/capacity + o.SystemOverhead
			utils[n] = min(d, 1)
			if m >= warm {
				meter.Add(n, m, d)
			}
		}
		if m >= warm {
			f := float64(s.requested) / (capacity * float64(o.Nodes))
			reqSum += f
			s.res.MaxRequested = max(s.res.MaxRequested, f)
		}
		if progress != nil && ((m+1)%60 == 0 || m+1 == total) {
			progress(m+1, total)
		}
	}
	s.res.Metrics = meter.Summary()
	if total > warm {
		s.res.MeanRequested = reqSum / float64(total-warm)
	}
	if src != nil {
		s.res.Refits = src.refits
		if len(src.models) > 0 {
			s.res.Models = src.models
		}
	}
	return nil
}

// advance takes the pods that leave and arrive before until, during
// minute m, in time order (a departure first at equal times).
func (s *sim) advance(ctx context.Context, m int, until time.Duration) error {
	for {
		depart, arrive := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
		if len(s.leaving) > 0 {
			depart = s.leaving[0].end()
		}
		if s.next < len(s.w.Pods) {
			arrive = s.w.Pods[s.next].Arrival
		}
		switch {
		case depart < until && depart <= arrive:
			if err := s.remove(heap.Pop(&s.leaving).(*running), m); err != nil {
				return err
			}
		case arrive < until:
			if err := s.place(ctx, &s.w.Pods[s.next]); err != nil {
				return err
			}
			s.next++
		default:
			return nil
		}
	}
}

// place schedules one arriving pod through the core and, if it fits,
// binds it in the snapshot and tells LoadAware (the simulation does not
// run Reserve).
func (s *sim) place(ctx context.Context, p *Pod) error {
	s.now = Start.Add(p.Arrival)
	obj := s.podObject(p)
	res, err := core.Evaluate(ctx, core.Request{
		Pod:              obj,
		State:            framework.NewCycleState(),
		Profile:          s.prof,
		Snapshot:         s.snap,
		Rand:             s.rng,
		EvaluateAllNodes: true,
		Parallelism:      1,
	})
	var fitErr *core.FitError
	if errors.As(err, &fitErr) {
		s.res.Failed++
		return nil
	}
	if err != nil {
		return err
	}
	host := res.SuggestedHost
	ni, err := s.snap.Get(host)
	if err != nil {
		return err
	}
	obj.Spec.NodeName = host
	ni.AddPod(obj)
	s.bump(ni)
	n := s.byName[host]
	r := &running{pod: p, obj: obj, node: n, start: p.Arrival, slot: len(s.pods[n])}
	s.pods[n] = append(s.pods[n], r)
	heap.Push(&s.leaving, r)
	s.requested += s.w.Apps[p.App].CPUMilli
	s.res.Placed++
	if s.la != nil {
		s.la.Observe(obj, host, s.now)
	}
	return nil
}

// remove takes a pod off its node at the end of its life, during
// minute m: its use up to then counts in the node's minute.
func (s *sim) remove(r *running, m int) error {
	end := r.end()
	s.now = Start.Add(end)
	from := max(r.start, time.Duration(m)*time.Minute)
	s.partial[r.node] += s.w.Use(r.pod, m) * float64(end-from) / float64(time.Minute)
	list := s.pods[r.node]
	last := list[len(list)-1]
	list[r.slot], last.slot = last, r.slot
	s.pods[r.node] = list[:len(list)-1]
	ni, err := s.snap.Get(s.names[r.node])
	if err != nil {
		return err
	}
	if err := ni.RemovePod(r.obj); err != nil {
		return err
	}
	s.bump(ni)
	s.requested -= s.w.Apps[r.pod.App].CPUMilli
	if s.la != nil {
		s.la.Forget(r.obj)
	}
	return nil
}

// bump gives a changed NodeInfo the next generation, so plugins that
// memoize node state by generation see the change.
func (s *sim) bump(ni *framework.NodeInfo) {
	s.generation++
	ni.Generation = s.generation
}

// podObject is the pod an arrival submits: one container requesting
// its app's CPU and memory, with a CPU limit of LimitRatio × request
// (the headroom its bursts use) and memory limited to its request.
func (s *sim) podObject(p *Pod) *v1.Pod {
	a := &s.w.Apps[p.App]
	cpu := resource.NewMilliQuantity(a.CPUMilli, resource.DecimalSI)
	mem := resource.NewQuantity(a.MemoryMiB<<20, resource.BinarySI)
	limit := resource.NewMilliQuantity(int64(math.Round(float64(a.CPUMilli)*a.LimitRatio)), resource.DecimalSI)
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: fmt.Sprintf("%s-%06d", a.Name, p.Index),
			UID: types.UID(fmt.Sprintf("loadsim-%06d", p.Index)), Labels: map[string]string{"app": a.Name}},
		Spec: v1.PodSpec{
			SchedulerName: ProfileName,
			Containers: []v1.Container{{
				Name: "main",
				Resources: v1.ResourceRequirements{
					Requests: v1.ResourceList{v1.ResourceCPU: *cpu, v1.ResourceMemory: *mem},
					Limits:   v1.ResourceList{v1.ResourceCPU: *limit, v1.ResourceMemory: mem.DeepCopy()},
				},
			}},
		},
	}
}

// buildProfile builds a policy's profile through profile.New: berth's
// default filters (simulate.FilterPlugins, with PrioritySort and
// DefaultBinder, which profile.New requires and the simulation never
// calls) at every point they implement, and the policy's scorers, weight
// 1, as the only PreScore and Score plugins. LoadAware is registered
// with a factory that builds it over src and returns the instance, whose
// clock and estimates the simulation drives.
func buildProfile(ctx context.Context, reg framework.Registry, h framework.Handle, p Policy, src metricsource.Source) (*profile.Profile, *loadaware.LoadAware, error) {
	reg = maps.Clone(reg)
	var la *loadaware.LoadAware
	var scorers []config.PluginRef
	args := map[string]runtime.Object{}
	if p.RequestScorers {
		scorers = append(scorers, config.PluginRef{Name: noderesources.Name, Weight: 1},
			config.PluginRef{Name: noderesources.BalancedAllocationName, Weight: 1})
	}
	if p.LoadAware != nil {
		entry := reg[loadaware.Name]
		entry.Factory = func(ctx context.Context, obj runtime.Object, h framework.Handle) (framework.Plugin, error) {
			pl, err := loadaware.NewWithSource(ctx, obj, h, src)
			if err != nil {
				return nil, err
			}
			la = pl
			return pl, nil
		}
		reg[loadaware.Name] = entry
		scorers = append(scorers, config.PluginRef{Name: loadaware.Name, Weight: 1})
		args[loadaware.Name] = p.LoadAware
	}
	multi := []config.PluginRef{{Name: prioritysort.Name}}
	for _, name := range simulate.FilterPlugins {
		multi = append(multi, config.PluginRef{Name: name})
	}
	multi = append(multi, config.PluginRef{Name: defaultbinder.Name})
	only := []string{"*"}
	cfg := config.Profile{
		SchedulerName: ProfileName,
		Plugins: map[config.ExtensionPoint]config.PluginSet{
			config.MultiPoint: {Enabled: multi},
			config.PreScore:   {Enabled: scorers, Disabled: only},
			config.Score:      {Enabled: scorers, Disabled: only},
		},
		PluginArgs: args,
	}
	prof, err := profile.New(ctx, reg, cfg, profile.Options{Handle: h, Parallelism: 1})
	if err != nil {
		return nil, nil, err
	}
	if p.LoadAware != nil && la == nil {
		return nil, nil, fmt.Errorf("the profile did not build %s", loadaware.Name)
	}
	return prof, la, nil
}
