package core

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/scheduler/profile"
)

const (
	// minFeasibleNodesToFind: below this many nodes, every node is
	// evaluated whatever the percentage says.
	minFeasibleNodesToFind = 100
	// minFeasibleNodesPercentageToFind is the floor of the adaptive
	// percentage.
	minFeasibleNodesPercentageToFind = 5
)

// ErrNoNodesAvailable is returned when the snapshot holds no node at all.
var ErrNoNodesAvailable = errors.New("no nodes available to schedule pods")

// Snapshot is the cluster state one evaluation reads: the engine's cache
// snapshot, or one built by explain or a simulation. The profile's plugins
// must read the same snapshot through their Handle.
type Snapshot interface {
	framework.NodeInfoLister
	// NumNodes is len(List()).
	NumNodes() int
}

// Request is everything one evaluation depends on.
type Request struct {
	// Pod is the pod to place; it is not modified.
	Pod *v1.Pod
	// State is the pod's cycle state for this attempt; PreFilter and
	// PreScore write to it and the caller keeps it for Reserve and after.
	State *framework.CycleState
	// Profile is the plugin chain to run.
	Profile *profile.Profile
	// Snapshot is the cluster state.
	Snapshot Snapshot
	// Nominator lists pods nominated to nodes; nil means none.
	Nominator framework.PodNominator
	// Memo, when set, lets pods with the same signature reuse node-local
	// verdicts and scores. It must be used by one evaluation at a time.
	Memo *Memo
	// Rand breaks ties between nodes with the best score. Required.
	Rand *rand.Rand
	// TieBreakByName picks the lexicographically smallest node name among
	// the best-scored nodes instead of a random one. Replays that must
	// match a reference simulator use it (the FGD paper's simulator breaks
	// ties so, which packs pods a policy is indifferent about); the live
	// scheduler spreads ties randomly.
	TieBreakByName bool
	// StartIndex is the position in the snapshot's node list at which the
	// filter sample starts (Result.NextStartIndex of the previous call).
	StartIndex int
	// PercentageOfNodesToScore is the scheduler-wide default; the
	// profile's own setting wins. 0 means adaptive.
	PercentageOfNodesToScore int32
	// EvaluateAllNodes disables the sample: every node is filtered and
	// every feasible one scored (explain, simulations).
	EvaluateAllNodes bool
	// Parallelism bounds concurrent Filter and Score calls; <= 1 runs
	// them inline, in node order.
	Parallelism int
	// TopK is how many feasible nodes' per-plugin scores the diagnosis
	// keeps (Diagnosis.TopNodes); 0 keeps none (the hot path).
	TopK int
	// AllowedNodes, if set, restricts the pod to these nodes, as a
	// PreFilterResult would: a gang confined to one topology domain is
	// placed with the domain's nodes here. Nodes outside it are reported
	// as AllowedNodesReason.
	AllowedNodes sets.Set[string]
	// AllowedNodesReason explains the nodes AllowedNodes excludes (e.g.
	// "node(s) outside topology domain rack=r1"); empty gives a generic
	// message.
	AllowedNodesReason string
	// TraceNode, if set, names a node on which every Filter plugin runs
	// even after one rejected the pod; their statuses are Result.Trace.
	TraceNode string
}

// Result is what one evaluation decided and why.
type Result struct {
	// SuggestedHost is the chosen node; empty when the pod fits nowhere
	// (then Evaluate's error is a *FitError with the same Diagnosis).
	SuggestedHost string
	// EvaluatedNodes counts the nodes filtered; FeasibleNodes those that
	// passed.
	EvaluatedNodes, FeasibleNodes int
	// Feasible lists the feasible nodes found, in evaluation order.
	Feasible []*framework.NodeInfo
	// NextStartIndex is where the next evaluation's sample should start so
	// that every node gets its turn.
	NextStartIndex int
	// Diagnosis holds the per-node rejections and the top scores.
	Diagnosis *framework.Diagnosis
	// Trace is every Filter plugin's status on Request.TraceNode, in
	// filter order (nil entries passed); nil if the node was not traced.
	Trace []profile.PluginStatus

	// feasibleIdx[k] is Feasible[k]'s position in the filtered node list
	// (what the memo is aligned with).
	feasibleIdx []int
}

