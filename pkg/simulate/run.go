package simulate

import (
	"context"
	"errors"
	"fmt"
	"k8s.io/utils/ptr"
	"maps"
	"math/rand/v2"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"

	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/placement/gpu"
	"github.com/berthsched/berth/pkg/plugins/defaultbinder"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
	"github.com/berthsched/berth/pkg/plugins/prioritysort"
	"github.com/berthsched/berth/pkg/scheduler/cache"
	"github.com/berthsched/berth/pkg/scheduler/core"
	"github.com/berthsched/berth/pkg/scheduler/profile"
)

// Run replays the trace through berth's plugins and scheduling core, one
// pod at a time in the protocol's order (Arrivals): each pod is evaluated
// on every node (core.Evaluate), GPUShare reserves its cards on the
// chosen node, and the pod, annotated with its assignment as PreBind
// would, joins the snapshot. Pods never leave; a pod that fits nowhere is
// counted as failed. It returns one Point per pod.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.complete(); err != nil {
		return nil, err
	}
	start := time.Now()
	capacity := o.Trace.GPUCapacityMilli()
	arrivals := Arrivals(o.Trace.Pods, capacity, o.Seed, o.Tune)

	nodes := make([]*v1.Node, len(o.Trace.Nodes))
	var cpuCapacity int64
	for i, n := range o.Trace.Nodes {
		nodes[i] = NodeObject(n)
		cpuCapacity += n.CPUMilli
	}
	snap := cache.NewSnapshot(nil, nodes)
	window := o.Window
	if window == 0 && o.Workload == WorkloadTrace {
		window = min(len(o.Trace.Pods), gpushare.MaxWorkloadWindow)
	}
	prof, gs, err := buildProfile(ctx, o.Registry, &handle{snapshot: snap}, o.Parallelism, &gpushare.Args{
		Policy:         o.Policy,
		RandomSeed:     o.Seed,
		WorkloadWindow: int32(window),
		// Every node of the trace has GPUs and every pod must go to one:
		// where pods without GPUs go is part of the policy.
		ScoreCPUPods: ptr.To(true),
	})
	if err != nil {
		return nil, err
	}
	if o.Workload == WorkloadTrace {
		if err := seedWorkload(gs.Workload(), o.Trace.Pods); err != nil {
			return nil, err
		}
	}

	res := &Result{
		Policy: o.Policy, Workload: o.Workload, Trace: o.Trace.Name, Seed: o.Seed, Tune: o.Tune, TieBreak: o.TieBreak,
		Nodes: len(nodes), GPUCapacityMilli: capacity, CPUCapacityMilli: cpuCapacity,
		Points: make([]Point, 0, len(arrivals)),
	}
	s := &simulation{prof: prof, gpu: gs, snap: snap, rng: rand.New(rand.NewPCG(uint64(o.Seed), 0)), byName: o.TieBreak == TieBreakName, parallelism: o.Parallelism}
	var cur Point
	for i, rec := range arrivals {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cur.ArrivedGPUMilli += rec.GPUDemandMilli()
		pl, err := s.schedule(ctx, PodObject(rec, podUID(i)))
		if err != nil {
			return nil, fmt.Errorf("pod %s: %w", rec.Name, err)
		}
		if pl == nil {
			cur.Failed++
			res.Failed = append(res.Failed, rec.Name)
		} else {
			cur.Placed++
			cur.AllocatedGPUMilli += rec.GPUDemandMilli()
			cur.AllocatedCPUMilli += rec.CPUMilli
			res.Placements = append(res.Placements, *pl)
		}
		res.Points = append(res.Points, cur)
		if o.Progress != nil {
			o.Progress(i+1, len(arrivals))
		}
	}
	res.Wall = time.Since(start)
	return res, nil
}

// seedWorkload feeds the learner every pod of the trace and freezes the
// distribution, as the paper computes it once from the whole trace.
func seedWorkload(w *gpu.Workload, pods []PodRecord) error {
	for _, p := range pods {
		r, err := gpushare.PodRequest(PodObject(p, ""), gpushare.DefaultResourceName)
		if err != nil {
			return fmt.Errorf("pod %s: %w", p.Name, err)
		}
		w.Observe(r)
	}
	w.Freeze()
	return nil
}

// simulation is the state of one run between pods.
type simulation struct {
	prof        *profile.Profile
	gpu         *gpushare.GPUShare
	snap        *cache.Snapshot
	rng         *rand.Rand
	byName      bool
	parallelism int
	// generation numbers the snapshot's changes; every NodeInfo a pod
	// joins takes the next one, so that plugins memoizing node state by
	// NodeInfo.Generation (GPUShare) see the change.
	generation int64
}

