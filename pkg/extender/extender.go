package extender

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"
	extenderv1 "k8s.io/kube-scheduler/extender/v1"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/scheduler"
	"github.com/berthsched/berth/pkg/scheduler/core"
)

// notCandidate is the reason the evaluation gives the nodes kube-scheduler
// did not send; they never appear in an answer.
const notCandidate = "node(s) not among kube-scheduler's candidates"

// PodGetter reads a pod by namespace and name: the informer's lister, with
// a read from the API server when the informer has not seen it yet.
type PodGetter func(ctx context.Context, namespace, name string) (*v1.Pod, error)

// Options configure New.
type Options struct {
	// Evaluator runs berth's profiles over the extender's cache
	// (Evaluator.Cache()), which the caller keeps in step with the
	// cluster (see FeedCache). Its profiles' Handle must have a client:
	// the bind verb's PreBind and Bind plugins write through it.
	Evaluator *scheduler.Evaluator
	// Profile is the berth profile (schedulerName) every pod is evaluated
	// with, whatever its own schedulerName says (that one names
	// kube-scheduler's profile).
	Profile string
	// GetPod reads the pod a bind names.
	GetPod PodGetter
	// Seed seeds the tie-breaking between equally scored nodes.
	Seed uint64
	// TieBreakByName breaks those ties by node name instead, as
	// berth run --tie-break=name does, so both shells choose alike.
	TieBreakByName bool
	// Metrics, if set, counts the verbs (HTTP shell) and is told about
	// nothing else; nil counts nothing.
	Metrics *Metrics
}

// Extender answers kube-scheduler's extender verbs from berth's core.
//
// Every verb that evaluates a pod, and the bind verb from its evaluation
// to the moment its pod is assumed in the cache, holds one lock: the
// evaluator's snapshot is shared by the profile's plugins, and a bind's
// Reserve must see the cards every earlier bind reserved. The API calls
// of a bind (PreBind, Bind) run outside it. Binds of one pod are
// serialised: a second bind of a pod whose bind is in flight fails.
type Extender struct {
	ev      *scheduler.Evaluator
	profile string
	getPod  PodGetter
	seed    uint64
	byName  bool
	metrics *Metrics

	// notReady is set until the cache has synced (FromCluster).
	notReady atomic.Bool

	// mu serialises evaluations and the reserve-and-assume step of binds.
	mu sync.Mutex

	// inflight and assumed are guarded by podsMu: binds in progress, and
	// pods bound here and assumed in the cache until the informer
	// confirms them.
	podsMu   sync.Mutex
	inflight sets.Set[types.UID]
	assumed  map[types.UID]*v1.Pod
}

// New returns an Extender. The evaluator must serve o.Profile.
func New(o Options) (*Extender, error) {
	if o.Evaluator == nil || o.GetPod == nil {
		return nil, errors.New("extender: Evaluator and GetPod are required")
	}
	if o.Evaluator.Profile(o.Profile) == nil {
		return nil, fmt.Errorf("extender: no berth profile has schedulerName %q", o.Profile)
	}
	return &Extender{ev: o.Evaluator, profile: o.Profile, getPod: o.GetPod, seed: o.Seed, byName: o.TieBreakByName, metrics: o.Metrics,
		inflight: sets.New[types.UID](), assumed: map[types.UID]*v1.Pod{}}, nil
}

// Ready reports whether the extender's cache has synced: before, its
// answers would come from a partial view of the cluster.
func (x *Extender) Ready() bool { return !x.notReady.Load() }

// asProfile is the pod as berth's profile sees it: its schedulerName is
// kube-scheduler's, which no berth profile serves.
func (x *Extender) asProfile(pod *v1.Pod) *v1.Pod {
	if pod.Spec.SchedulerName == x.profile {
		return pod
	}
	p := pod.DeepCopy()
	p.Spec.SchedulerName = x.profile
	return p
}

// candidates reads the node names of a request: berth is configured
// nodeCacheCapable, so kube-scheduler sends names only.
func candidates(names *[]string, nodes *v1.NodeList) ([]string, error) {
	if names != nil {
		return *names, nil
	}
	if nodes != nil {
		return nil, errors.New("the request carries whole Node objects: configure the extender with nodeCacheCapable: true")
	}
	return nil, nil
}

