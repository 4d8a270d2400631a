package explain

import (
	"context"
	"errors"
	"fmt"
	"sort"

	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/scheduler"
	"github.com/berthsched/berth/pkg/scheduler/core"
)

// Defaults of Options.
const (
	DefaultTopK     = 3
	DefaultMaxNodes = 5
	// DefaultMaxSuggestions bounds the suggestions per cause, so a
	// cluster of many node shapes still gives a short answer.
	DefaultMaxSuggestions = 3
)

// Options tune one explanation.
type Options struct {
	// TopK is how many feasible nodes' scores to break down; 0 means
	// DefaultTopK.
	TopK int
	// Node, if set, names a node whose every Filter verdict is traced.
	Node string
	// Seed seeds the tie-break between equally scored nodes, so the same
	// state always gives the same chosen node.
	Seed uint64
	// MaxNodes bounds the node names listed per rejection and
	// suggestion; 0 means DefaultMaxNodes.
	MaxNodes int
	// MaxSuggestions bounds the suggestions per cause; 0 means
	// DefaultMaxSuggestions.
	MaxSuggestions int
}

func (o *Options) defaults() {
	if o.TopK <= 0 {
		o.TopK = DefaultTopK
	}
	if o.MaxNodes <= 0 {
		o.MaxNodes = DefaultMaxNodes
	}
	if o.MaxSuggestions <= 0 {
		o.MaxSuggestions = DefaultMaxSuggestions
	}
}

// ErrNoProfile is returned for a pod whose schedulerName names none of the
// evaluator's profiles (berth does not schedule it), so callers can offer
// to evaluate it with another profile.
var ErrNoProfile = errors.New("no berth profile serves the pod's schedulerName")

// Explainer explains pods against the state held by an evaluator's cache;
// its what-if checks honour the evaluator's nominations. Like the
// evaluator, it explains one pod at a time.
type Explainer struct {
	ev   *scheduler.Evaluator
	pdbs []*policyv1.PodDisruptionBudget
}

// New returns an Explainer over ev. Fill ev.Cache() with the nodes and
// bound pods, and call AddNominatedPod for pending pods with a
// status.nominatedNodeName.
func New(ev *scheduler.Evaluator) *Explainer {
	return &Explainer{ev: ev}
}

// Evaluator is the evaluator the Explainer reads: tests and tools that
// want the raw evaluation (every feasible node, say) use it directly.
func (x *Explainer) Evaluator() *scheduler.Evaluator { return x.ev }

// AddNominatedPod records a pending pod nominated to a node (its
// status.nominatedNodeName), so its room is kept as the scheduler keeps it.
func (x *Explainer) AddNominatedPod(logger klog.Logger, pod *v1.Pod) {
	x.ev.Nominate(logger, pod)
}

