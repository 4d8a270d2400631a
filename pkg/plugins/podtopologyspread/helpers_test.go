package podtopologyspread

import (
	"context"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	configv1 "k8s.io/kube-scheduler/config/v1"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

const (
	zoneKey = v1.LabelTopologyZone
	hostKey = v1.LabelHostname
)

var (
	honor  = ptr.To(v1.NodeInclusionPolicyHonor)
	ignore = ptr.To(v1.NodeInclusionPolicyIgnore)
	hard   = v1.DoNotSchedule
	soft   = v1.ScheduleAnyway
)

// fooSelector selects app=foo.
func fooSelector() *st.LabelSelectorWrapper { return st.MakeLabelSelector().Label("app", "foo") }

// zoneNode is a node named name in zone z (no zone label when z is "").
func zoneNode(name, z string) *st.NodeWrapper {
	n := st.MakeNode().Name(name)
	if z != "" {
		n.Label(zoneKey, z)
	}
	return n
}

// fooPods returns n pods labelled app=foo on node.
func fooPods(node string, n int) []*v1.Pod {
	var out []*v1.Pod
	for i := range n {
		out = append(out, st.MakePod().Name(fmt.Sprintf("%s-foo-%d", node, i)).Label("app", "foo").Node(node).Obj())
	}
	return out
}

func concat(lists ...[]*v1.Pod) []*v1.Pod {
	var out []*v1.Pod
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// newPlugin builds the plugin over snap with args (nil for defaults) and a
// fake API holding objs, its informers started and synced.
func newPlugin(t testing.TB, snap framework.SharedLister, args *configv1.PodTopologySpreadArgs, objs ...runtime.Object) *PodTopologySpread {
	t.Helper()
	h := st.NewHandle(snap, objs...)
	var obj runtime.Object
	if args != nil {
		obj = args
	}
	p, err := New(context.Background(), obj, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h.Informers.Start(ctx.Done())
	h.Informers.WaitForCacheSync(ctx.Done())
	return p.(*PodTopologySpread)
}

// listArgs returns List defaulting with the constraints.
func listArgs(cs ...v1.TopologySpreadConstraint) *configv1.PodTopologySpreadArgs {
	return &configv1.PodTopologySpreadArgs{DefaultingType: configv1.ListDefaulting, DefaultConstraints: cs}
}

// filterAll runs PreFilter and then Filter on every node, returning the
// PreFilter status and each node's Filter status (by name; successes are
// left out).
func filterAll(t testing.TB, pl *PodTopologySpread, pod *v1.Pod, nodes []*framework.NodeInfo) (*framework.Status, map[string]*framework.Status) {
	t.Helper()
	ctx := context.Background()
	state := framework.NewCycleState()
	_, pst := pl.PreFilter(ctx, state, pod, nodes)
	if !pst.IsSuccess() {
		return pst, nil
	}
	out := map[string]*framework.Status{}
	for _, ni := range nodes {
		if st := pl.Filter(ctx, state, pod, ni); !st.IsSuccess() {
			out[ni.Node().Name] = st
		}
	}
	return nil, out
}

// scoreAll runs PreScore, Score and NormalizeScore over nodes.
func scoreAll(t testing.TB, pl *PodTopologySpread, pod *v1.Pod, nodes []*framework.NodeInfo) (*framework.Status, []int64, map[string]int64) {
	t.Helper()
	ctx := context.Background()
	state := framework.NewCycleState()
	if st := pl.PreScore(ctx, state, pod, nodes); !st.IsSuccess() {
		return st, nil, nil
	}
	var raw []int64
	scores := make(framework.NodeScoreList, 0, len(nodes))
	for _, ni := range nodes {
		s, st := pl.Score(ctx, state, pod, ni)
		if !st.IsSuccess() {
			t.Fatalf("Score(%s) = %v", ni.Node().Name, st)
		}
		raw = append(raw, s)
		scores = append(scores, framework.NodeScore{Name: ni.Node().Name, Score: s})
	}
	if st := pl.ScoreExtensions().NormalizeScore(ctx, state, pod, scores); !st.IsSuccess() {
		t.Fatalf("NormalizeScore = %v", st)
	}
	out := map[string]int64{}
	for _, s := range scores {
		out[s.Name] = s.Score
	}
	return nil, raw, out
}

var (
	skewFail  = framework.NewStatus(framework.Unschedulable, ErrReasonConstraintsNotMatch)
	labelFail = framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNodeLabelNotMatch)
)
