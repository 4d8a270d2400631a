package scheduler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/framework"
	schedcache "github.com/berthsched/berth/pkg/scheduler/cache"
	"github.com/berthsched/berth/pkg/scheduler/core"
	"github.com/berthsched/berth/pkg/scheduler/profile"
)

// EvaluatorOptions configure NewEvaluator.
type EvaluatorOptions struct {
	// Config and Registry build the profiles, as for the scheduler.
	Config   *config.Config
	Registry framework.Registry
	// InformerFactory is where plugins register the listers they read
	// (volumes, PDBs …); the caller starts and syncs it after
	// NewEvaluator returns.
	InformerFactory informers.SharedInformerFactory
	// DynamicInformerFactory is where plugins read custom resources; nil
	// when none is needed.
	DynamicInformerFactory dynamicinformer.DynamicSharedInformerFactory
	// Client is given to plugins; an evaluation never writes through it
	// (no Reserve, Permit, PreBind or Bind runs). The extender's bind verb
	// runs the profile's Reserve, PreBind and Bind itself, which do.
	Client kubernetes.Interface
	// Cache holds the nodes and pods to evaluate against; nil gives the
	// evaluator an empty one of its own to fill (Cache()).
	Cache *schedcache.Cache
	// Recorder is given to plugins; nil records nothing.
	Recorder events.EventRecorder
}

// Evaluator runs the scheduling core on demand, outside the scheduling
// loop: no queue, no binding and no preemption (its plugins' Handle has no
// Preemption), every node evaluated. `berth explain` builds one over a
// snapshot of the live cluster; the running scheduler builds one over its
// own cache for /debug/explain, so assumed and nominated pods count.
//
// Evaluations are serialised: the snapshot is shared by the profiles'
// plugins (through their Handle).
type Evaluator struct {
	cache     *schedcache.Cache
	snapshot  *schedcache.Snapshot
	profiles  map[string]*profile.Profile
	nominator *nominator
	cfg       *config.Config

	mu sync.Mutex
}

// NewEvaluator builds the profiles of opts.Config over an evaluator-owned
// snapshot.
func NewEvaluator(ctx context.Context, opts EvaluatorOptions) (*Evaluator, error) {
	return newEvaluator(ctx, opts, newNominator())
}

func newEvaluator(ctx context.Context, opts EvaluatorOptions, nom *nominator) (*Evaluator, error) {
	e := &Evaluator{
		cache:     opts.Cache,
		snapshot:  schedcache.NewEmptySnapshot(),
		profiles:  map[string]*profile.Profile{},
		nominator: nom,
		cfg:       opts.Config,
	}
	if e.cache == nil {
		e.cache = schedcache.New(DefaultAssumedPodTTL, clock.RealClock{}, nil)
	}
	rec := opts.Recorder
	if rec == nil {
		// A FakeRecorder without a channel drops events: evaluations have
		// no side effects (NewFakeRecorder(0) would block the first plugin
		// that records one, for ever).
		rec = &events.FakeRecorder{}
	}
	for _, pc := range opts.Config.Profiles {
		h := &handle{snapshot: e.snapshot, client: opts.Client, factory: opts.InformerFactory, dynamic: opts.DynamicInformerFactory, recorder: rec}
		p, err := profile.New(ctx, opts.Registry, pc, profile.Options{Handle: h, Parallelism: opts.Config.Parallelism})
		if err != nil {
			return nil, err
		}
		e.profiles[pc.SchedulerName] = p
	}
	return e, nil
}

// Cache is where the caller adds the nodes and bound pods to evaluate
// against (when the evaluator owns it).
func (e *Evaluator) Cache() *schedcache.Cache { return e.cache }

// Nominate records pod as nominated to its status.nominatedNodeName, so
// evaluations keep that node's room for it as the scheduler does.
func (e *Evaluator) Nominate(logger klog.Logger, pod *v1.Pod) {
	e.nominator.AddNominatedPod(logger, pod, "")
}

// Unnominate forgets pod's nomination (the pod was deleted).
func (e *Evaluator) Unnominate(pod *v1.Pod) { e.nominator.DeleteNominatedPodIfExists(pod) }

// Nominator is the evaluator's record of nominated pods (the scheduler's
// own, for an evaluator over its cache), for what-if filter runs that must
// keep nominees' room as the evaluation does.
func (e *Evaluator) Nominator() core.Nominator { return e.nominator }

