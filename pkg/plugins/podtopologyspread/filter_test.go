package podtopologyspread

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	configv1 "k8s.io/kube-scheduler/config/v1"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

func TestPreFilterAndFilter(t *testing.T) {
	abNodes := []*v1.Node{zoneNode("a1", "a").Obj(), zoneNode("a2", "a").Obj(), zoneNode("b1", "b").Obj()}
	abPods := concat(fooPods("a1", 2), fooPods("b1", 1))
	replicaSet := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "rs", Namespace: "default"},
		Spec:       appsv1.ReplicaSetSpec{Selector: fooSelector().Obj()},
	}
	rsKind := appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	tests := []struct {
		name      string
		args      *configv1.PodTopologySpreadArgs
		objs      []runtime.Object
		nodes     []*v1.Node
		pods      []*v1.Pod
		pod       *v1.Pod
		wantSkip  bool
		wantFails map[string]*framework.Status
	}{
		{
			name:  "zone maxSkew 1 rejects the fuller zone",
			nodes: abNodes, pods: abPods,
			pod:       st.MakePod().Name("p").Label("app", "foo").SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), nil, nil, nil, nil).Obj(),
			wantFails: map[string]*framework.Status{"a1": skewFail, "a2": skewFail},
		},
		{
			name:  "larger maxSkew admits it",
			nodes: abNodes, pods: abPods,
			pod:       st.MakePod().Name("p").Label("app", "foo").SpreadConstraint(2, zoneKey, hard, fooSelector().Obj(), nil, nil, nil, nil).Obj(),
			wantFails: map[string]*framework.Status{},
		},
		{
			name:  "a pod its own selector misses does not add itself",
			nodes: abNodes, pods: abPods,
			pod:       st.MakePod().Name("p").Label("app", "bar").SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), nil, nil, nil, nil).Obj(),
			wantFails: map[string]*framework.Status{},
		},
		{
			name:      "a node without the key is unresolvable and its pods do not count",
			nodes:     append(abNodes, zoneNode("x1", "").Obj()),
			pods:      concat(abPods, fooPods("x1", 5)),
			pod:       st.MakePod().Name("p").Label("app", "foo").SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), nil, nil, nil, nil).Obj(),
			wantFails: map[string]*framework.Status{"a1": skewFail, "a2": skewFail, "x1": labelFail},
		},
		{
			name:      "minDomains above the domain count makes the global minimum 0",
			nodes:     []*v1.Node{zoneNode("a1", "a").Obj(), zoneNode("b1", "b").Obj()},
			pods:      concat(fooPods("a1", 1), fooPods("b1", 1)),
			pod:       st.MakePod().Name("p").Label("app", "foo").SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), ptr.To[int32](3), nil, nil, nil).Obj(),
			wantFails: map[string]*framework.Status{"a1": skewFail, "b1": skewFail},
		},
		{
			name:      "minDomains met keeps the real minimum",
			nodes:     []*v1.Node{zoneNode("a1", "a").Obj(), zoneNode("b1", "b").Obj()},
			pods:      concat(fooPods("a1", 1), fooPods("b1", 1)),
			pod:       st.MakePod().Name("p").Label("app", "foo").SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), ptr.To[int32](2), nil, nil, nil).Obj(),
			wantFails: map[string]*framework.Status{},
		},
		{
			name: "nodeAffinityPolicy Honor (default) leaves out zones the pod cannot use",
			nodes: []*v1.Node{zoneNode("a1", "a").Label("pool", "x").Obj(), zoneNode("b1", "b").Label("pool", "x").Obj(),
				zoneNode("c1", "c").Obj()},
			pods: abPods,
			pod: st.MakePod().Name("p").Label("app", "foo").NodeSelector(map[string]string{"pool": "x"}).
				SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), nil, nil, nil, nil).Obj(),
			wantFails: map[string]*framework.Status{"a1": skewFail},
		},
		{
			name: "nodeAffinityPolicy Ignore counts them as empty domains",
			nodes: []*v1.Node{zoneNode("a1", "a").Label("pool", "x").Obj(), zoneNode("b1", "b").Label("pool", "x").Obj(),
				zoneNode("c1", "c").Obj()},
			pods: abPods,
			pod: st.MakePod().Name("p").Label("app", "foo").NodeSelector(map[string]string{"pool": "x"}).
				SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), nil, ignore, nil, nil).Obj(),
			wantFails: map[string]*framework.Status{"a1": skewFail, "b1": skewFail},
		},
		{
			name: "nodeTaintsPolicy Ignore (default) counts a tainted empty zone",
			nodes: []*v1.Node{zoneNode("a1", "a").Obj(), zoneNode("b1", "b").Obj(),
				zoneNode("c1", "c").Taint("gpu", "true", v1.TaintEffectNoSchedule).Obj()},
			pods:      abPods,
			pod:       st.MakePod().Name("p").Label("app", "foo").SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), nil, nil, nil, nil).Obj(),
			wantFails: map[string]*framework.Status{"a1": skewFail, "b1": skewFail},
		},
		{
			name: "nodeTaintsPolicy Honor leaves out an untolerated tainted zone",
			nodes: []*v1.Node{zoneNode("a1", "a").Obj(), zoneNode("b1", "b").Obj(),
				zoneNode("c1", "c").Taint("gpu", "true", v1.TaintEffectNoSchedule).Obj()},
			pods:      abPods,
			pod:       st.MakePod().Name("p").Label("app", "foo").SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), nil, nil, honor, nil).Obj(),
			wantFails: map[string]*framework.Status{"a1": skewFail},
		},
		{
			name: "nodeTaintsPolicy Honor keeps a tolerated tainted zone",
			nodes: []*v1.Node{zoneNode("a1", "a").Obj(), zoneNode("b1", "b").Obj(),
				zoneNode("c1", "c").Taint("gpu", "true", v1.TaintEffectNoSchedule).Obj()},
			pods: abPods,
			pod: st.MakePod().Name("p").Label("app", "foo").ExistsToleration("gpu", "").
				SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), nil, nil, honor, nil).Obj(),
			wantFails: map[string]*framework.Status{"a1": skewFail, "b1": skewFail},
		},
		{
			name:  "matchLabelKeys narrow the selector to the pod's own revision",
			nodes: []*v1.Node{zoneNode("a1", "a").Obj(), zoneNode("b1", "b").Obj(), zoneNode("c1", "c").Obj()},
			pods: []*v1.Pod{
				st.MakePod().Name("old1").Label("app", "foo").Label("rev", "1").Node("a1").Obj(),
				st.MakePod().Name("old2").Label("app", "foo").Label("rev", "1").Node("a1").Obj(),
				st.MakePod().Name("new1").Label("app", "foo").Label("rev", "2").Node("b1").Obj(),
			},
			pod: st.MakePod().Name("p").Label("app", "foo").Label("rev", "2").
				SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), nil, nil, nil, []string{"rev"}).Obj(),
			wantFails: map[string]*framework.Status{"b1": skewFail},
		},
		{
			name:  "without matchLabelKeys every revision counts",
			nodes: []*v1.Node{zoneNode("a1", "a").Obj(), zoneNode("b1", "b").Obj(), zoneNode("c1", "c").Obj()},
			pods: []*v1.Pod{
				st.MakePod().Name("old1").Label("app", "foo").Label("rev", "1").Node("a1").Obj(),
				st.MakePod().Name("old2").Label("app", "foo").Label("rev", "1").Node("a1").Obj(),
				st.MakePod().Name("new1").Label("app", "foo").Label("rev", "2").Node("b1").Obj(),
			},
			pod: st.MakePod().Name("p").Label("app", "foo").Label("rev", "2").
				SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), nil, nil, nil, nil).Obj(),
			wantFails: map[string]*framework.Status{"a1": skewFail, "b1": skewFail},
		},
		{
			name:  "terminating pods and pods of other namespaces do not count",
			nodes: []*v1.Node{zoneNode("a1", "a").Obj(), zoneNode("b1", "b").Obj()},
			pods: []*v1.Pod{
				st.MakePod().Name("t1").Label("app", "foo").Node("a1").Terminating().Obj(),
				st.MakePod().Name("t2").Label("app", "foo").Node("a1").Terminating().Obj(),
				st.MakePod().Name("o1").Namespace("other").Label("app", "foo").Node("a1").Obj(),
				st.MakePod().Name("o2").Namespace("other").Label("app", "foo").Node("a1").Obj(),
			},
			pod:       st.MakePod().Name("p").Label("app", "foo").SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), nil, nil, nil, nil).Obj(),
			wantFails: map[string]*framework.Status{},
		},
		{
			name: "zone and hostname: the first failing constraint decides",
			nodes: []*v1.Node{zoneNode("a1", "a").Obj(), zoneNode("a2", "a").Obj(), zoneNode("b1", "b").Obj(),
				st.MakeNode().Name("b2").Label(zoneKey, "b").Obj()},
			pods: fooPods("a1", 1),
			pod: st.MakePod().Name("p").Label("app", "foo").
				SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), nil, nil, nil, nil).
				SpreadConstraint(1, hostKey, hard, fooSelector().Obj(), nil, nil, nil, nil).Obj(),
			wantFails: map[string]*framework.Status{"a1": skewFail, "a2": skewFail},
		},
		{
			name: "a node lacking the second key fails on the first constraint's skew first",
			nodes: []*v1.Node{zoneNode("a1", "a").Obj(), zoneNode("b1", "b").Obj(),
				{ObjectMeta: metav1.ObjectMeta{Name: "nohost", Labels: map[string]string{zoneKey: "a"}}}},
			pods: concat(fooPods("a1", 1)),
			pod: st.MakePod().Name("p").Label("app", "foo").
				SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), nil, nil, nil, nil).
				SpreadConstraint(1, hostKey, hard, fooSelector().Obj(), nil, nil, nil, nil).Obj(),
			wantFails: map[string]*framework.Status{"a1": skewFail, "nohost": skewFail},
		},
		{
			name:  "an empty selector counts no pod but matches the pod itself",
			nodes: abNodes, pods: concat(abPods, fooPods("a2", 4)),
			pod:       st.MakePod().Name("p").Label("app", "foo").SpreadConstraint(1, zoneKey, hard, st.MakeLabelSelector().Obj(), nil, nil, nil, nil).Obj(),
			wantFails: map[string]*framework.Status{},
		},
		{
			name:  "only soft constraints: Filter is skipped",
			nodes: abNodes, pods: abPods,
			pod:      st.MakePod().Name("p").Label("app", "foo").SpreadConstraint(1, zoneKey, soft, fooSelector().Obj(), nil, nil, nil, nil).Obj(),
			wantSkip: true,
		},
		{
			name:  "system defaults are soft: Filter is skipped",
			objs:  []runtime.Object{replicaSet},
			nodes: abNodes, pods: abPods,
			pod:      st.MakePod().Name("p").Label("app", "foo").OwnerReference("rs", rsKind).Obj(),
			wantSkip: true,
		},
		{
			name:  "listed hard defaults apply to a ReplicaSet's pod with its selector",
			args:  listArgs(v1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: zoneKey, WhenUnsatisfiable: hard}),
			objs:  []runtime.Object{replicaSet},
			nodes: abNodes, pods: abPods,
			pod:       st.MakePod().Name("p").Label("app", "foo").OwnerReference("rs", rsKind).Obj(),
			wantFails: map[string]*framework.Status{"a1": skewFail, "a2": skewFail},
		},
		{
			name:  "listed defaults do not apply to a pod no workload owns",
			args:  listArgs(v1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: zoneKey, WhenUnsatisfiable: hard}),
			objs:  []runtime.Object{replicaSet},
			nodes: abNodes, pods: abPods,
			pod:      st.MakePod().Name("p").Label("app", "foo").Obj(),
			wantSkip: true,
		},
		{
			name: "listed defaults take a Service's selector",
			args: listArgs(v1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: zoneKey, WhenUnsatisfiable: hard}),
			objs: []runtime.Object{&v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "svc", Namespace: "default"},
				Spec: v1.ServiceSpec{Selector: map[string]string{"app": "foo"}}}},
			nodes: abNodes, pods: abPods,
			pod:       st.MakePod().Name("p").Label("app", "foo").Obj(),
			wantFails: map[string]*framework.Status{"a1": skewFail, "a2": skewFail},
		},
		{
			name:  "the pod's own constraints replace the defaults",
			args:  listArgs(v1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: zoneKey, WhenUnsatisfiable: hard}),
			objs:  []runtime.Object{replicaSet},
			nodes: abNodes, pods: abPods,
			pod: st.MakePod().Name("p").Label("app", "foo").OwnerReference("rs", rsKind).
				SpreadConstraint(1, zoneKey, soft, fooSelector().Obj(), nil, nil, nil, nil).Obj(),
			wantSkip: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := st.NewSnapshot(tt.pods, tt.nodes)
			pl := newPlugin(t, snap, tt.args, tt.objs...)
			pst, fails := filterAll(t, pl, tt.pod, snap.List())
			if tt.wantSkip {
				if !pst.IsSkip() {
					t.Fatalf("PreFilter = %v, want Skip", pst)
				}
				return
			}
			if pst != nil {
				t.Fatalf("PreFilter = %v", pst)
			}
			if diff := cmp.Diff(tt.wantFails, fails); diff != "" {
				t.Errorf("Filter failures (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFilterExplainsWhichConstraint(t *testing.T) {
	snap := st.NewSnapshot(fooPods("a1", 2), []*v1.Node{zoneNode("a1", "a").Obj(), zoneNode("b1", "b").Obj(), zoneNode("x", "").Obj()})
	pl := newPlugin(t, snap, nil)
	pod := st.MakePod().Name("p").Label("app", "foo").SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), nil, nil, nil, nil).Obj()
	_, fails := filterAll(t, pl, pod, snap.List())
	if got, want := fails["a1"].AsError().Error(), ErrReasonConstraintsNotMatch+" (topology.kubernetes.io/zone, maxSkew 1)"; got != want {
		t.Errorf("skew detail = %q, want %q", got, want)
	}
	if got, want := fails["x"].AsError().Error(), ErrReasonConstraintsNotMatch+" (missing required label topology.kubernetes.io/zone)"; got != want {
		t.Errorf("label detail = %q, want %q", got, want)
	}
}