// FitError is the error of a pod that fits no node.
type FitError struct {
	Pod       *v1.Pod
	Diagnosis *framework.Diagnosis
}

// Error is the FailedScheduling message.
func (f *FitError) Error() string { return f.Diagnosis.Message() }

// Evaluate runs PreFilter, Filter, PreScore and Score for req.Pod on
// req.Snapshot and picks the best node. It makes no API calls and changes
// neither the snapshot nor the cache. A pod that fits no node gives a
// *FitError (and a Result whose Diagnosis says why); any other error is an
// internal failure (a plugin error or an empty cluster).
func Evaluate(ctx context.Context, req Request) (Result, error) {
	n := req.Snapshot.NumNodes()
	res := Result{NextStartIndex: req.StartIndex, Diagnosis: framework.NewDiagnosis(n)}
	if n == 0 {
		return res, ErrNoNodesAvailable
	}
	if err := findNodesThatFitPod(ctx, req, &res); err != nil {
		return res, err
	}
	d := res.Diagnosis
	if len(res.Feasible) == 0 {
		d.Details = req.Profile.ExplainFailure(req.State, req.Pod, d.UnschedulablePlugins)
		return res, &FitError{Pod: req.Pod, Diagnosis: d}
	}
	res.FeasibleNodes = len(res.Feasible)
	if len(res.Feasible) == 1 && req.TopK == 0 {
		res.SuggestedHost = res.Feasible[0].Node().Name
		return res, nil
	}
	scores, err := prioritizeNodes(ctx, req, &res)
	if err != nil {
		return res, err
	}
	if req.TieBreakByName {
		res.SuggestedHost = selectHostByName(scores)
	} else {
		res.SuggestedHost = selectHost(req.Rand, scores)
	}
	d.TopNodes = topNodes(scores, req.TopK)
	return res, nil
}

// findNodesThatFitPod runs PreFilter, then Filter in parallel over the
// nodes from the rotating start index, stopping once enough feasible nodes
// are found (the adaptive sample).
func findNodesThatFitPod(ctx context.Context, req Request, res *Result) error {
	prof, state, pod, d := req.Profile, req.State, req.Pod, res.Diagnosis
	allNodes := req.Snapshot.List()
	preRes, rejectors, st := prof.RunPreFilterPlugins(ctx, state, pod, allNodes)
	if !st.IsSuccess() {
		if !st.IsRejected() {
			return st.AsError()
		}
		d.NodeToStatus.SetAbsent(st)
		d.UnschedulablePlugins = rejectors
		d.PreFilterMsg = st.Message()
		return nil
	}
	nodes := allNodes
	absentMsg := "node(s) didn't satisfy plugin(s) [PreFilterResult]"
	if req.AllowedNodes != nil {
		preRes = preRes.Merge(&framework.PreFilterResult{NodeNames: req.AllowedNodes})
		absentMsg = req.AllowedNodesReason
		if absentMsg == "" {
			absentMsg = "node(s) outside the nodes the pod was restricted to"
		}
	}
	if !preRes.AllNodes() {
		nodes = make([]*framework.NodeInfo, 0, len(preRes.NodeNames))
		for name := range preRes.NodeNames {
			if ni, err := req.Snapshot.Get(name); err == nil {
				nodes = append(nodes, ni)
			}
		}
		// Map order must not leak into the result.
		slices.SortFunc(nodes, func(a, b *framework.NodeInfo) int {
			if a.Node().Name < b.Node().Name {
				return -1
			}
			return 1
		})
		// Nodes the PreFilter result excluded count as unresolvable.
		d.NodeToStatus.SetAbsent(framework.NewStatus(framework.UnschedulableAndUnresolvable, absentMsg))
	}
	// The memo is aligned with the full node list, so it only applies when
	// PreFilter did not narrow the nodes; nominated pods make a node's
	// verdict depend on pods not on it yet, so it steps aside then too.
	memo := req.Memo
	if memo != nil {
		sig, sigOK := podSignature(pod, prof)
		usable := sigOK && preRes.AllNodes() && nominatorEmpty(req.Nominator)
		memo.begin(sig, prof, allNodes, usable, prof.FiltersNodeLocal(state))
	}
	return findNodesThatPassFilters(ctx, req, res, nodes)
}