// Explain evaluates pod on every node and explains the outcome. A bound
// pod is evaluated as if it were pending (it is taken out of the snapshot
// for the duration of the call). It fails when no profile serves the pod or
// a plugin fails; an unschedulable pod is not an error.
func (x *Explainer) Explain(ctx context.Context, pod *v1.Pod, o Options) (*Explanation, error) {
	o.defaults()
	logger := klog.FromContext(ctx)
	if x.ev.Profile(pod.Spec.SchedulerName) == nil {
		return nil, fmt.Errorf("%w (%q)", ErrNoProfile, pod.Spec.SchedulerName)
	}
	eval, restore, err := x.evaluate(ctx, pod, o)
	if err != nil {
		return nil, err
	}
	defer restore()
	var fitErr *core.FitError
	if eval.Err != nil && !errors.As(eval.Err, &fitErr) {
		return nil, fmt.Errorf("evaluating pod %s/%s: %w", pod.Namespace, pod.Name, eval.Err)
	}
	res := eval.Result
	d := res.Diagnosis
	out := &Explanation{
		APIVersion:    APIVersion,
		Kind:          Kind,
		Pod:           summarize(pod),
		Profile:       eval.Profile.Name(),
		Nodes:         eval.Snapshot.NumNodes(),
		FeasibleNodes: len(res.Feasible),
		Schedulable:   len(res.Feasible) > 0,
		ChosenNode:    res.SuggestedHost,
		Details:       d.Details,
	}
	if fitErr != nil {
		out.Message = d.Message()
	}
	out.Rejections = rejections(eval, o.MaxNodes)
	for _, n := range d.TopNodes {
		sn := ScoredNode{Node: n.Name, Total: n.TotalScore, Chosen: n.Name == res.SuggestedHost}
		for _, s := range n.Scores {
			sn.Plugins = append(sn.Plugins, PluginScore{Plugin: s.Name, Score: s.Score})
		}
		if ni, err := eval.Snapshot.Get(n.Name); err == nil && d.PreFilterMsg == "" {
			sn.Notes = eval.Profile.ExplainScore(eval.State, pod, ni)
		}
		out.TopNodes = append(out.TopNodes, sn)
	}
	a := &analysis{
		ctx: ctx, pod: evaluatedPod(pod), eval: eval, opts: o,
		nom: x.ev.Nominator(), rejected: rejectedNodes(eval), budgets: newBudgetCheck(x.pdbs),
	}
	if o.Node != "" {
		out.Trace = trace(eval, o.Node)
		if out.Trace.Note == "" {
			base, err := a.baseState()
			if err != nil {
				return nil, err
			}
			if base != nil {
				for name := range base.SkipFilterPlugins {
					out.Trace.Skipped = append(out.Trace.Skipped, name)
				}
				sort.Strings(out.Trace.Skipped)
			}
		}
	}
	if out.Group, err = x.explainGroup(ctx, pod, o); err != nil {
		return nil, err
	}
	if !out.Schedulable {
		out.Suggestions, err = a.suggest()
		if err != nil {
			return nil, err
		}
	}
	logger.V(2).Info("Explained pod", "pod", klog.KObj(pod), "feasible", out.FeasibleNodes, "nodes", out.Nodes, "suggestions", len(out.Suggestions))
	return out, nil
}

// evaluate runs the evaluator for pod. A bound pod is removed from the
// cache first (it would otherwise compete with itself) and put back by
// restore.
func (x *Explainer) evaluate(ctx context.Context, pod *v1.Pod, o Options) (*scheduler.Evaluation, func(), error) {
	logger := klog.FromContext(ctx)
	restore := func() {}
	if pod.Spec.NodeName != "" {
		if err := x.ev.Cache().RemovePod(logger, pod); err != nil {
			return nil, nil, err
		}
		restore = func() {
			if err := x.ev.Cache().AddPod(logger, pod); err != nil {
				logger.Error(err, "Restoring explained pod to the cache", "pod", klog.KObj(pod))
			}
		}
	}
	eval, err := x.ev.Evaluate(ctx, evaluatedPod(pod), scheduler.EvaluateOptions{TopK: o.TopK, TraceNode: o.Node, Seed: o.Seed})
	if err != nil {
		restore()
		return nil, nil, err
	}
	return eval, restore, nil
}

// evaluatedPod is pod as the scheduler would see it pending: a bound pod's
// nodeName would otherwise pin it to its node (NodeName plugin).
func evaluatedPod(pod *v1.Pod) *v1.Pod {
	if pod.Spec.NodeName == "" {
		return pod
	}
	p := pod.DeepCopy()
	p.Spec.NodeName = ""
	return p
}

func summarize(pod *v1.Pod) PodSummary {
	s := PodSummary{
		Namespace:         pod.Namespace,
		Name:              pod.Name,
		SchedulerName:     pod.Spec.SchedulerName,
		Priority:          corev1helpers.PodPriority(pod),
		PreemptionPolicy:  string(v1.PreemptLowerPriority),
		NodeName:          pod.Spec.NodeName,
		NominatedNodeName: pod.Status.NominatedNodeName,
	}
	if pod.Spec.PreemptionPolicy != nil {
		s.PreemptionPolicy = string(*pod.Spec.PreemptionPolicy)
	}
	req := framework.NewPodInfo(pod).Requests
	s.Requests = resourceStrings(req, false)
	return s
}