// evaluate runs the core for pod over the named nodes; the caller holds
// x.mu. A pod that fits none of them is no error: its evaluation's
// diagnosis says why.
func (x *Extender) evaluate(ctx context.Context, pod *v1.Pod, nodes []string, topK int) (*scheduler.Evaluation, error) {
	e, err := x.ev.Evaluate(ctx, x.asProfile(pod), scheduler.EvaluateOptions{
		AllowedNodes:       sets.New(nodes...),
		AllowedNodesReason: notCandidate,
		TopK:               topK,
		Seed:               x.seed,
		TieBreakByName:     x.byName,
	})
	if err != nil {
		return nil, err
	}
	var fit *core.FitError
	if e.Err != nil && !errors.As(e.Err, &fit) && !errors.Is(e.Err, core.ErrNoNodesAvailable) {
		return nil, e.Err
	}
	return e, nil
}

// Filter keeps the candidates on which berth's profile accepts the pod.
// Each rejected node gets berth's reasons; a node whose status is
// UnschedulableAndUnresolvable (removing pods would not help, so
// kube-scheduler's preemption skips it) goes to FailedAndUnresolvableNodes.
// A candidate berth's cache does not hold yet (informer lag) fails.
func (x *Extender) Filter(ctx context.Context, args *extenderv1.ExtenderArgs) *extenderv1.ExtenderFilterResult {
	if args.Pod == nil {
		return &extenderv1.ExtenderFilterResult{Error: "no pod in the request"}
	}
	names, err := candidates(args.NodeNames, args.Nodes)
	if err != nil {
		return &extenderv1.ExtenderFilterResult{Error: err.Error()}
	}
	x.mu.Lock()
	v, err := x.verdicts(ctx, args.Pod, names)
	x.mu.Unlock()
	if err != nil {
		return &extenderv1.ExtenderFilterResult{Error: err.Error()}
	}
	res := &extenderv1.ExtenderFilterResult{NodeNames: &[]string{}, FailedNodes: extenderv1.FailedNodesMap{}, FailedAndUnresolvableNodes: extenderv1.FailedNodesMap{}}
	for _, n := range names {
		switch r, failed := v[n]; {
		case !failed:
			*res.NodeNames = append(*res.NodeNames, n)
		case r.unresolvable:
			res.FailedAndUnresolvableNodes[n] = r.msg
		default:
			res.FailedNodes[n] = r.msg
		}
	}
	klog.FromContext(ctx).V(4).Info("Filtered", "pod", klog.KObj(args.Pod), "candidates", len(names), "feasible", len(*res.NodeNames))
	return res
}

// rejection is why berth's profile rejects the pod on one node.
type rejection struct {
	msg string
	// unresolvable: evicting pods cannot make the node fit.
	unresolvable bool
}

// verdicts evaluates pod over the named nodes and returns the rejected
// ones (feasible nodes are absent from the map). The caller holds x.mu.
func (x *Extender) verdicts(ctx context.Context, pod *v1.Pod, names []string) (map[string]rejection, error) {
	e, err := x.evaluate(ctx, pod, names, 0)
	if err != nil {
		return nil, err
	}
	feasible := sets.New[string]()
	for _, ni := range e.Result.Feasible {
		feasible.Insert(ni.Node().Name)
	}
	d := e.Result.Diagnosis
	out := map[string]rejection{}
	for _, n := range names {
		if feasible.Has(n) {
			continue
		}
		if _, err := e.Snapshot.Get(n); err != nil {
			// Informer lag: the node may fit once berth sees it.
			out[n] = rejection{msg: "node is not in berth's cache yet"}
			continue
		}
		st := d.NodeToStatus.Get(n)
		switch {
		case st == nil || st.IsSuccess():
			out[n] = rejection{msg: "node was not evaluated"}
		case st.Message() == notCandidate:
			// Excluded by a plugin's PreFilterResult, which the core
			// reports with the AllowedNodes reason.
			out[n] = rejection{msg: "node(s) didn't satisfy plugin(s) [PreFilterResult]", unresolvable: true}
		default:
			out[n] = rejection{msg: statusMessage(st), unresolvable: st.Code() == framework.UnschedulableAndUnresolvable}
		}
	}
	return out, nil
}

func statusMessage(st *framework.Status) string {
	if p := st.Plugin(); p != "" {
		return p + ": " + st.Message()
	}
	return st.Message()
}

