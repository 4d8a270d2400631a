package networkaware

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/berthsched/berth/internal/st"
)

func TestSetDefaultArgs(t *testing.T) {
	a := &Args{NetworkTopology: &NetworkTopologyRef{Name: "nt"}}
	SetDefaultArgs(a)
	want := &Args{
		Levels: []LevelArgs{
			{Key: "kubernetes.io/hostname", Cost: 1},
			{Key: "topology.berth.io/rack", Cost: 2},
			{Key: "topology.kubernetes.io/zone", Cost: 10},
			{Key: "topology.kubernetes.io/region", Cost: 100},
		},
		NetworkTopology: &NetworkTopologyRef{Namespace: "default", Name: "nt", WeightsName: "UserDefined"},
		AppGroupWeight:  1,
	}
	if diff := cmp.Diff(want, a); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if errs := ValidateArgs(a, field.NewPath("args")); len(errs) > 0 {
		t.Errorf("the defaults do not validate: %v", errs)
	}
	// Given levels are kept as they are.
	b := &Args{Levels: []LevelArgs{{Key: "topology.kubernetes.io/zone", Cost: 3}}}
	SetDefaultArgs(b)
	if len(b.Levels) != 1 || b.NetworkTopology != nil {
		t.Errorf("defaulting changed given args: %+v", b)
	}
}

func TestDeepCopyArgs(t *testing.T) {
	five := int64(5)
	a := &Args{
		Levels:             []LevelArgs{{Key: "z", Cost: 1, Pairs: []PairCost{{From: "a", To: "b", Cost: 2}}}},
		MaxCost:            &five,
		NetworkTopology:    &NetworkTopologyRef{Name: "nt"},
		AppGroupNamespaces: []string{"x"},
	}
	c := a.DeepCopyObject().(*Args)
	c.Levels[0].Pairs[0].Cost = 9
	c.Levels[0].Key = "changed"
	*c.MaxCost = 9
	c.NetworkTopology.Name = "changed"
	c.AppGroupNamespaces[0] = "changed"
	if a.Levels[0].Pairs[0].Cost != 2 || a.Levels[0].Key != "z" || *a.MaxCost != 5 || a.NetworkTopology.Name != "nt" || a.AppGroupNamespaces[0] != "x" {
		t.Errorf("the copy shares memory with the original: %+v", a)
	}
	var nilArgs *Args
	if nilArgs.DeepCopyObject() != nil {
		t.Error("nil copies to non-nil")
	}
}

func TestValidateArgs(t *testing.T) {
	neg := int64(-1)
	tests := []struct {
		name string
		args Args
		want []string
	}{
		{
			name: "no levels",
			args: Args{Levels: []LevelArgs{}, AppGroupWeight: 1},
			want: []string{"args.levels: Required value: at least one level"},
		},
		{
			name: "keys",
			args: Args{AppGroupWeight: 1, Levels: []LevelArgs{
				{Key: "", Cost: 1}, {Key: "topology.kubernetes.io/zone", Cost: 2}, {Key: "topology.kubernetes.io/zone", Cost: 3}, {Key: "-bad", Cost: 4},
			}},
			want: []string{
				"args.levels[0].key: Required value: a node label key",
				`args.levels[2].key: Duplicate value: "topology.kubernetes.io/zone"`,
				`args.levels[3].key: Invalid value: "-bad": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
			},
		},
		{
			name: "costs",
			args: Args{AppGroupWeight: 1, Levels: []LevelArgs{
				{Key: "kubernetes.io/hostname", Cost: -1}, {Key: "topology.kubernetes.io/zone", Cost: 10}, {Key: "topology.kubernetes.io/region", Cost: 5},
			}},
			want: []string{
				"args.levels[0].cost: Invalid value: -1: must not be negative",
				"args.levels[2].cost: Invalid value: 5: must not be less than args.levels[1].cost (10): crossing a broader boundary cannot cost less than crossing a narrower one",
			},
		},
		{
			name: "pairs",
			args: Args{AppGroupWeight: 1, Levels: []LevelArgs{{Key: "topology.kubernetes.io/zone", Cost: 10, Pairs: []PairCost{
				{From: "a", To: "b", Cost: 5},
				{From: "", To: "b", Cost: 5},
				{From: "a", To: "a", Cost: 1},
				{From: "a", To: "b c", Cost: -2},
				{From: "a", To: "b", Cost: 6},
			}}}},
			want: []string{
				"args.levels[0].pairs[1].from: Required value: a value of the level's label",
				`args.levels[0].pairs[2].to: Invalid value: "a": must differ from from: a domain costs nothing to itself`,
				`args.levels[0].pairs[3].to: Invalid value: "b c": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
				"args.levels[0].pairs[3].cost: Invalid value: -2: must not be negative",
				`args.levels[0].pairs[4]: Duplicate value: "a → b (as args.levels[0].pairs[0])"`,
			},
		},
		{
			name: "the rest",
			args: Args{
				Levels:             []LevelArgs{{Key: "topology.kubernetes.io/zone", Cost: 1}},
				MaxCost:            &neg,
				NetworkTopology:    &NetworkTopologyRef{Namespace: "Bad_NS", Name: "", WeightsName: ""},
				AppGroupNamespaces: []string{"ok", "ok", "NO"},
				AppGroupWeight:     1001,
			},
			want: []string{
				"args.maxCost: Invalid value: -1: must not be negative",
				"args.networkTopology.name: Required value: the NetworkTopology's name",
				`args.networkTopology.namespace: Invalid value: "Bad_NS": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
				"args.networkTopology.weightsName: Required value: the cost set to read",
				`args.appGroupNamespaces[1]: Duplicate value: "ok"`,
				`args.appGroupNamespaces[2]: Invalid value: "NO": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
				"args.appGroupWeight: Invalid value: 1001: not in valid range [1, 1000]",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range ValidateArgs(&tt.args, field.NewPath("args")) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewRejectsInvalidArgs(t *testing.T) {
	_, err := New(context.Background(), &Args{Levels: []LevelArgs{{Key: "topology.kubernetes.io/zone", Cost: -3}}}, st.NewHandle(nil))
	if err == nil || !strings.Contains(err.Error(), "invalid NetworkAware args: args.levels[0].cost: Invalid value: -3: must not be negative") {
		t.Errorf("New = %v", err)
	}
}