// rejectedNodes maps every node that failed a filter (or that PreFilter
// ruled out) to its first rejection.
func rejectedNodes(eval *scheduler.Evaluation) map[string]*framework.Status {
	feasible := map[string]bool{}
	for _, ni := range eval.Result.Feasible {
		feasible[ni.Node().Name] = true
	}
	out := map[string]*framework.Status{}
	for _, ni := range eval.Snapshot.List() {
		name := ni.Node().Name
		if feasible[name] {
			continue
		}
		out[name] = eval.Result.Diagnosis.NodeToStatus.Get(name)
	}
	return out
}

// rejections groups rejected nodes by (plugin, reason, code). A node whose
// status has several reasons counts under each, as in the FailedScheduling
// message.
func rejections(eval *scheduler.Evaluation, maxNodes int) []Rejection {
	type key struct {
		plugin, reason string
		code           framework.Code
	}
	groups := map[key][]string{}
	for name, st := range rejectedNodes(eval) {
		for _, r := range st.Reasons() {
			k := key{st.Plugin(), r, st.Code()}
			groups[k] = append(groups[k], name)
		}
	}
	out := make([]Rejection, 0, len(groups))
	for k, nodes := range groups {
		sort.Strings(nodes)
		out = append(out, Rejection{Plugin: k.plugin, Reason: k.reason, Code: k.code.String(), Count: len(nodes), Nodes: head(nodes, maxNodes)})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Plugin != b.Plugin {
			return a.Plugin < b.Plugin
		}
		return a.Reason < b.Reason
	})
	return out
}

func trace(eval *scheduler.Evaluation, node string) *NodeTrace {
	t := &NodeTrace{Node: node}
	if _, err := eval.Snapshot.Get(node); err != nil {
		t.Note = "no such node in the snapshot"
		return t
	}
	if eval.Result.Trace == nil {
		st := eval.Result.Diagnosis.NodeToStatus.Get(node)
		if eval.Result.Diagnosis.PreFilterMsg != "" {
			t.Note = fmt.Sprintf("PreFilter plugin %s rejected the pod before any node was filtered: %s", st.Plugin(), st.Message())
		} else {
			t.Note = "PreFilter ruled the node out before filtering: " + st.Message()
		}
		return t
	}
	t.Feasible = true
	for _, ps := range eval.Result.Trace {
		v := PluginVerdict{Plugin: ps.Plugin, Code: ps.Status.Code().String(), Reasons: ps.Status.Reasons()}
		if !ps.Status.IsSuccess() {
			t.Feasible = false
		}
		t.Plugins = append(t.Plugins, v)
	}
	return t
}

func head(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// explainGroup evaluates the pod's gang whole, or returns nil when the pod
// is in none.
func (x *Explainer) explainGroup(ctx context.Context, pod *v1.Pod, o Options) (*GroupSummary, error) {
	ge, err := x.ev.EvaluateGroup(ctx, pod, scheduler.EvaluateOptions{Seed: o.Seed})
	if err != nil || ge == nil {
		return nil, err
	}
	if ge.Problem != "" {
		return &GroupSummary{Problem: ge.Problem}, nil
	}
	g := ge.Group
	out := &GroupSummary{
		Name: g.Namespace + "/" + g.Name, API: g.API, MinMember: g.MinMember, Scheduled: ge.Scheduled,
		Pending: len(ge.Members), Fit: ge.Placed, Schedulable: ge.Scheduled+ge.Placed >= g.MinMember, TopologyKey: g.TopologyKey,
	}
	for _, m := range ge.Members {
		ms := GroupMemberSummary{Name: m.Pod.Name, Node: m.Node}
		if m.Err != nil {
			ms.Reason = m.Err.Error()
		}
		out.Members = append(out.Members, ms)
	}
	return out, nil
}
