package podtopologyspread

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2/ktesting"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

func TestQueueingHints(t *testing.T) {
	pl := newPlugin(t, st.NewSnapshot(nil, nil), nil)
	pod := st.MakePod().Name("p").Label("app", "foo").
		SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), nil, nil, honor, nil).Obj()
	bound := func(name string, l ...string) *v1.Pod {
		w := st.MakePod().Name(name).Node("n1")
		for i := 0; i+1 < len(l); i += 2 {
			w.Label(l[i], l[i+1])
		}
		return w.Obj()
	}
	withZone := zoneNode("n1", "a").Obj()
	otherZone := zoneNode("n1", "b").Obj()
	noZone := zoneNode("n1", "").Obj()
	tainted := zoneNode("n1", "a").Taint("x", "y", v1.TaintEffectNoSchedule).Obj()
	tolerating := st.MakePod().Name("p").Label("app", "foo").ExistsToleration("x", "").
		SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), nil, nil, honor, nil).Obj()
	relabelled := st.MakePod().Name("p").Label("app", "bar").
		SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), nil, nil, honor, nil).Obj()

	tests := []struct {
		name     string
		event    int
		old, new interface{}
		want     framework.QueueingHint
	}{
		{name: "matching pod assigned", new: bound("q", "app", "foo"), want: framework.Queue},
		{name: "unmatched pod assigned", new: bound("q", "app", "bar"), want: framework.QueueSkip},
		{name: "pod in another namespace", new: st.MakePod().Name("q").Namespace("x").Label("app", "foo").Node("n1").Obj(), want: framework.QueueSkip},
		{name: "unassigned pod", new: st.MakePod().Name("q").Label("app", "foo").Obj(), want: framework.QueueSkip},
		{name: "matching pod deleted", old: bound("q", "app", "foo"), want: framework.Queue},
		{name: "label change flips the match", old: bound("q", "app", "foo"), new: bound("q", "app", "bar"), want: framework.Queue},
		{name: "label change keeps the match", old: bound("q", "app", "foo"), new: bound("q", "app", "foo", "x", "y"), want: framework.QueueSkip},
		{name: "own tolerations changed with taints honoured", event: 1, old: pod, new: tolerating, want: framework.Queue},
		{name: "own labels flip the match", event: 1, old: pod, new: relabelled, want: framework.Queue},
		{name: "another pod's update", event: 1, old: bound("q"), new: bound("q", "app", "foo"), want: framework.QueueSkip},
		{name: "node with the key added", event: 2, new: withZone, want: framework.Queue},
		{name: "node without the key added", event: 2, new: noZone, want: framework.QueueSkip},
		{name: "node with the key deleted", event: 2, old: withZone, want: framework.Queue},
		{name: "node gains the key", event: 2, old: noZone, new: withZone, want: framework.Queue},
		{name: "node changes zone", event: 2, old: withZone, new: otherZone, want: framework.Queue},
		{name: "node changes taints", event: 2, old: withZone, new: tainted, want: framework.Queue},
		{name: "node without the key changes", event: 2, old: noZone, new: zoneNode("n1", "").Label("x", "y").Obj(), want: framework.QueueSkip},
		{name: "unrelated node label", event: 2, old: withZone, new: zoneNode("n1", "a").Label("x", "y").Obj(), want: framework.QueueSkip},
	}
	events, err := pl.EventsToRegister(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wantEvents := []framework.ClusterEvent{
		{Resource: framework.AssignedPod, ActionType: framework.Add | framework.UpdatePodLabel | framework.Delete},
		{Resource: framework.UnscheduledPod, ActionType: framework.UpdatePodLabel | framework.UpdatePodTolerations},
		{Resource: framework.Node, ActionType: framework.Add | framework.Delete | framework.UpdateNodeLabel | framework.UpdateNodeTaint},
	}
	var gotEvents []framework.ClusterEvent
	for _, e := range events {
		gotEvents = append(gotEvents, e.Event)
	}
	if diff := cmp.Diff(wantEvents, gotEvents); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, _ := ktesting.NewTestContext(t)
			// Typed nils would not be nil interfaces.
			var oldObj, newObj interface{}
			if tt.old != nil {
				oldObj = tt.old
			}
			if tt.new != nil {
				newObj = tt.new
			}
			got, err := events[tt.event].QueueingHintFn(logger, pod, oldObj, newObj)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("hint = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestValidateArgs(t *testing.T) {
	tests := []struct {
		name string
		args configv1.PodTopologySpreadArgs
		want []string
	}{
		{name: "system", args: configv1.PodTopologySpreadArgs{DefaultingType: configv1.SystemDefaulting}},
		{name: "empty list", args: configv1.PodTopologySpreadArgs{DefaultingType: configv1.ListDefaulting}},
		{
			name: "valid list",
			args: *listArgs(v1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: zoneKey, WhenUnsatisfiable: hard},
				v1.TopologySpreadConstraint{MaxSkew: 2, TopologyKey: zoneKey, WhenUnsatisfiable: soft}),
		},
		{
			name: "system with constraints",
			args: configv1.PodTopologySpreadArgs{DefaultingType: configv1.SystemDefaulting,
				DefaultConstraints: []v1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: zoneKey, WhenUnsatisfiable: hard}}},
			want: []string{"args.defaultingType"},
		},
		{name: "unknown type", args: configv1.PodTopologySpreadArgs{DefaultingType: "Other"}, want: []string{"args.defaultingType"}},
		{
			name: "every problem of a constraint",
			args: *listArgs(
				v1.TopologySpreadConstraint{MaxSkew: 0, TopologyKey: "", WhenUnsatisfiable: "", LabelSelector: fooSelector().Obj()},
				v1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: "bad key!", WhenUnsatisfiable: "Maybe"},
				v1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: zoneKey, WhenUnsatisfiable: hard},
				v1.TopologySpreadConstraint{MaxSkew: 3, TopologyKey: zoneKey, WhenUnsatisfiable: hard},
			),
			want: []string{
				"args.defaultConstraints[0].maxSkew", "args.defaultConstraints[0].topologyKey",
				"args.defaultConstraints[0].whenUnsatisfiable", "args.defaultConstraints[0].labelSelector",
				"args.defaultConstraints[1].topologyKey", "args.defaultConstraints[1].whenUnsatisfiable",
				"args.defaultConstraints[3]",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range ValidateArgs(&tt.args, field.NewPath("args")) {
				got = append(got, e.Field)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("error fields (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNew(t *testing.T) {
	snap := st.NewSnapshot(nil, nil)
	if _, err := New(context.Background(), &configv1.NodeAffinityArgs{}, st.NewHandle(snap)); err == nil {
		t.Error("New(wrong args) returned no error")
	}
	if _, err := New(context.Background(), &configv1.PodTopologySpreadArgs{DefaultingType: "Other"}, st.NewHandle(snap)); err == nil {
		t.Error("New(invalid args) returned no error")
	}
	if _, err := New(context.Background(), nil, nil); err == nil {
		t.Error("New(nil handle) returned no error")
	}
	pl := newPlugin(t, snap, nil)
	if !pl.systemDefaulted || len(pl.defaultConstraints) != 2 || pl.services == nil {
		t.Errorf("nil args: systemDefaulted=%v constraints=%v listers set=%v, want System defaults with listers",
			pl.systemDefaulted, pl.defaultConstraints, pl.services != nil)
	}
	args := &configv1.PodTopologySpreadArgs{}
	SetDefaultArgs(args)
	if args.DefaultingType != configv1.SystemDefaulting {
		t.Errorf("defaulted type = %q, want System", args.DefaultingType)
	}
	empty := newPlugin(t, snap, listArgs())
	if empty.services != nil {
		t.Error("List defaulting without constraints registered informers")
	}
}
