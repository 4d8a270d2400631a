package nodeaffinity

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2/ktesting"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

func req(key string, op v1.NodeSelectorOperator, values ...string) v1.NodeSelectorRequirement {
	return v1.NodeSelectorRequirement{Key: key, Operator: op, Values: values}
}

func addedAffinityArgs(required *v1.NodeSelector, preferred ...v1.PreferredSchedulingTerm) *configv1.NodeAffinityArgs {
	return &configv1.NodeAffinityArgs{AddedAffinity: &v1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution:  required,
		PreferredDuringSchedulingIgnoredDuringExecution: preferred,
	}}
}

func newPlugin(t *testing.T, args *configv1.NodeAffinityArgs) *NodeAffinity {
	t.Helper()
	var obj runtime.Object
	if args != nil {
		obj = args
	}
	p, err := New(context.Background(), obj, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p.(*NodeAffinity)
}

func TestFilter(t *testing.T) {
	zoneA := st.MakeNode().Name("n1").Label("zone", "a").Label("disk", "ssd").Obj()
	tests := []struct {
		name          string
		args          *configv1.NodeAffinityArgs
		pod           *v1.Pod
		node          *v1.Node
		wantPreFilter *framework.Status
		wantResult    *framework.PreFilterResult
		want          *framework.Status
		// disablePreFilter runs Filter without PreFilter's state.
		disablePreFilter bool
	}{
		{
			name:          "nothing to check: skip",
			pod:           st.MakePod().Name("p").Obj(),
			node:          zoneA,
			wantPreFilter: framework.NewStatus(framework.Skip),
		},
		{
			name: "nodeSelector matches",
			pod:  st.MakePod().Name("p").NodeSelector(map[string]string{"zone": "a"}).Obj(),
			node: zoneA,
		},
		{
			name: "nodeSelector does not match",
			pod:  st.MakePod().Name("p").NodeSelector(map[string]string{"zone": "b"}).Obj(),
			node: zoneA,
			want: framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonPod),
		},
		{
			name: "empty nodeSelector matches everything",
			pod:  st.MakePod().Name("p").NodeSelector(map[string]string{}).Obj(),
			node: zoneA,
		},
		{
			name: "required affinity In matches",
			pod:  st.MakePod().Name("p").NodeAffinityIn("zone", "a", "b").Obj(),
			node: zoneA,
		},
		{
			name: "required affinity In does not match",
			pod:  st.MakePod().Name("p").NodeAffinityIn("zone", "b").Obj(),
			node: zoneA,
			want: framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonPod),
		},
		{
			name: "terms are ORed",
			pod: st.MakePod().Name("p").NodeAffinityTerm(req("zone", v1.NodeSelectorOpIn, "b")).
				NodeAffinityTerm(req("disk", v1.NodeSelectorOpExists)).Obj(),
			node: zoneA,
		},
		{
			name: "requirements in a term are ANDed",
			pod: st.MakePod().Name("p").NodeAffinityTerm(req("zone", v1.NodeSelectorOpIn, "a"),
				req("disk", v1.NodeSelectorOpDoesNotExist)).Obj(),
			node: zoneA,
			want: framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonPod),
		},
		{
			name: "nodeSelector and affinity must both match",
			pod:  st.MakePod().Name("p").NodeSelector(map[string]string{"zone": "b"}).NodeAffinityIn("zone", "a").Obj(),
			node: zoneA,
			want: framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonPod),
		},
		{
			name: "empty term list matches nothing",
			pod: st.MakePod().Name("p").Affinity(&v1.Affinity{NodeAffinity: &v1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{}}}).Obj(),
			node: zoneA,
			want: framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonPod),
		},
		{
			name: "Gt on a label",
			pod:  st.MakePod().Name("p").NodeAffinityTerm(req("gpus", v1.NodeSelectorOpGt, "2")).Obj(),
			node: st.MakeNode().Name("n1").Label("gpus", "4").Obj(),
		},
		{
			name: "invalid operator matches nothing",
			pod:  st.MakePod().Name("p").NodeAffinityTerm(req("zone", "Bogus", "a")).Obj(),
			node: zoneA,
			want: framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonPod),
		},
		{
			name:       "metadata.name pins to the node",
			pod:        st.MakePod().Name("p").NodeAffinityNameIn("n1").Obj(),
			node:       zoneA,
			wantResult: &framework.PreFilterResult{NodeNames: sets.New("n1")},
		},
		{
			name:       "metadata.name pins elsewhere",
			pod:        st.MakePod().Name("p").NodeAffinityNameIn("n2", "n3").Obj(),
			node:       zoneA,
			wantResult: &framework.PreFilterResult{NodeNames: sets.New("n2", "n3")},
			want:       framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonPod),
		},
		{
			name: "metadata.name requirements intersect within a term and union across terms",
			pod: st.MakePod().Name("p").
				NodeAffinityFieldTerm(req("metadata.name", v1.NodeSelectorOpIn, "n1", "n2"), req("metadata.name", v1.NodeSelectorOpIn, "n2", "n3")).
				NodeAffinityNameIn("n4").Obj(),
			node:       zoneA,
			wantResult: &framework.PreFilterResult{NodeNames: sets.New("n2", "n4")},
			want:       framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonPod),
		},
		{
			name: "a term without metadata.name does not restrict",
			pod: st.MakePod().Name("p").NodeAffinityNameIn("n2").
				NodeAffinityIn("zone", "a").Obj(),
			node: zoneA,
		},
		{
			name: "conflicting metadata.name terms",
			pod: st.MakePod().Name("p").
				NodeAffinityFieldTerm(req("metadata.name", v1.NodeSelectorOpIn, "n1"), req("metadata.name", v1.NodeSelectorOpIn, "n2")).Obj(),
			node:          zoneA,
			wantPreFilter: framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonConflict),
		},
		{
			name: "addedAffinity rejects first",
			args: addedAffinityArgs(&v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{
				{MatchExpressions: []v1.NodeSelectorRequirement{req("pool", v1.NodeSelectorOpIn, "batch")}}}}),
			pod:  st.MakePod().Name("p").NodeSelector(map[string]string{"zone": "b"}).Obj(),
			node: zoneA,
			want: framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonEnforced),
		},
		{
			name: "addedAffinity alone does not skip and matches",
			args: addedAffinityArgs(&v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{
				{MatchExpressions: []v1.NodeSelectorRequirement{req("zone", v1.NodeSelectorOpIn, "a")}}}}),
			pod:  st.MakePod().Name("p").Obj(),
			node: zoneA,
		},
		{
			name:             "without PreFilter state Filter still decides",
			pod:              st.MakePod().Name("p").NodeAffinityIn("zone", "b").Obj(),
			node:             zoneA,
			want:             framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonPod),
			disablePreFilter: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl := newPlugin(t, tt.args)
			ctx := context.Background()
			state := framework.NewCycleState()
			ni := framework.NewNodeInfo()
			ni.SetNode(tt.node)
			if !tt.disablePreFilter {
				result, status := pl.PreFilter(ctx, state, tt.pod, []*framework.NodeInfo{ni})
				if diff := cmp.Diff(tt.wantPreFilter, status); diff != "" {
					t.Fatalf("PreFilter status (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.wantResult, result); diff != "" {
					t.Errorf("PreFilterResult (-want +got):\n%s", diff)
				}
				if !status.IsSuccess() {
					return
				}
			}
			got := pl.Filter(ctx, state, tt.pod, ni)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Filter status (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScore(t *testing.T) {
	nodes := []*v1.Node{
		st.MakeNode().Name("n1").Label("zone", "a").Obj(),
		st.MakeNode().Name("n2").Label("zone", "b").Label("disk", "ssd").Obj(),
		st.MakeNode().Name("n3").Obj(),
	}
	tests := []struct {
		name string
		args *configv1.NodeAffinityArgs
		pod  *v1.Pod
		// wantPreScore is compared by code only (an Error's text is the
		// parser's).
		wantPreScore *framework.Status
		wantRaw      []int64
		want         []int64
	}{
		{
			name:         "no preferences: skip",
			pod:          st.MakePod().Name("p").Obj(),
			wantPreScore: framework.NewStatus(framework.Skip),
		},
		{
			name:    "one preference",
			pod:     st.MakePod().Name("p").PreferredNodeAffinity(5, req("zone", v1.NodeSelectorOpIn, "a")).Obj(),
			wantRaw: []int64{5, 0, 0},
			want:    []int64{100, 0, 0},
		},
		{
			name: "weights add up and are scaled by the best",
			pod: st.MakePod().Name("p").
				PreferredNodeAffinity(2, req("zone", v1.NodeSelectorOpIn, "a")).
				PreferredNodeAffinity(3, req("zone", v1.NodeSelectorOpIn, "b")).
				PreferredNodeAffinity(4, req("disk", v1.NodeSelectorOpExists)).Obj(),
			wantRaw: []int64{2, 7, 0},
			want:    []int64{28, 100, 0},
		},
		{
			name:    "zero weight is ignored",
			pod:     st.MakePod().Name("p").PreferredNodeAffinity(0, req("zone", v1.NodeSelectorOpIn, "a")).Obj(),
			wantRaw: []int64{0, 0, 0},
			want:    []int64{0, 0, 0},
		},
		{
			name: "addedAffinity preferences count too",
			args: addedAffinityArgs(nil, v1.PreferredSchedulingTerm{Weight: 10,
				Preference: v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{req("disk", v1.NodeSelectorOpIn, "ssd")}}}),
			pod:     st.MakePod().Name("p").PreferredNodeAffinity(5, req("zone", v1.NodeSelectorOpIn, "a")).Obj(),
			wantRaw: []int64{5, 10, 0},
			want:    []int64{50, 100, 0},
		},
		{
			name: "addedAffinity preferences alone",
			args: addedAffinityArgs(nil, v1.PreferredSchedulingTerm{Weight: 10,
				Preference: v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{req("zone", v1.NodeSelectorOpExists)}}}),
			pod:     st.MakePod().Name("p").Obj(),
			wantRaw: []int64{10, 10, 0},
			want:    []int64{100, 100, 0},
		},
		{
			name:         "invalid preference is an error",
			pod:          st.MakePod().Name("p").PreferredNodeAffinity(5, req("zone", "Bogus")).Obj(),
			wantPreScore: framework.NewStatus(framework.Error),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl := newPlugin(t, tt.args)
			ctx := context.Background()
			state := framework.NewCycleState()
			snap := st.NewSnapshot(nil, nodes)
			status := pl.PreScore(ctx, state, tt.pod, snap.List())
			if tt.wantPreScore != nil {
				if status.Code() != tt.wantPreScore.Code() {
					t.Fatalf("PreScore status = %v, want code %v", status, tt.wantPreScore.Code())
				}
				return
			}
			if !status.IsSuccess() {
				t.Fatalf("PreScore status = %v", status)
			}
			var scores framework.NodeScoreList
			var raw []int64
			for _, ni := range snap.List() {
				s, status := pl.Score(ctx, state, tt.pod, ni)
				if !status.IsSuccess() {
					t.Fatalf("Score status = %v", status)
				}
				raw = append(raw, s)
				scores = append(scores, framework.NodeScore{Name: ni.Node().Name, Score: s})
			}
			if diff := cmp.Diff(tt.wantRaw, raw); diff != "" {
				t.Errorf("raw scores (-want +got):\n%s", diff)
			}
			if status := pl.ScoreExtensions().NormalizeScore(ctx, state, tt.pod, scores); !status.IsSuccess() {
				t.Fatalf("NormalizeScore status = %v", status)
			}
			var got []int64
			for _, s := range scores {
				got = append(got, s.Score)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("normalised scores (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScoreWithoutPreScore(t *testing.T) {
	pl := newPlugin(t, nil)
	ni := framework.NewNodeInfo()
	ni.SetNode(st.MakeNode().Name("n1").Label("zone", "a").Obj())
	pod := st.MakePod().Name("p").PreferredNodeAffinity(7, req("zone", v1.NodeSelectorOpIn, "a")).Obj()
	got, status := pl.Score(context.Background(), framework.NewCycleState(), pod, ni)
	if !status.IsSuccess() || got != 7 {
		t.Errorf("Score() = %d, %v; want 7, success", got, status)
	}
}

func TestQueueingHint(t *testing.T) {
	pod := st.MakePod().Name("p").NodeAffinityIn("zone", "a").Obj()
	matching := st.MakeNode().Name("n").Label("zone", "a").Obj()
	other := st.MakeNode().Name("n").Label("zone", "b").Obj()
	tests := []struct {
		name     string
		args     *configv1.NodeAffinityArgs
		old, new interface{}
		want     framework.QueueingHint
	}{
		{name: "matching node added", new: matching, want: framework.Queue},
		{name: "non-matching node added", new: other, want: framework.QueueSkip},
		{name: "node relabelled to match", old: other, new: matching, want: framework.Queue},
		{name: "node relabelled away", old: matching, new: other, want: framework.QueueSkip},
		{name: "matching node changed, still matching", old: matching, new: matching, want: framework.QueueSkip},
		{
			name: "node misses addedAffinity",
			args: addedAffinityArgs(&v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{
				{MatchExpressions: []v1.NodeSelectorRequirement{req("pool", v1.NodeSelectorOpExists)}}}}),
			new:  matching,
			want: framework.QueueSkip,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl := newPlugin(t, tt.args)
			events, err := pl.EventsToRegister(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			wantEvent := framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeLabel}
			if diff := cmp.Diff(wantEvent, events[0].Event); diff != "" {
				t.Errorf("event (-want +got):\n%s", diff)
			}
			logger, _ := ktesting.NewTestContext(t)
			got, err := events[0].QueueingHintFn(logger, pod, tt.old, tt.new)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("hint = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewAndValidateArgs(t *testing.T) {
	bad := addedAffinityArgs(
		&v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{
			{MatchExpressions: []v1.NodeSelectorRequirement{req("zone", "Bogus", "a")}}}},
		v1.PreferredSchedulingTerm{Weight: 1, Preference: v1.NodeSelectorTerm{
			MatchFields: []v1.NodeSelectorRequirement{req("metadata.name", v1.NodeSelectorOpIn)}}},
	)
	errs := ValidateArgs(bad, field.NewPath("args"))
	var paths []string
	for _, e := range errs {
		paths = append(paths, e.Field)
	}
	wantPaths := []string{
		"args.addedAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator",
		"args.addedAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].matchFields[0].values",
	}
	if diff := cmp.Diff(wantPaths, paths); diff != "" {
		t.Errorf("error paths (-want +got):\n%s\nerrors: %v", diff, errs)
	}
	if _, err := New(context.Background(), bad, nil); err == nil {
		t.Error("New(invalid args) returned no error")
	}
	if _, err := New(context.Background(), &configv1.NodeResourcesFitArgs{}, nil); err == nil {
		t.Error("New(wrong args type) returned no error")
	}
	if errs := ValidateArgs(&configv1.NodeAffinityArgs{}, nil); len(errs) != 0 {
		t.Errorf("ValidateArgs(empty) = %v", errs)
	}
	if _, err := New(context.Background(), (*configv1.NodeAffinityArgs)(nil), nil); err != nil {
		t.Errorf("New(typed nil) error: %v", err)
	}
}
