package bench

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	schedulingv1beta1 "k8s.io/api/scheduling/v1beta1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientretry "k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// GangPoolKey labels the nodes of a gang workload's contest pool (value
// "true") and is the key of the NoSchedule taint they carry, so that only
// the contenders (which select and tolerate it) run there.
const GangPoolKey = "bench.berth.io/gang-contest"

// Names of the two competing gangs' PodGroups.
const (
	ContestA = "contest-a"
	ContestB = "contest-b"
)

// Gang describes a gang-scheduling workload. Every measured pod joins an
// upstream scheduling.k8s.io/v1beta1 PodGroup through
// spec.schedulingGroup.podGroupName; the sizes are in Counts (Groups,
// GroupSize, MinCount, ContestNodes, ContestSize).
//
// Measured pods 0 .. 2*ContestSize-1 are the two contending gangs
// ContestA and ContestB, alternately (A, B, A, B ...), each with
// minCount = ContestSize. They only fit on the ContestNodes nodes of the
// contest pool (labelled and tainted GangPoolKey), one pod per node, and
// ContestSize <= ContestNodes < 2*ContestSize: each gang fits alone, not
// both, so exactly one can be placed and the other must stay with no
// member bound. A scheduler placing pods one by one can split the pool so
// that neither completes. The contenders are not counted in "expected";
// the report says which gang placed.
//
// The remaining measured pods are Groups regular gangs "gang-000" ...
// of GroupSize pods each (consecutive pod indexes), minCount MinCount,
// all expected to be placed.
type Gang struct {
	// Member is the measuredPods entry (by name) of the regular gangs'
	// pods.
	Member string `json:"member"`
	// Contender is the measuredPods entry of the contest gangs' pods. Its
	// template must select GangPoolKey=true, tolerate the GangPoolKey
	// taint, and request more than half of a pool node's allocatable CPU
	// (checked against the nodes when the pool is set up).
	Contender string `json:"contender"`
}

func (g *Gang) validate(w *Workload) error {
	if !w.KubeSchedulerFeatureGates["GenericWorkload"] {
		return fmt.Errorf("gang needs kubeSchedulerFeatureGates: {GenericWorkload: true}; without it kube-scheduler ignores PodGroups")
	}
	if len(w.InitialPods) > 0 || w.Churn != nil || w.Storage != nil || w.DRA != nil {
		return fmt.Errorf("gang workloads have no initial pods, churn, storage or dra")
	}
	member, contender := w.measuredByName(g.Member), w.measuredByName(g.Contender)
	if member == nil || contender == nil || member == contender {
		return fmt.Errorf("gang.member %q and gang.contender %q must name two different measuredPods entries", g.Member, g.Contender)
	}
	if member.Unschedulable || contender.Unschedulable || len(w.MeasuredPods) != 2 {
		return fmt.Errorf("gang workloads have exactly the two measuredPods entries member and contender, neither unschedulable")
	}
	spec := &contender.Template.Spec
	if spec.NodeSelector[GangPoolKey] != "true" {
		return fmt.Errorf("the contender template must have nodeSelector %s: \"true\"", GangPoolKey)
	}
	if !slices.ContainsFunc(spec.Tolerations, toleratesPool) {
		return fmt.Errorf("the contender template must tolerate the taint %s=true:NoSchedule", GangPoolKey)
	}
	if _, ok := contenderCPU(contender); !ok {
		return fmt.Errorf("the contender template needs a CPU request")
	}
	for _, s := range []string{ScaleFull, ScaleSmall, ScaleTiny} {
		c := w.Scales[s]
		if c.InitialPods != 0 {
			return fmt.Errorf("scales.%s: gang workloads have no initial pods", s)
		}
		if c.Groups <= 0 || c.GroupSize <= 0 || c.MinCount < 0 || c.MinCount > c.GroupSize {
			return fmt.Errorf("scales.%s needs positive groups and groupSize, and minCount <= groupSize", s)
		}
		if c.ContestSize <= 0 || c.ContestNodes < c.ContestSize || c.ContestNodes >= 2*c.ContestSize || c.ContestNodes >= c.Nodes {
			return fmt.Errorf("scales.%s: contestNodes must be at least contestSize and less than twice it (each contest gang fits alone, not both), and less than nodes", s)
		}
		if want := c.Groups*c.GroupSize + 2*c.ContestSize; c.MeasuredPods != want {
			return fmt.Errorf("scales.%s: measuredPods must be groups x groupSize + 2 x contestSize = %d", s, want)
		}
	}
	return nil
}