// schedule places one pod: evaluate, Reserve on the chosen node, then add
// the pod, bound and annotated, to the snapshot. It returns nil when the
// pod fits nowhere, and an error only for an internal failure.
func (s *simulation) schedule(ctx context.Context, pod *v1.Pod) (*Placement, error) {
	state := framework.NewCycleState()
	res, err := core.Evaluate(ctx, core.Request{
		Pod:              pod,
		State:            state,
		Profile:          s.prof,
		Snapshot:         s.snap,
		Rand:             s.rng,
		TieBreakByName:   s.byName,
		EvaluateAllNodes: true,
		Parallelism:      s.parallelism,
	})
	var fitErr *core.FitError
	if errors.As(err, &fitErr) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	host := res.SuggestedHost
	if st := s.prof.RunReservePluginsReserve(ctx, state, pod, host); !st.IsSuccess() {
		s.prof.RunReservePluginsUnreserve(ctx, state, pod, host)
		// Filter passed the node on the same snapshot: a plugin that
		// disagrees with itself is a bug, not an unschedulable pod.
		return nil, fmt.Errorf("reserve on node %s, which passed Filter: %s", host, st.Message())
	}
	pl := &Placement{Pod: pod.Name, Node: host}
	val, err := s.gpu.AssignmentFor(state, host)
	if err != nil {
		return nil, err
	}
	if val != "" {
		a, err := gpushare.ParseAssignment(val)
		if err != nil {
			return nil, err
		}
		pl.Cards, pl.MilliPerCard = a.Cards, a.Milli
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		pod.Annotations[gpushare.AnnotationAssignment] = val
	}
	ni, err := s.snap.Get(host)
	if err != nil {
		return nil, err
	}
	pod.Spec.NodeName = host
	ni.AddPod(pod)
	s.generation++
	ni.Generation = s.generation
	return pl, nil
}

// buildProfile builds the simulation's profile through profile.New from
// the registry: FilterPlugins and GPUShare at every point they implement
// (queue sort and bind come from PrioritySort and DefaultBinder, which
// profile.New requires and the simulation never calls), and GPUShare,
// weight 1, as the only PreScore and Score plugin, so the policy alone
// ranks nodes. It also returns the GPUShare instance, whose assignment
// and learner the simulation reads.
func buildProfile(ctx context.Context, reg framework.Registry, h framework.Handle, parallelism int, args *gpushare.Args) (*profile.Profile, *gpushare.GPUShare, error) {
	reg = maps.Clone(reg)
	entry, ok := reg[gpushare.Name]
	if !ok {
		return nil, nil, fmt.Errorf("the plugin registry has no %s", gpushare.Name)
	}
	var gs *gpushare.GPUShare
	factory := entry.Factory
	entry.Factory = func(ctx context.Context, obj runtime.Object, h framework.Handle) (framework.Plugin, error) {
		pl, err := factory(ctx, obj, h)
		if g, ok := pl.(*gpushare.GPUShare); ok {
			gs = g
		}
		return pl, err
	}
	reg[gpushare.Name] = entry

	multi := []config.PluginRef{{Name: prioritysort.Name}}
	for _, name := range FilterPlugins {
		multi = append(multi, config.PluginRef{Name: name})
	}
	multi = append(multi, config.PluginRef{Name: gpushare.Name}, config.PluginRef{Name: defaultbinder.Name})
	only := []string{"*"}
	cfg := config.Profile{
		SchedulerName: ProfileName,
		Plugins: map[config.ExtensionPoint]config.PluginSet{
			config.MultiPoint: {Enabled: multi},
			config.PreScore:   {Enabled: []config.PluginRef{{Name: gpushare.Name}}, Disabled: only},
			config.Score:      {Enabled: []config.PluginRef{{Name: gpushare.Name, Weight: 1}}, Disabled: only},
		},
		PluginArgs: map[string]runtime.Object{gpushare.Name: args},
	}
	prof, err := profile.New(ctx, reg, cfg, profile.Options{Handle: h, Parallelism: parallelism})
	if err != nil {
		return nil, nil, err
	}
	if gs == nil {
		return nil, nil, fmt.Errorf("the registry's %s factory does not build a *gpushare.GPUShare", gpushare.Name)
	}
	return prof, gs, nil
}

// handle is the plugins' view of the simulation: the snapshot, and nothing
// that talks to a cluster (no client, no informers, no events, no
// preemption, no queue).
type handle struct {
	snapshot framework.SharedLister
}

var _ framework.Handle = (*handle)(nil)

// NewHandle returns the handle a simulation gives its plugins: the
// snapshot, and nothing that talks to a cluster (no client, no informers,
// events dropped, no preemption, no queue). The other simulations
// (loadsim) build their profiles with it.
func NewHandle(snapshot framework.SharedLister) framework.Handle { return &handle{snapshot: snapshot} }

func (h *handle) SnapshotSharedLister() framework.SharedLister           { return h.snapshot }
func (h *handle) ClientSet() kubernetes.Interface                        { return nil }
func (h *handle) SharedInformerFactory() informers.SharedInformerFactory { return nil }
func (h *handle) DynamicInformerFactory() dynamicinformer.DynamicSharedInformerFactory {
	return nil
}
func (h *handle) EventRecorder() events.EventRecorder       { return &events.FakeRecorder{} }
func (h *handle) GetWaitingPod(string) framework.WaitingPod { return nil }
func (h *handle) Preemption() framework.Preemption          { return nil }
func (h *handle) PodActivator() framework.PodActivator      { return nil }
