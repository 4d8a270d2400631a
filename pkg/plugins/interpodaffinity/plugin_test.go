package interpodaffinity

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2/ktesting"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

func TestArgs(t *testing.T) {
	args := &configv1.InterPodAffinityArgs{}
	SetDefaultArgs(args)
	if args.HardPodAffinityWeight == nil || *args.HardPodAffinityWeight != 1 {
		t.Errorf("default hardPodAffinityWeight = %v, want 1", args.HardPodAffinityWeight)
	}
	for _, w := range []int32{0, 1, 100} {
		if errs := ValidateArgs(&configv1.InterPodAffinityArgs{HardPodAffinityWeight: int32p(w)}, field.NewPath("args")); len(errs) != 0 {
			t.Errorf("weight %d: unexpected errors %v", w, errs)
		}
	}
	for _, w := range []int32{-1, 101} {
		errs := ValidateArgs(&configv1.InterPodAffinityArgs{HardPodAffinityWeight: int32p(w)}, field.NewPath("args"))
		if len(errs) != 1 || errs[0].Field != "args.hardPodAffinityWeight" {
			t.Errorf("weight %d: errors %v, want one on args.hardPodAffinityWeight", w, errs)
		}
	}
}

func TestQueueingHints(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	pl, _ := newTestPlugin(t, nil, nil, nil)
	pod := st.MakePod().Name("p").Label("app", "db").
		PodAffinity(zoneKey, st.Labels("app", "web")).
		PodAntiAffinity(v1.LabelHostname, st.Labels("app", "batch")).Obj()
	web := st.MakePod().Name("w").Label("app", "web").Node("n1").Obj()
	other := st.MakePod().Name("o").Label("app", "other").Node("n1").Obj()
	batch := st.MakePod().Name("b").Label("app", "batch").Node("n1").Obj()
	hater := st.MakePod().Name("h").Node("n1").PodAntiAffinity(zoneKey, st.Labels("app", "db")).Obj()
	unassigned := st.MakePod().Name("u").Label("app", "web").Obj()
	podTests := []struct {
		name     string
		old, new *v1.Pod
		want     framework.QueueingHint
	}{
		{"added pod matches affinity", nil, web, framework.Queue},
		{"added pod does not match", nil, other, framework.QueueSkip},
		{"unassigned pod", nil, unassigned, framework.QueueSkip},
		{"relabelled to match affinity", other, web, framework.Queue},
		{"relabelled away from anti-affinity", batch, other, framework.Queue},
		{"relabelled, nothing relevant", web, web, framework.QueueSkip},
		{"deleted pod matched anti-affinity", batch, nil, framework.Queue},
		{"deleted pod's anti-affinity rejected the pod", hater, nil, framework.Queue},
		{"deleted unrelated pod", other, nil, framework.QueueSkip},
	}
	for _, tt := range podTests {
		t.Run(tt.name, func(t *testing.T) {
			var oldObj, newObj interface{}
			if tt.old != nil {
				oldObj = tt.old
			}
			if tt.new != nil {
				newObj = tt.new
			}
			got, err := pl.isSchedulableAfterAssignedPodChange(logger, pod, oldObj, newObj)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("hint (-want +got):\n%s", diff)
			}
		})
	}
	nodeTests := []struct {
		name     string
		old, new *v1.Node
		want     framework.QueueingHint
	}{
		{"added node (anti-affinity always may help)", nil, st.MakeNode().Name("n").Obj(), framework.Queue},
		{"node gains the zone", st.MakeNode().Name("n").Obj(), zoneNode("n", "a"), framework.Queue},
		{"node changes zone", zoneNode("n", "a"), zoneNode("n", "b"), framework.Queue},
		{"unrelated label", zoneNode("n", "a"), st.MakeNode().Name("n").Label(zoneKey, "a").Label("x", "y").Obj(), framework.QueueSkip},
	}
	for _, tt := range nodeTests {
		t.Run(tt.name, func(t *testing.T) {
			var oldObj interface{}
			if tt.old != nil {
				oldObj = tt.old
			}
			got, err := pl.isSchedulableAfterNodeChange(logger, pod, oldObj, tt.new)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("hint (-want +got):\n%s", diff)
			}
		})
	}
}
