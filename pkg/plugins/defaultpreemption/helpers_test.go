package defaultpreemption

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	policy "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/internal/plugintest"
	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/noderesources"
)

// nodeStatuses is a NodeToStatusReader; unlisted nodes are unresolvable.
type nodeStatuses map[string]*framework.Status

func (m nodeStatuses) Get(n string) *framework.Status {
	if s, ok := m[n]; ok {
		return s
	}
	return framework.NewStatus(framework.UnschedulableAndUnresolvable, "absent")
}

func (m nodeStatuses) NodesForStatusCode(l framework.NodeInfoLister, code framework.Code) ([]*framework.NodeInfo, error) {
	var out []*framework.NodeInfo
	for _, ni := range l.List() {
		if m.Get(ni.Node().Name).Code() == code {
			out = append(out, ni)
		}
	}
	return out, nil
}

type countingMetrics struct{ attempts, victims atomic.Int64 }

func (m *countingMetrics) PreemptionAttempt() { m.attempts.Add(1) }
func (m *countingMetrics) Victims(n int)      { m.victims.Add(int64(n)) }

type env struct {
	pl      *DefaultPreemption
	h       *plugintest.PreemptionHandle
	metrics *countingMetrics
}

// newEnv builds the plugin over pods and nodes with NodeResourcesFit as
// the only filter, PDBs in the informer, a fixed offset and synchronous
// side effects.
func newEnv(t testing.TB, pods []*v1.Pod, nodes []*v1.Node, pdbs []*policy.PodDisruptionBudget, args *configv1.DefaultPreemptionArgs) *env {
	t.Helper()
	ctx := context.Background()
	objs := []runtime.Object{}
	for _, p := range pods {
		objs = append(objs, p)
	}
	for _, p := range pdbs {
		objs = append(objs, p)
	}
	h := st.NewHandle(st.NewSnapshot(pods, nodes), objs...)
	fit, err := noderesources.NewFit(ctx, nil, h)
	if err != nil {
		t.Fatal(err)
	}
	ph := plugintest.NewPreemptionHandle(h, fit)
	m := &countingMetrics{}
	ph.Metrics = m
	var a runtime.Object
	if args != nil {
		a = args
	}
	p, err := New(ctx, a, ph)
	if err != nil {
		t.Fatal(err)
	}
	pl := p.(*DefaultPreemption)
	pl.randIntn = func(int) int { return 0 }
	pl.async = func(f func()) { f() }
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	h.Informers.Start(stop)
	h.Informers.WaitForCacheSync(stop)
	return &env{pl: pl, h: ph, metrics: m}
}

// run does what the engine does for pod: PreFilter, Filter on every node,
// then PostFilter with the collected statuses.
func (e *env) run(t testing.TB, pod *v1.Pod) (*framework.PostFilterResult, *framework.Status) {
	t.Helper()
	ctx := context.Background()
	state := framework.NewCycleState()
	nodes := e.h.SnapshotSharedLister().NodeInfos().List()
	if st := e.h.Runner.RunPreFilterPlugins(ctx, state, pod, nodes); !st.IsSuccess() {
		t.Fatalf("PreFilter: %v", st)
	}
	statuses := nodeStatuses{}
	for _, ni := range nodes {
		if st := e.h.Runner.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni); !st.IsSuccess() {
			statuses[ni.Node().Name] = st
		}
	}
	return e.pl.PostFilter(ctx, state, pod, statuses)
}

func node(name string, cpu string) *v1.Node {
	return st.MakeNode().Name(name).Capacity("cpu", cpu, "memory", "64Gi", "pods", "110").Obj()
}

// pod is a running pod with a start time offset from a fixed base.
func pod(name, nodeName string, prio int32, cpu string, startedMin int) *st.PodWrapper {
	w := st.MakePod().Name(name).UID(name).Namespace("default").Node(nodeName).Priority(prio).Req("cpu", cpu)
	t := metav1.NewTime(time.Date(2025, 1, 1, 0, startedMin, 0, 0, time.UTC))
	w.Status.StartTime = &t
	return w
}

func preemptor(name string, prio int32, cpu string) *st.PodWrapper {
	return st.MakePod().Name(name).UID(name).Namespace("default").Priority(prio).Req("cpu", cpu)
}

func pdb(name string, allowed int32, kv ...string) *policy.PodDisruptionBudget {
	one := intstr.FromInt32(1)
	return &policy.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       policy.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: st.Labels(kv...)},
		Status:     policy.PodDisruptionBudgetStatus{DisruptionsAllowed: allowed},
	}
}

func names(pods []*v1.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Name
	}
	return out
}
