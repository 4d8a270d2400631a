package noderesources

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation/field"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/internal/st"
)

func TestDefaultArgs(t *testing.T) {
	wantFit := &configv1.NodeResourcesFitArgs{ScoringStrategy: &configv1.ScoringStrategy{
		Type: configv1.LeastAllocated, Resources: resources("cpu", 1, "memory", 1)}}
	if diff := cmp.Diff(wantFit, DefaultFitArgs()); diff != "" {
		t.Errorf("DefaultFitArgs (-want +got):\n%s", diff)
	}
	wantBA := &configv1.NodeResourcesBalancedAllocationArgs{Resources: resources("cpu", 1, "memory", 1)}
	if diff := cmp.Diff(wantBA, DefaultBalancedAllocationArgs()); diff != "" {
		t.Errorf("DefaultBalancedAllocationArgs (-want +got):\n%s", diff)
	}
	// Defaults must not share slices: changing one must not change the next.
	DefaultFitArgs().ScoringStrategy.Resources[0].Weight = 7
	if w := DefaultFitArgs().ScoringStrategy.Resources[0].Weight; w != 1 {
		t.Errorf("defaults are shared: weight %d", w)
	}
}

func TestSetDefaultsFitArgs(t *testing.T) {
	tests := []struct {
		name string
		in   *configv1.NodeResourcesFitArgs
		want *configv1.NodeResourcesFitArgs
	}{
		{
			name: "strategy without resources gets cpu and memory",
			in:   &configv1.NodeResourcesFitArgs{ScoringStrategy: &configv1.ScoringStrategy{Type: configv1.MostAllocated}},
			want: &configv1.NodeResourcesFitArgs{ScoringStrategy: &configv1.ScoringStrategy{
				Type: configv1.MostAllocated, Resources: resources("cpu", 1, "memory", 1)}},
		},
		{
			name: "zero weight becomes 1, others kept",
			in: &configv1.NodeResourcesFitArgs{IgnoredResources: []string{"a.io/b"}, ScoringStrategy: &configv1.ScoringStrategy{
				Type: configv1.LeastAllocated, Resources: resources("cpu", 0, "example.com/foo", 5)}},
			want: &configv1.NodeResourcesFitArgs{IgnoredResources: []string{"a.io/b"}, ScoringStrategy: &configv1.ScoringStrategy{
				Type: configv1.LeastAllocated, Resources: resources("cpu", 1, "example.com/foo", 5)}},
		},
		{
			name: "empty type is left for validation to reject",
			in:   &configv1.NodeResourcesFitArgs{ScoringStrategy: &configv1.ScoringStrategy{}},
			want: &configv1.NodeResourcesFitArgs{ScoringStrategy: &configv1.ScoringStrategy{Resources: resources("cpu", 1, "memory", 1)}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			SetDefaultsFitArgs(tc.in)
			if diff := cmp.Diff(tc.want, tc.in); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetDefaultsBalancedAllocationArgs(t *testing.T) {
	in := &configv1.NodeResourcesBalancedAllocationArgs{Resources: resources("cpu", 0, "example.com/foo", 1)}
	SetDefaultsBalancedAllocationArgs(in)
	if diff := cmp.Diff(resources("cpu", 1, "example.com/foo", 1), in.Resources); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// errorFields lists "type field" of each error, the part a user acts on.
func errorFields(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	return out
}

func TestValidateFitArgs(t *testing.T) {
	tests := []struct {
		name string
		args *configv1.NodeResourcesFitArgs
		want []string
	}{
		{name: "defaults are valid", args: DefaultFitArgs()},
		{
			name: "valid RequestedToCapacityRatio",
			args: &configv1.NodeResourcesFitArgs{
				IgnoredResources: []string{"example.com/foo"}, IgnoredResourceGroups: []string{"example.com"},
				ScoringStrategy: &configv1.ScoringStrategy{Type: configv1.RequestedToCapacityRatio,
					Resources: resources("cpu", 100), RequestedToCapacityRatio: shape(0, 0, 100, 10)}},
		},
		{
			name: "missing strategy",
			args: &configv1.NodeResourcesFitArgs{},
			want: []string{"FieldValueRequired args.scoringStrategy"},
		},
		{
			name: "every problem reported",
			args: &configv1.NodeResourcesFitArgs{
				IgnoredResources:      []string{"ok.io/x", "bad name!"},
				IgnoredResourceGroups: []string{"ok.io", "example.com/foo"},
				ScoringStrategy: &configv1.ScoringStrategy{Type: "Fancy",
					Resources:                resources("cpu", 0, "memory", 101, "example.com/foo", 100),
					RequestedToCapacityRatio: shape(0, 0)},
			},
			want: []string{
				"FieldValueInvalid args.ignoredResources[1]",
				"FieldValueInvalid args.ignoredResourceGroups[1]",
				"FieldValueNotSupported args.scoringStrategy.type",
				"FieldValueInvalid args.scoringStrategy.resources[0].weight",
				"FieldValueInvalid args.scoringStrategy.resources[1].weight",
				"FieldValueForbidden args.scoringStrategy.requestedToCapacityRatio",
			},
		},
		{
			name: "RequestedToCapacityRatio without params",
			args: &configv1.NodeResourcesFitArgs{ScoringStrategy: &configv1.ScoringStrategy{
				Type: configv1.RequestedToCapacityRatio, Resources: resources("cpu", 1)}},
			want: []string{"FieldValueRequired args.scoringStrategy.requestedToCapacityRatio"},
		},
		{
			name: "empty shape",
			args: &configv1.NodeResourcesFitArgs{ScoringStrategy: &configv1.ScoringStrategy{
				Type: configv1.RequestedToCapacityRatio, Resources: resources("cpu", 1), RequestedToCapacityRatio: shape()}},
			want: []string{"FieldValueRequired args.scoringStrategy.requestedToCapacityRatio.shape"},
		},
		{
			name: "bad shape points",
			args: &configv1.NodeResourcesFitArgs{ScoringStrategy: &configv1.ScoringStrategy{
				Type: configv1.RequestedToCapacityRatio, Resources: resources("cpu", 1),
				RequestedToCapacityRatio: shape(50, 1, 50, 11, 30, 2, 101, -1)}},
			want: []string{
				"FieldValueInvalid args.scoringStrategy.requestedToCapacityRatio.shape[1].utilization",
				"FieldValueInvalid args.scoringStrategy.requestedToCapacityRatio.shape[1].score",
				"FieldValueInvalid args.scoringStrategy.requestedToCapacityRatio.shape[3].utilization",
				"FieldValueInvalid args.scoringStrategy.requestedToCapacityRatio.shape[3].score",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := errorFields(ValidateFitArgs(tc.args, field.NewPath("args")))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateBalancedAllocationArgs(t *testing.T) {
	args := &configv1.NodeResourcesBalancedAllocationArgs{Resources: resources("cpu", 1, "memory", 2, "cpu", 1)}
	want := []string{"FieldValueInvalid args.resources[1].weight", "FieldValueDuplicate args.resources[2].name"}
	got := errorFields(ValidateBalancedAllocationArgs(args, field.NewPath("args")))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if errs := ValidateBalancedAllocationArgs(DefaultBalancedAllocationArgs(), nil); len(errs) != 0 {
		t.Errorf("defaults invalid: %v", errs)
	}
}

func TestNewPluginsArgs(t *testing.T) {
	ctx, h := context.Background(), st.NewHandle(nil)
	tests := []struct {
		name    string
		build   func() error
		wantErr []string // substrings, all must appear
	}{
		{name: "fit nil args", build: func() error { _, err := NewFit(ctx, nil, h); return err }},
		{name: "fit typed nil args", build: func() error {
			var a *configv1.NodeResourcesFitArgs
			_, err := NewFit(ctx, a, h)
			return err
		}},
		{name: "fit partial args are defaulted", build: func() error {
			_, err := NewFit(ctx, &configv1.NodeResourcesFitArgs{IgnoredResources: []string{"example.com/foo"}}, h)
			return err
		}},
		{
			name:    "fit wrong type",
			build:   func() error { _, err := NewFit(ctx, &configv1.NodeResourcesBalancedAllocationArgs{}, h); return err },
			wantErr: []string{"NodeResourcesFitArgs", "NodeResourcesBalancedAllocationArgs"},
		},
		{
			name: "fit invalid lists every problem",
			build: func() error {
				_, err := NewFit(ctx, &configv1.NodeResourcesFitArgs{
					IgnoredResourceGroups: []string{"a/b"},
					ScoringStrategy:       &configv1.ScoringStrategy{Type: "Nope", Resources: resources("cpu", 200)},
				}, h)
				return err
			},
			wantErr: []string{"ignoredResourceGroups[0]", "scoringStrategy.type", "scoringStrategy.resources[0].weight"},
		},
		{name: "balanced nil args", build: func() error { _, err := NewBalancedAllocation(ctx, nil, h); return err }},
		{
			name:    "balanced wrong type",
			build:   func() error { _, err := NewBalancedAllocation(ctx, &configv1.NodeResourcesFitArgs{}, h); return err },
			wantErr: []string{"NodeResourcesBalancedAllocationArgs", "NodeResourcesFitArgs"},
		},
		{
			name: "balanced invalid",
			build: func() error {
				_, err := NewBalancedAllocation(ctx, &configv1.NodeResourcesBalancedAllocationArgs{Resources: resources("cpu", 2, "cpu", 1)}, h)
				return err
			},
			wantErr: []string{"resources[0].weight", "resources[1].name"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.build()
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error mentioning %q", tc.wantErr)
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestNewFitDoesNotModifyArgs(t *testing.T) {
	args := &configv1.NodeResourcesFitArgs{}
	if _, err := NewFit(context.Background(), args, st.NewHandle(nil)); err != nil {
		t.Fatal(err)
	}
	if args.ScoringStrategy != nil {
		t.Errorf("NewFit defaulted the caller's args: %+v", args.ScoringStrategy)
	}
}