func nominatorEmpty(nom framework.PodNominator) bool {
	if nom == nil {
		return true
	}
	n, ok := nom.(Nominator)
	return ok && n.Empty()
}

func findNodesThatPassFilters(ctx context.Context, req Request, res *Result, nodes []*framework.NodeInfo) error {
	numAll := len(nodes)
	if numAll == 0 {
		return nil
	}
	// Locals, not req's fields, in the closure below: capturing req would
	// move the whole Request to the heap every cycle.
	prof, state, pod, nom := req.Profile, req.State, req.Pod, req.Nominator
	want := numAll
	if !req.EvaluateAllNodes {
		want = NumFeasibleNodesToFind(req.PercentageOfNodesToScore, prof.PercentageOfNodesToScore, numAll)
	}
	feasible := make([]*framework.NodeInfo, want)
	// feasibleIdx[k] is feasible[k]'s position in nodes (for the memo and
	// to restore evaluation order).
	feasibleIdx := make([]int, want)
	memo := req.Memo
	useMemo := memo != nil && memo.active
	start := req.StartIndex % numAll
	// statuses is indexed like nodes; the buffer is pooled across cycles
	// (it is as long as the cluster) and handed back cleared.
	statuses := getStatusBuffer(numAll)
	defer putStatusBuffer(statuses)
	runFilters := nodeFilter(prof.FilterRunner(state))
	var (
		found    atomic.Int32
		errMu    sync.Mutex
		firstErr error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	check := func(i int) {
		// Parallelize only looks at ctx between chunks; stop evaluating
		// nodes as soon as the sample is complete.
		if int(found.Load()) >= want {
			return
		}
		idx := (start + i) % numAll
		ni := nodes[idx]
		var st *framework.Status
		if useMemo {
			st = memo.filter(idx, ni, func() *framework.Status { return runFilters(ctx, pod, ni) })
		} else {
			st = filterNode(ctx, prof, runFilters, nom, state, pod, ni)
		}
		if st.IsSuccess() {
			n := found.Add(1)
			if int(n) > want {
				cancel()
				found.Add(-1)
			} else {
				feasible[n-1] = ni
				feasibleIdx[n-1] = idx
				if int(n) == want {
					cancel()
				}
			}
			return
		}
		if st.Code() == framework.Error {
			errMu.Lock()
			if firstErr == nil {
				firstErr = st.AsError()
			}
			errMu.Unlock()
			cancel()
			return
		}
		statuses[idx] = st
	}
	profile.Parallelize(ctx, req.Parallelism, numAll, check)
	if firstErr != nil {
		return firstErr
	}
	d := res.Diagnosis
	rejected := 0
	for i, st := range statuses {
		if st != nil {
			rejected++
			d.NodeToStatus.Set(nodes[i].Node().Name, st)
			d.UnschedulablePlugins.Insert(st.Plugin())
		}
	}
	numFeasible := int(found.Load())
	feasible, feasibleIdx = feasible[:numFeasible], feasibleIdx[:numFeasible]
	if req.Parallelism > 1 && req.EvaluateAllNodes {
		// Workers race to append; put the nodes back in evaluation order
		// so ties are broken the same way whatever the interleaving. Only
		// worth it when every node is evaluated: a sample's members
		// already depend on the race, and the loop cannot spare the sort.
		inOrder(feasible, feasibleIdx, nodes, start)
	}
	if req.TraceNode != "" {
		for _, ni := range nodes {
			if ni.Node().Name == req.TraceNode {
				res.Trace = prof.RunAllFilterPlugins(ctx, state, pod, ni)
				break
			}
		}
	}
	res.Feasible = feasible
	res.EvaluatedNodes = numFeasible + rejected
	// Resume after the nodes this cycle evaluated (feasible ones kept plus
	// rejected ones, as kube-scheduler counts them) so every node gets its
	// turn.
	res.NextStartIndex = (start + numFeasible + rejected) % numAll
	res.feasibleIdx = feasibleIdx
	return nil
}

// inOrder sorts idx by distance from start in the ring of nodes and
// rewrites feasible to match.
func inOrder(feasible []*framework.NodeInfo, idx []int, nodes []*framework.NodeInfo, start int) {
	n := len(nodes)
	ring := func(i int) int { return (i - start + n) % n }
	if slices.IsSortedFunc(idx, func(a, b int) int { return ring(a) - ring(b) }) {
		return
	}
	slices.SortFunc(idx, func(a, b int) int { return ring(a) - ring(b) })
	for k, i := range idx {
		feasible[k] = nodes[i]
	}
}

// statusBuffers recycles the per-node status slices of findNodesThatPassFilters.
var statusBuffers sync.Pool

func getStatusBuffer(n int) []*framework.Status {
	if bp, ok := statusBuffers.Get().(*[]*framework.Status); ok && cap(*bp) >= n {
		return (*bp)[:n]
	}
	return make([]*framework.Status, n)
}

func putStatusBuffer(b []*framework.Status) {
	clear(b)
	statusBuffers.Put(&b)
}

// NumFeasibleNodesToFind is kube-scheduler's adaptive sample: all nodes in
// small clusters, otherwise pct percent of them (the profile's setting if
// it has one, else the scheduler's), where 0 means a percentage that
// shrinks with the cluster (50% minus 1% per 125 nodes, at least 5%), but
// at least 100 nodes.
func NumFeasibleNodesToFind(pct int32, profilePct *int32, numAll int) int {
	if numAll < minFeasibleNodesToFind {
		return numAll
	}
	if profilePct != nil {
		pct = *profilePct
	}
	if pct == 0 {
		pct = int32(50 - numAll/125)
		if pct < minFeasibleNodesPercentageToFind {
			pct = minFeasibleNodesPercentageToFind
		}
	}
	if pct >= 100 {
		return numAll
	}
	n := numAll * int(pct) / 100
	if n < minFeasibleNodesToFind {
		return minFeasibleNodesToFind
	}
	return n
}

func prioritizeNodes(ctx context.Context, req Request, res *Result) ([]framework.NodePluginScores, error) {
	prof, state, pod, nodes := req.Profile, req.State, req.Pod, res.Feasible
	if !prof.HasScorePlugins() {
		out := make([]framework.NodePluginScores, len(nodes))
		for i, n := range nodes {
			out[i] = framework.NodePluginScores{Name: n.Node().Name, TotalScore: 1}
		}
		return out, nil
	}
	if st := prof.RunPreScorePlugins(ctx, state, pod, nodes); !st.IsSuccess() {
		return nil, st.AsError()
	}
	var sm profile.ScoreMemo
	if req.Memo != nil && req.Memo.scores {
		sm = scoreView{m: req.Memo, nodes: nodes, idx: res.feasibleIdx}
	}
	scores, st := prof.RunScorePluginsMemo(ctx, state, pod, nodes, sm)
	if !st.IsSuccess() {
		return nil, st.AsError()
	}
	return scores, nil
}

// selectHost picks the highest total score, choosing uniformly at random
// among ties (reservoir sampling) so equal nodes share the load.
func selectHost(r *rand.Rand, scores []framework.NodePluginScores) string {
	best, ties := 0, 1
	for i := 1; i < len(scores); i++ {
		switch {
		case scores[i].TotalScore > scores[best].TotalScore:
			best, ties = i, 1
		case scores[i].TotalScore == scores[best].TotalScore:
			ties++
			if r.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return scores[best].Name
}

// selectHostByName returns the smallest-named node among the best-scored.
func selectHostByName(scores []framework.NodePluginScores) string {
	best := 0
	for i := 1; i < len(scores); i++ {
		if s, b := scores[i], scores[best]; s.TotalScore > b.TotalScore || (s.TotalScore == b.TotalScore && s.Name < b.Name) {
			best = i
		}
	}
	return scores[best].Name
}

// topNodes copies out the k best-scored nodes (best first, ties in
// evaluation order); the scores' buffers are reused by the next cycle.
func topNodes(scores []framework.NodePluginScores, k int) []framework.NodePluginScores {
	if k <= 0 {
		return nil
	}
	order := make([]int, len(scores))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return scores[order[a]].TotalScore > scores[order[b]].TotalScore })
	if len(order) > k {
		order = order[:k]
	}
	out := make([]framework.NodePluginScores, len(order))
	for i, j := range order {
		out[i] = framework.NodePluginScores{Name: scores[j].Name, TotalScore: scores[j].TotalScore, Scores: slices.Clone(scores[j].Scores)}
	}
	return out
}
