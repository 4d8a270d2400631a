package framework_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

func TestDiagnosisMessage(t *testing.T) {
	unsched := func(reasons ...string) *framework.Status {
		return framework.NewStatus(framework.Unschedulable, reasons...)
	}
	unresolvable := func(reasons ...string) *framework.Status {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, reasons...)
	}
	tests := []struct {
		name       string
		numAll     int
		statuses   map[string]*framework.Status
		absent     *framework.Status
		preFilter  string
		postFilter string
		details    []string
		want       string
	}{
		{
			name:   "histogram sorted as strings",
			numAll: 3,
			statuses: map[string]*framework.Status{
				"n1": unsched("Insufficient cpu"),
				"n2": unsched("Insufficient cpu"),
				"n3": unresolvable("node(s) didn't match Pod's node affinity/selector"),
			},
			want: "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu.",
		},
		{
			name:   "a node with several reasons counts in each",
			numAll: 2,
			statuses: map[string]*framework.Status{
				"n1": unsched("Insufficient cpu", "Insufficient memory"),
				"n2": unsched("Insufficient memory"),
			},
			want: "0/2 nodes are available: 1 Insufficient cpu, 2 Insufficient memory.",
		},
		{
			name:   "string sort puts 10 before 9",
			numAll: 19,
			statuses: func() map[string]*framework.Status {
				m := map[string]*framework.Status{}
				for i := range 19 {
					r := "node(s) were unschedulable"
					if i < 10 {
						r = "Insufficient cpu"
					}
					m[string(rune('a'+i))] = unsched(r)
				}
				return m
			}(),
			want: "0/19 nodes are available: 10 Insufficient cpu, 9 node(s) were unschedulable.",
		},
		{
			name:   "absent nodes share the absent status",
			numAll: 5,
			statuses: map[string]*framework.Status{
				"n1": unsched("Insufficient cpu"),
			},
			absent: unresolvable("node(s) didn't satisfy plugin(s) [PreFilterResult]"),
			want:   "0/5 nodes are available: 1 Insufficient cpu, 4 node(s) didn't satisfy plugin(s) [PreFilterResult].",
		},
		{
			name:   "absent nodes without reasons are not counted",
			numAll: 5,
			statuses: map[string]*framework.Status{
				"n1": unsched("Insufficient cpu"),
			},
			want: "0/5 nodes are available: 1 Insufficient cpu.",
		},
		{
			name:      "PreFilter message replaces the histogram",
			numAll:    4,
			absent:    unresolvable("node(s) didn't satisfy plugin(s) [NodeAffinity] simultaneously"),
			preFilter: "node(s) didn't satisfy plugin(s) [NodeAffinity] simultaneously",
			want:      "0/4 nodes are available: node(s) didn't satisfy plugin(s) [NodeAffinity] simultaneously.",
		},
		{
			name:       "PostFilter message is appended",
			numAll:     1,
			statuses:   map[string]*framework.Status{"n1": unsched("Insufficient cpu")},
			postFilter: "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
			want:       "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
		},
		{
			name:       "plugin details go between the histogram and preemption",
			numAll:     1,
			statuses:   map[string]*framework.Status{"n1": unresolvable("node(s) did not have enough free storage")},
			details:    []string{`VolumeBinding: claim "ns/data" requests 5Gi (1 node)`},
			postFilter: "preemption: not eligible",
			want:       `0/1 nodes are available: 1 node(s) did not have enough free storage. VolumeBinding: claim "ns/data" requests 5Gi (1 node). preemption: not eligible`,
		},
		{
			name:   "no nodes",
			numAll: 0,
			want:   "0/0 nodes are available:",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := framework.NewNodeToStatus()
			for n, s := range tc.statuses {
				m.Set(n, s)
			}
			if tc.absent != nil {
				m.SetAbsent(tc.absent)
			}
			d := &framework.Diagnosis{NumAllNodes: tc.numAll, NodeToStatus: m, PreFilterMsg: tc.preFilter, PostFilterMsg: tc.postFilter, Details: tc.details}
			if diff := cmp.Diff(tc.want, d.Message()); diff != "" {
				t.Errorf("Message() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNodeToStatus(t *testing.T) {
	snap := st.NewSnapshot(nil, []*v1.Node{
		st.MakeNode().Name("a").Obj(), st.MakeNode().Name("b").Obj(), st.MakeNode().Name("c").Obj(),
	})
	m := framework.NewNodeToStatus()
	m.Set("a", framework.NewStatus(framework.Unschedulable, "Insufficient cpu"))
	m.Set("b", framework.NewStatus(framework.UnschedulableAndUnresolvable, "taint"))

	if got := m.Get("c").Code(); got != framework.UnschedulableAndUnresolvable {
		t.Errorf("unlisted node code = %v, want UnschedulableAndUnresolvable", got)
	}
	names := func(code framework.Code) []string {
		nis, err := m.NodesForStatusCode(snap, code)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ni := range nis {
			out = append(out, ni.Node().Name)
		}
		return sets.List(sets.New(out...))
	}
	if diff := cmp.Diff([]string{"a"}, names(framework.Unschedulable)); diff != "" {
		t.Errorf("Unschedulable nodes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"b", "c"}, names(framework.UnschedulableAndUnresolvable)); diff != "" {
		t.Errorf("UnschedulableAndUnresolvable nodes (-want +got):\n%s", diff)
	}
	m.SetAbsent(framework.NewStatus(framework.Unschedulable, "x"))
	if diff := cmp.Diff([]string{"a", "c"}, names(framework.Unschedulable)); diff != "" {
		t.Errorf("after SetAbsent, Unschedulable nodes (-want +got):\n%s", diff)
	}
}