var poolTaint = v1.Taint{Key: GangPoolKey, Value: "true", Effect: v1.TaintEffectNoSchedule}

// toleratesPool reports whether t tolerates poolTaint.
func toleratesPool(t v1.Toleration) bool {
	if t.Effect != "" && t.Effect != poolTaint.Effect {
		return false
	}
	switch t.Operator {
	case v1.TolerationOpExists:
		return t.Key == "" || t.Key == poolTaint.Key
	case "", v1.TolerationOpEqual:
		return t.Key == poolTaint.Key && t.Value == poolTaint.Value
	}
	return false
}

// contenderCPU is the CPU request of a contender pod, in millicores.
func contenderCPU(g *PodGroup) (int64, bool) {
	var total int64
	found := false
	for _, c := range g.Template.Spec.Containers {
		if q, ok := c.Resources.Requests[v1.ResourceCPU]; ok {
			total += q.MilliValue()
			found = true
		}
	}
	return total, found && total > 0
}

// measuredByName returns the measuredPods entry called name, or nil.
func (w *Workload) measuredByName(name string) *PodGroup {
	for i := range w.MeasuredPods {
		if w.MeasuredPods[i].Name == name {
			return &w.MeasuredPods[i]
		}
	}
	return nil
}

// gangGroup is one PodGroup of a gang workload's run.
type gangGroup struct {
	name     string
	size     int
	minCount int
	contest  bool
}

// gangPlan maps a gang workload's measured pods to their PodGroups.
type gangPlan struct {
	// groups: ContestA, ContestB, then the regular gangs in order.
	groups []gangGroup
	// of[i] is the index in groups of measured pod i.
	of []int
}

// newGangPlan lays out the measured pods of one scale (see Gang).
func newGangPlan(c Counts) *gangPlan {
	minCount := c.MinCount
	if minCount == 0 {
		minCount = c.GroupSize
	}
	p := &gangPlan{of: make([]int, 0, c.MeasuredPods)}
	p.groups = append(p.groups,
		gangGroup{name: ContestA, size: c.ContestSize, minCount: c.ContestSize, contest: true},
		gangGroup{name: ContestB, size: c.ContestSize, minCount: c.ContestSize, contest: true})
	for i := range 2 * c.ContestSize {
		p.of = append(p.of, i%2)
	}
	for g := range c.Groups {
		p.groups = append(p.groups, gangGroup{name: fmt.Sprintf("gang-%03d", g), size: c.GroupSize, minCount: minCount})
		for range c.GroupSize {
			p.of = append(p.of, len(p.groups)-1)
		}
	}
	return p
}

// measuredTemplates returns the template of every measured pod: the
// weighted round-robin of the workload's measuredPods, or the gang
// layout.
func (w *Workload) measuredTemplates(c Counts) []*PodGroup {
	out := make([]*PodGroup, c.MeasuredPods)
	var plan *gangPlan
	if w.Gang != nil {
		plan = newGangPlan(c)
	}
	for i := range out {
		switch {
		case plan == nil:
			out[i] = groupFor(w.MeasuredPods, i)
		case plan.groups[plan.of[i]].contest:
			out[i] = w.measuredByName(w.Gang.Contender)
		default:
			out[i] = w.measuredByName(w.Gang.Member)
		}
	}
	return out
}

// expectedMeasured counts the measured pods expected to be bound at scale
// c: not unschedulable by design and, in gang workloads, not contenders
// (only one of the two contest gangs can place; it is reported apart).
func (w *Workload) expectedMeasured(c Counts) int {
	if w.Gang != nil {
		return c.Groups * c.GroupSize
	}
	return expectedSchedulable(w.MeasuredPods, c.MeasuredPods)
}