// Prioritize scores the candidates with berth's profile and ranks them on
// the extender range. berth's own choice (its best total, ties broken as
// berth run breaks them) alone gets MaxExtenderPriority (10); the other
// scored candidates are mapped linearly onto 0..9 (their best 9, the worst
// 0, rounded), so that berth's choice wins whenever the stanza's weight
// outweighs kube-scheduler's own plugins. Candidates berth rejects get 0
// (its filter verb has already removed them). kube-scheduler multiplies
// the score by the stanza's weight and by 10 (MaxNodeScore /
// MaxExtenderPriority) and adds it to its own plugins' total.
func (x *Extender) Prioritize(ctx context.Context, args *extenderv1.ExtenderArgs) (*extenderv1.HostPriorityList, error) {
	if args.Pod == nil {
		return nil, errors.New("no pod in the request")
	}
	names, err := candidates(args.NodeNames, args.Nodes)
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	e, err := x.evaluate(ctx, args.Pod, names, len(names))
	if err != nil {
		x.mu.Unlock()
		return nil, err
	}
	totals := map[string]int64{}
	for _, s := range e.Result.Diagnosis.TopNodes {
		totals[s.Name] = s.TotalScore
	}
	best := e.Result.SuggestedHost
	x.mu.Unlock()
	out := ScaleScores(names, totals, best)
	return &out, nil
}

// ScaleScores maps berth's total scores onto the extender range as
// Prioritize documents: best (berth's choice; empty when it chose none)
// gets MaxExtenderPriority, the other names in totals 0..Max-1 in
// proportion to their totals, names missing from totals 0. The list
// follows names' order.
func ScaleScores(names []string, totals map[string]int64, best string) extenderv1.HostPriorityList {
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for n, t := range totals {
		if n != best {
			lo, hi = min(lo, t), max(hi, t)
		}
	}
	top := float64(extenderv1.MaxExtenderPriority - 1)
	out := make(extenderv1.HostPriorityList, 0, len(names))
	for _, n := range names {
		t, ok := totals[n]
		var s int64
		switch {
		case n == best && ok:
			s = extenderv1.MaxExtenderPriority
		case !ok:
		case hi == lo:
			s = int64(top)
		default:
			s = int64(math.Round(float64(t-lo) * top / float64(hi-lo)))
		}
		out = append(out, extenderv1.HostPriority{Host: n, Score: s})
	}
	return out
}

// Preempt answers which of kube-scheduler's preemption candidates berth
// accepts: those on which berth's profile rejects the pod only for
// reasons evicting pods can cure. A candidate whose status is
// UnschedulableAndUnresolvable in berth's view of the cluster as it is
// (a GPU model the pod does not accept, cards too small for its memory
// ask …) is dropped, since no victims can make it fit; the others keep
// kube-scheduler's victims unchanged. berth does not recompute victims:
// the pod is filtered again when kube-scheduler retries it on the
// nominated node, and the bind verb checks the fit once more before it
// binds, so a candidate kept here is never a placement berth refuses.
func (x *Extender) Preempt(ctx context.Context, args *extenderv1.ExtenderPreemptionArgs) (*extenderv1.ExtenderPreemptionResult, error) {
	if args.Pod == nil {
		return nil, errors.New("no pod in the request")
	}
	victims := args.NodeNameToMetaVictims
	if victims == nil && args.NodeNameToVictims != nil {
		victims = map[string]*extenderv1.MetaVictims{}
		for n, v := range args.NodeNameToVictims {
			mv := &extenderv1.MetaVictims{NumPDBViolations: v.NumPDBViolations}
			for _, p := range v.Pods {
				mv.Pods = append(mv.Pods, &extenderv1.MetaPod{UID: string(p.UID)})
			}
			victims[n] = mv
		}
	}
	names := make([]string, 0, len(victims))
	for n := range victims {
		names = append(names, n)
	}
	x.mu.Lock()
	v, err := x.verdicts(ctx, args.Pod, names)
	x.mu.Unlock()
	if err != nil {
		return nil, err
	}
	out := &extenderv1.ExtenderPreemptionResult{NodeNameToMetaVictims: map[string]*extenderv1.MetaVictims{}}
	for n, mv := range victims {
		if v[n].unresolvable {
			continue
		}
		out.NodeNameToMetaVictims[n] = mv
	}
	return out, nil
}