// WaitForSync waits until every profile's framework.SyncedPlugins have
// synced, after the informer factory's own sync; evaluating before would
// answer from a partial view (DynamicResources refuses to).
func (e *Evaluator) WaitForSync(ctx context.Context) error {
	synced := make([]cache.InformerSynced, 0, len(e.profiles))
	for _, p := range e.profiles {
		synced = append(synced, p.PluginsSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("plugins did not sync: %w", ctx.Err())
	}
	return nil
}

// Profile returns the profile serving schedulerName, or nil.
func (e *Evaluator) Profile(schedulerName string) *profile.Profile { return e.profiles[schedulerName] }

// EvaluateOptions tune one evaluation.
type EvaluateOptions struct {
	// TopK is how many feasible nodes' scores to break down by plugin.
	TopK int
	// TraceNode names a node on which every Filter plugin is run.
	TraceNode string
	// Seed seeds the tie-breaking random source, so the same state gives
	// the same answer.
	Seed uint64
	// TieBreakByName breaks ties by node name instead (core.Request).
	TieBreakByName bool
	// AllowedNodes, if set, restricts the evaluation to these nodes (the
	// extender's candidates, which kube-scheduler has already filtered);
	// the others are reported as AllowedNodesReason.
	AllowedNodes       sets.Set[string]
	AllowedNodesReason string
}

// Evaluation is one evaluation's outcome: the core's result (its error a
// *core.FitError when the pod fits nowhere) and the snapshot it read.
type Evaluation struct {
	Result core.Result
	Err    error
	// Snapshot is the state evaluated; valid until the next Evaluate.
	Snapshot *schedcache.Snapshot
	// Profile is the profile that evaluated the pod.
	Profile *profile.Profile
	// State is the pod's cycle state after the evaluation; what-ifs
	// clone it to filter changed nodes without running PreFilter again.
	// It is meaningless when PreFilter rejected the pod
	// (Result.Diagnosis.PreFilterMsg is set).
	State *framework.CycleState
}

// Evaluate runs the core for pod over every node of the cache as it is
// now. It fails only when no profile serves the pod's schedulerName.
func (e *Evaluator) Evaluate(ctx context.Context, pod *v1.Pod, o EvaluateOptions) (*Evaluation, error) {
	prof := e.profiles[pod.Spec.SchedulerName]
	if prof == nil {
		return nil, fmt.Errorf("no profile serves schedulerName %q (profiles: %v)", pod.Spec.SchedulerName, e.profileNames())
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.cache.UpdateSnapshot(klog.FromContext(ctx), e.snapshot); err != nil {
		return nil, err
	}
	state := framework.NewCycleState()
	res, err := core.Evaluate(ctx, core.Request{
		Pod:                pod,
		State:              state,
		Profile:            prof,
		Snapshot:           e.snapshot,
		Nominator:          e.nominator,
		Rand:               rand.New(rand.NewPCG(o.Seed, 0)),
		TieBreakByName:     o.TieBreakByName,
		EvaluateAllNodes:   true,
		Parallelism:        e.cfg.Parallelism,
		TopK:               o.TopK,
		TraceNode:          o.TraceNode,
		AllowedNodes:       o.AllowedNodes,
		AllowedNodesReason: o.AllowedNodesReason,
	})
	return &Evaluation{Result: res, Err: err, Snapshot: e.snapshot, Profile: prof, State: state}, nil
}

func (e *Evaluator) profileNames() []string {
	out := make([]string, 0, len(e.profiles))
	for n := range e.profiles {
		out = append(out, n)
	}
	return out
}

// NewEvaluator returns an Evaluator over the scheduler's own cache and
// nominations, with profiles of its own (the loop's plugins read the
// loop's snapshot). Its plugins register on the scheduler's informer
// factory, so build it before the factory is started.
func (s *Scheduler) NewEvaluator(ctx context.Context, cfg *config.Config, reg framework.Registry, client kubernetes.Interface) (*Evaluator, error) {
	return newEvaluator(ctx, EvaluatorOptions{Config: cfg, Registry: reg, InformerFactory: s.informerFactory, DynamicInformerFactory: s.dynamicFactory, Client: client, Cache: s.cache}, s.nominator)
}

// GroupMember is one member's part in a group evaluation.
type GroupMember struct {
	Pod *v1.Pod
	// Node is where it would go, with the members before it placed; ""
	// when it fits nowhere (then Err says why, a *core.FitError usually).
	Node string
	Err  error
}

// GroupEvaluation is a gang evaluated as the scheduler would place it:
// its pending members one after the other on one snapshot, each seeing
// the room the previous ones took.
type GroupEvaluation struct {
	Group *framework.PodGroup
	// Scheduled counts members already bound or binding; Need is how many
	// more the group's minimum needs.
	Scheduled, Need int
	// Members are the pending members in evaluation order.
	Members []GroupMember
	// Placed counts members that would fit.
	Placed int
	// Problem, if set, is why the group is not evaluated at all (no such
	// group object, say).
	Problem string
}

// EvaluateGroup evaluates the gang pod belongs to, or returns nil when it
// belongs to none (or its group has no gang policy). Groups confined to a
// topology domain are evaluated over the whole cluster: the domain's
// choice is the scheduler's alone.
func (e *Evaluator) EvaluateGroup(ctx context.Context, pod *v1.Pod, o EvaluateOptions) (*GroupEvaluation, error) {
	prof := e.profiles[pod.Spec.SchedulerName]
	if prof == nil {
		return nil, fmt.Errorf("no profile serves schedulerName %q (profiles: %v)", pod.Spec.SchedulerName, e.profileNames())
	}
	gp := prof.GroupPlugin()
	if gp == nil {
		return nil, nil
	}
	key := gp.GroupKey(pod)
	if key == "" {
		return nil, nil
	}
	group, st := gp.PodGroup(pod)
	if !st.IsSuccess() {
		return &GroupEvaluation{Problem: st.Message()}, nil
	}
	if group == nil || group.MinMember <= 1 {
		return nil, nil
	}
	out := &GroupEvaluation{Group: group}
	var pending []*v1.Pod
	for _, m := range gp.Members(key) {
		switch cached, err := e.cache.GetPod(m); {
		case m.Spec.NodeName != "", err == nil && cached.Spec.NodeName != "":
			out.Scheduled++
		default:
			pending = append(pending, m)
		}
	}
	sortMembers(prof, pending)
	out.Need = group.MinMember - out.Scheduled
	e.mu.Lock()
	defer e.mu.Unlock()
	logger := klog.FromContext(ctx)
	if err := e.cache.UpdateSnapshot(logger, e.snapshot); err != nil {
		return nil, err
	}
	// The members added below are in this snapshot only; the next
	// UpdateSnapshot copies every node again.
	for _, m := range pending {
		res, err := core.Evaluate(ctx, core.Request{
			Pod:         m,
			State:       framework.NewCycleState(),
			Profile:     prof,
			Snapshot:    e.snapshot,
			Nominator:   e.nominator,
			Rand:        rand.New(rand.NewPCG(o.Seed, 0)),
			Parallelism: e.cfg.Parallelism,
		})
		gm := GroupMember{Pod: m, Node: res.SuggestedHost, Err: err}
		if err == nil {
			placed := m.DeepCopy()
			placed.Spec.NodeName = res.SuggestedHost
			if aerr := e.snapshot.AddPodForWhatIf(placed); aerr != nil {
				gm.Node, gm.Err = "", aerr
			} else {
				out.Placed++
			}
		}
		out.Members = append(out.Members, gm)
	}
	// Leave the snapshot for the next evaluation in a clean state.
	if err := e.cache.UpdateSnapshot(logger, e.snapshot); err != nil {
		return nil, err
	}
	return out, nil
}

// sortMembers orders pending members as the scheduler places them: by the
// profile's QueueSort (its queue order), each member queued at its
// creation, then by name.
func sortMembers(prof *profile.Profile, pods []*v1.Pod) {
	less := prof.QueueSortLess()
	qpis := make([]*framework.QueuedPodInfo, len(pods))
	for i, p := range pods {
		qpis[i] = &framework.QueuedPodInfo{PodInfo: framework.NewPodInfo(p), Timestamp: p.CreationTimestamp.Time}
	}
	sort.SliceStable(qpis, func(i, j int) bool {
		a, b := qpis[i], qpis[j]
		if less(a, b) != less(b, a) {
			return less(a, b)
		}
		return a.Pod.Name < b.Pod.Name
	})
	for i, q := range qpis {
		pods[i] = q.Pod
	}
}