// setupGang labels and taints the contest pool, the first ContestNodes
// nodes (by name), after checking that a contender fits a pool node once
// and not twice, and reloads the nodes.
func (r *runner) setupGang(ctx context.Context) error {
	want, _ := contenderCPU(r.w.measuredByName(r.w.Gang.Contender))
	pool := r.nodes[:r.counts.ContestNodes]
	for i := range pool {
		alloc := pool[i].Status.Allocatable[v1.ResourceCPU]
		if a := alloc.MilliValue(); a < want || a >= 2*want {
			return fmt.Errorf("contest pool node %s has %dm allocatable CPU; a contender (%dm) must fit once and not twice", pool[i].Name, a, want)
		}
	}
	nodes := r.client.CoreV1().Nodes()
	err := parallel(ctx, len(pool), r.o.CreateWorkers, func(ctx context.Context, i int) error {
		return clientretry.RetryOnConflict(clientretry.DefaultRetry, func() error {
			n, err := nodes.Get(ctx, pool[i].Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if n.Labels == nil {
				n.Labels = map[string]string{}
			}
			n.Labels[GangPoolKey] = "true"
			if !slices.ContainsFunc(n.Spec.Taints, func(t v1.Taint) bool { return t.MatchTaint(&poolTaint) }) {
				n.Spec.Taints = append(n.Spec.Taints, poolTaint)
			}
			_, err = nodes.Update(ctx, n, metav1.UpdateOptions{})
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("set up the contest pool: %v", err)
	}
	r.logf("contest pool: %d nodes labelled and tainted %s; two gangs of %d contenders (%dm CPU each)",
		len(pool), GangPoolKey, r.counts.ContestSize, want)
	// The quality checks read the nodes' labels and taints.
	return r.loadNodes(ctx)
}

// createPodGroups creates the run's PodGroups in ns (gang policy with the
// plan's minCount), before the scheduler under test starts.
func (r *runner) createPodGroups(ctx context.Context, ns string, plan *gangPlan) error {
	start := time.Now()
	pgs := r.client.SchedulingV1beta1().PodGroups(ns)
	err := parallel(ctx, len(plan.groups), r.o.CreateWorkers, func(ctx context.Context, i int) error {
		g := plan.groups[i]
		pg := &schedulingv1beta1.PodGroup{
			ObjectMeta: metav1.ObjectMeta{Name: g.name, Namespace: ns},
			Spec: schedulingv1beta1.PodGroupSpec{SchedulingPolicy: schedulingv1beta1.PodGroupSchedulingPolicy{
				Gang: &schedulingv1beta1.GangSchedulingPolicy{MinCount: int32(g.minCount)},
			}},
		}
		err := retry(ctx, func() error { _, err := pgs.Create(ctx, pg, metav1.CreateOptions{}); return err })
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create PodGroup %s: %v (does the control plane serve scheduling.k8s.io/v1beta1? rebuild devcluster)", g.name, err)
		}
		return nil
	})
	if err == nil {
		r.logf("created %d PodGroups in %s", len(plan.groups), time.Since(start).Round(time.Millisecond))
	}
	return err
}

// joinGroup makes p a member of the PodGroup name.
func joinGroup(p *v1.Pod, name string) {
	p.Spec.SchedulingGroup = &v1.PodSchedulingGroup{PodGroupName: ptr.To(name)}
}

// GangResult holds the gang figures of one run.
type GangResult struct {
	// Groups is the number of regular gangs; GroupsPlaced of them had
	// every member bound at the end.
	Groups       int `json:"groups"`
	GroupsPlaced int `json:"groupsPlaced"`
	// Time to place a whole regular gang, from the harness issuing the
	// create of its last pod to the bind of its last member (seen on the
	// watch), over the placed gangs (milliseconds); nil if none.
	GroupTimeP50Ms *float64 `json:"groupTimeP50Ms"`
	GroupTimeP99Ms *float64 `json:"groupTimeP99Ms"`
	// PartialAtEnd counts the PodGroups (regular and contest) with
	// 0 < bound < minCount in the final API state.
	PartialAtEnd int `json:"partialAtEnd"`
	// PartialMax is the largest number of PodGroups that were partial at
	// the same moment during the run, from the bind times on the watch.
	PartialMax int `json:"partialMax"`
	// PartialGroupSeconds sums, over the PodGroups, the time each spent
	// partial (from its first bind to its minCount-th, or to the end).
	PartialGroupSeconds float64 `json:"partialGroupSeconds"`
	// Contest holds the two competing gangs, ContestA then ContestB.
	Contest []ContestGang `json:"contest"`
	// ContestPlaced names the contest gang that reached its minCount:
	// ContestA, ContestB, "none" or "both" (a capacity violation).
	ContestPlaced string `json:"contestPlaced"`
}

// ContestGang is one of the two competing gangs at the end of a run.
type ContestGang struct {
	Name     string `json:"name"`
	MinCount int    `json:"minCount"`
	Bound    int    `json:"bound"`
}

// gangAccount computes the gang figures of a run. createAt and bindAt are
// the harness's per-pod times (ns since the run's base; bindAt 0 = not
// seen bound), boundAtEnd the final API state and end the time the run
// stopped.
func gangAccount(plan *gangPlan, createAt, bindAt []int64, boundAtEnd []bool, end int64) *GangResult {
	res := &GangResult{}
	type group struct {
		binds      []int64
		lastCreate int64
		boundEnd   int
	}
	gs := make([]group, len(plan.groups))
	for i, g := range plan.of {
		if i >= len(createAt) {
			break
		}
		gs[g].lastCreate = max(gs[g].lastCreate, createAt[i])
		if bindAt[i] > 0 {
			gs[g].binds = append(gs[g].binds, bindAt[i])
		}
		if boundAtEnd[i] {
			gs[g].boundEnd++
		}
	}
	type event struct {
		t     int64
		delta int
	}
	var events []event
	var groupTimes []float64
	aPlaced, bPlaced := false, false
	for k, pg := range plan.groups {
		g := &gs[k]
		if g.boundEnd > 0 && g.boundEnd < pg.minCount {
			res.PartialAtEnd++
		}
		if pg.contest {
			res.Contest = append(res.Contest, ContestGang{Name: pg.name, MinCount: pg.minCount, Bound: g.boundEnd})
			if g.boundEnd >= pg.minCount {
				if pg.name == ContestA {
					aPlaced = true
				} else {
					bPlaced = true
				}
			}
		} else {
			res.Groups++
			if g.boundEnd >= pg.size && len(g.binds) >= pg.size {
				res.GroupsPlaced++
				last := slices.Max(g.binds)
				groupTimes = append(groupTimes, float64(max(last-g.lastCreate, 0))/1e6)
			}
		}
		if len(g.binds) == 0 {
			continue
		}
		slices.Sort(g.binds)
		from, to := g.binds[0], end
		if len(g.binds) >= pg.minCount {
			to = g.binds[pg.minCount-1]
		}
		if to > from {
			events = append(events, event{from, +1}, event{to, -1})
			res.PartialGroupSeconds += time.Duration(to - from).Seconds()
		}
	}
	// Ends before starts at the same instant: a group handing over to
	// another is not two partial groups at once.
	sort.Slice(events, func(i, j int) bool {
		if events[i].t != events[j].t {
			return events[i].t < events[j].t
		}
		return events[i].delta < events[j].delta
	})
	cur := 0
	for _, e := range events {
		cur += e.delta
		res.PartialMax = max(res.PartialMax, cur)
	}
	res.PartialGroupSeconds = round3(res.PartialGroupSeconds)
	if len(groupTimes) > 0 {
		res.GroupTimeP50Ms = ptr.To(round3(percentile(groupTimes, 50)))
		res.GroupTimeP99Ms = ptr.To(round3(percentile(groupTimes, 99)))
	}
	switch {
	case aPlaced && bPlaced:
		res.ContestPlaced = "both"
	case aPlaced:
		res.ContestPlaced = ContestA
	case bPlaced:
		res.ContestPlaced = ContestB
	default:
		res.ContestPlaced = "none"
	}
	return res
}

// contestString renders the contest of a run for the report.
func (g *GangResult) contestString() string {
	var parts []string
	for _, c := range g.Contest {
		parts = append(parts, fmt.Sprintf("%d/%d", c.Bound, c.MinCount))
	}
	return strings.Join(parts, " · ")
}