func TestFilterWithoutPreFilter(t *testing.T) {
	snap := st.NewSnapshot(nil, []*v1.Node{zoneNode("a1", "a").Obj()})
	pl := newPlugin(t, snap, nil)
	st := pl.Filter(context.Background(), framework.NewCycleState(), st.MakePod().Name("p").Obj(), snap.List()[0])
	if st.Code() != framework.Error {
		t.Errorf("Filter without PreFilter = %v, want Error", st)
	}
}

func TestAddRemovePod(t *testing.T) {
	nodes := []*v1.Node{zoneNode("a1", "a").Obj(), zoneNode("b1", "b").Obj(), zoneNode("c1", "c").Label("pool", "y").Obj()}
	pod := st.MakePod().Name("p").Label("app", "foo").SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), nil, nil, nil, nil).Obj()
	foo := func(name, node string) *framework.PodInfo {
		return framework.NewPodInfo(st.MakePod().Name(name).Label("app", "foo").Node(node).Obj())
	}
	type op struct {
		add  bool
		pod  *framework.PodInfo
		node string
	}
	tests := []struct {
		name      string
		pods      []*v1.Pod
		pod       *v1.Pod
		ops       []op
		wantFails map[string]*framework.Status
	}{
		{
			name: "adding to the emptiest zone raises the minimum",
			pods: concat(fooPods("a1", 1), fooPods("b1", 1)),
			pod:  pod,
			// a=1 b=1 c=0: only c fits; after adding to c, all fit.
			ops:       []op{{add: true, pod: foo("n", "c1"), node: "c1"}},
			wantFails: map[string]*framework.Status{},
		},
		{
			name:      "removing a pod from a zone lowers the minimum",
			pods:      concat(fooPods("a1", 1), fooPods("b1", 1), fooPods("c1", 1)),
			pod:       pod,
			ops:       []op{{pod: framework.NewPodInfo(fooPods("c1", 1)[0]), node: "c1"}},
			wantFails: map[string]*framework.Status{"a1": skewFail, "b1": skewFail},
		},
		{
			name:      "pods of another namespace are not counted",
			pods:      concat(fooPods("a1", 1), fooPods("b1", 1)),
			pod:       pod,
			ops:       []op{{add: true, pod: framework.NewPodInfo(st.MakePod().Name("o").Namespace("x").Label("app", "foo").Obj()), node: "c1"}},
			wantFails: map[string]*framework.Status{"a1": skewFail, "b1": skewFail},
		},
		{
			name:      "pods the selector misses are not counted",
			pods:      concat(fooPods("a1", 1), fooPods("b1", 1)),
			pod:       pod,
			ops:       []op{{add: true, pod: framework.NewPodInfo(st.MakePod().Name("o").Label("app", "bar").Obj()), node: "c1"}},
			wantFails: map[string]*framework.Status{"a1": skewFail, "b1": skewFail},
		},
		{
			name: "a node outside the pod's node affinity is not counted",
			pods: concat(fooPods("a1", 1), fooPods("b1", 1)),
			pod: st.MakePod().Name("p").Label("app", "foo").NodeAffinityIn(zoneKey, "a", "b").
				SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), nil, nil, nil, nil).Obj(),
			// c1 is not a domain: a=1 b=1 min=1, so a and b fit; adding to c1 changes nothing.
			ops:       []op{{add: true, pod: foo("n", "c1"), node: "c1"}},
			wantFails: map[string]*framework.Status{},
		},
		{
			name:      "add then remove restores the state",
			pods:      concat(fooPods("a1", 1), fooPods("b1", 1)),
			pod:       pod,
			ops:       []op{{add: true, pod: foo("n", "c1"), node: "c1"}, {add: true, pod: foo("m", "c1"), node: "c1"}, {pod: foo("n", "c1"), node: "c1"}, {pod: foo("m", "c1"), node: "c1"}},
			wantFails: map[string]*framework.Status{"a1": skewFail, "b1": skewFail},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			snap := st.NewSnapshot(tt.pods, nodes)
			pl := newPlugin(t, snap, nil)
			state := framework.NewCycleState()
			if _, s := pl.PreFilter(ctx, state, tt.pod, snap.List()); !s.IsSuccess() {
				t.Fatalf("PreFilter = %v", s)
			}
			before := map[string]*framework.Status{}
			for _, ni := range snap.List() {
				if s := pl.Filter(ctx, state, tt.pod, ni); !s.IsSuccess() {
					before[ni.Node().Name] = s
				}
			}
			// The ops run on a clone, as preemption does; the original must
			// not change.
			clone := state.Clone()
			for _, o := range tt.ops {
				ni, _ := snap.Get(o.node)
				var s *framework.Status
				if o.add {
					s = pl.AddPod(ctx, clone, tt.pod, o.pod, ni)
				} else {
					s = pl.RemovePod(ctx, clone, tt.pod, o.pod, ni)
				}
				if !s.IsSuccess() {
					t.Fatalf("AddPod/RemovePod = %v", s)
				}
			}
			got := map[string]*framework.Status{}
			after := map[string]*framework.Status{}
			for _, ni := range snap.List() {
				if s := pl.Filter(ctx, clone, tt.pod, ni); !s.IsSuccess() {
					got[ni.Node().Name] = s
				}
				if s := pl.Filter(ctx, state, tt.pod, ni); !s.IsSuccess() {
					after[ni.Node().Name] = s
				}
			}
			if diff := cmp.Diff(tt.wantFails, got); diff != "" {
				t.Errorf("Filter after the ops (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("the original state changed (-before +after):\n%s", diff)
			}
		})
	}
}
