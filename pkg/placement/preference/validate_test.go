package preference

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// fastDisk is a valid set every case below breaks in one place.
func fastDisk() RuleSet {
	return RuleSet{
		Name:     "fast-disk",
		Selector: PodSelector{Namespaces: []string{"db"}},
		Required: []v1.NodeSelectorRequirement{{Key: "disk-type", Operator: v1.NodeSelectorOpIn, Values: []string{"ssd", "nvme"}}},
		Preferred: []PreferredRule{
			{Weight: 3, LabelValues: &LabelValueScores{Key: "disk-type", Values: map[string]int32{"nvme": 100, "ssd": 80}}},
			{Weight: 2, Numeric: &NumericScore{Key: "disk-iops", Function: Log, Min: 1000, Max: 100000}},
			{Weight: 1, Match: &v1.NodeSelectorRequirement{Key: "network-gbps", Operator: v1.NodeSelectorOpGt, Values: []string{"25"}}},
		},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(sets []RuleSet) []RuleSet
		want   []string
	}{
		{name: "valid", modify: func(s []RuleSet) []RuleSet { return s }},
		{
			name: "duplicate name",
			modify: func(s []RuleSet) []RuleSet {
				return append(s, fastDisk())
			},
			want: []string{`args.ruleSets[1].name: Duplicate value: "fast-disk"`},
		},
		{
			name: "missing name and rules",
			modify: func(s []RuleSet) []RuleSet {
				return append(s, RuleSet{})
			},
			want: []string{
				"args.ruleSets[1].name: Required value: the name pods use in the berth.io/node-preference annotation",
				"args.ruleSets[1]: Required value: at least one required or preferred rule",
			},
		},
		{
			name: "bad operator",
			modify: func(s []RuleSet) []RuleSet {
				s[0].Required[0].Operator = "Equals"
				return s
			},
			want: []string{`args.ruleSets[0].required[0].operator: Unsupported value: "Equals": supported values: "In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"`},
		},
		{
			name: "Gt with a non-integer value",
			modify: func(s []RuleSet) []RuleSet {
				s[0].Preferred[2].Match.Values = []string{"2.5"}
				return s
			},
			want: []string{`args.ruleSets[0].preferred[2].match.values[0]: Invalid value: "2.5": for 'Gt', 'Lt' operators, the value must be an integer`},
		},
		{
			name: "In without values",
			modify: func(s []RuleSet) []RuleSet {
				s[0].Required[0].Values = nil
				return s
			},
			want: []string{`args.ruleSets[0].required[0].values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty`},
		},
		{
			name: "weights out of range",
			modify: func(s []RuleSet) []RuleSet {
				s[0].Preferred[0].Weight = 0
				s[0].Preferred[1].Weight = 101
				return s
			},
			want: []string{
				"args.ruleSets[0].preferred[0].weight: Invalid value: 0: not in valid range [1, 100]",
				"args.ruleSets[0].preferred[1].weight: Invalid value: 101: not in valid range [1, 100]",
			},
		},
		{
			name: "empty keys",
			modify: func(s []RuleSet) []RuleSet {
				s[0].Required[0].Key = ""
				s[0].Preferred[0].LabelValues.Key = ""
				s[0].Preferred[1].Numeric.Key = ""
				s[0].Preferred[2].Match.Key = ""
				return s
			},
			want: []string{
				"args.ruleSets[0].required[0].key: Required value: the node label to test",
				"args.ruleSets[0].preferred[0].labelValues.key: Required value: the node label to read",
				"args.ruleSets[0].preferred[1].numeric.key: Required value: the node label to read",
				"args.ruleSets[0].preferred[2].match.key: Required value: the node label to test",
			},
		},
		{
			name: "invalid label selector",
			modify: func(s []RuleSet) []RuleSet {
				s[0].Selector.LabelSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Gt", Values: []string{"1"}}}}
				return s
			},
			want: []string{`args.ruleSets[0].selector.labelSelector.matchExpressions[0].operator: Invalid value: "Gt": not a valid selector operator`},
		},
		{
			name: "invalid namespace",
			modify: func(s []RuleSet) []RuleSet {
				s[0].Selector.Namespaces = []string{"Prod"}
				return s
			},
			want: []string{`args.ruleSets[0].selector.namespaces[0]: Invalid value: "Prod": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`},
		},
		{
			name: "unknown function",
			modify: func(s []RuleSet) []RuleSet {
				s[0].Preferred[1].Numeric.Function = "exp"
				return s
			},
			want: []string{`args.ruleSets[0].preferred[1].numeric.function: Unsupported value: "exp": supported values: "linear", "log"`},
		},
		{
			name: "min not below max",
			modify: func(s []RuleSet) []RuleSet {
				s = append(s, fastDisk())
				s[1].Name = "other"
				s[1].Preferred[1].Numeric.Min, s[1].Preferred[1].Numeric.Max = 500, 100
				return s
			},
			want: []string{"args.ruleSets[1].preferred[1].numeric.min: Invalid value: 500: must be below max (100)"},
		},
		{
			name: "log needs a positive min",
			modify: func(s []RuleSet) []RuleSet {
				s[0].Preferred[1].Numeric.Min = 0
				return s
			},
			want: []string{"args.ruleSets[0].preferred[1].numeric.min: Invalid value: 0: must be positive for function log"},
		},
		{
			name: "label value scores out of range",
			modify: func(s []RuleSet) []RuleSet {
				lv := s[0].Preferred[0].LabelValues
				lv.Values["hdd"] = -1
				lv.Values["ssd"] = 120
				lv.Default = 101
				return s
			},
			want: []string{
				"args.ruleSets[0].preferred[0].labelValues.values[hdd]: Invalid value: -1: not in valid range [0, 100]",
				"args.ruleSets[0].preferred[0].labelValues.values[ssd]: Invalid value: 120: not in valid range [0, 100]",
				"args.ruleSets[0].preferred[0].labelValues.default: Invalid value: 101: not in valid range [0, 100]",
			},
		},
		{
			name: "no kind, two kinds",
			modify: func(s []RuleSet) []RuleSet {
				s[0].Preferred[0].LabelValues = nil
				s[0].Preferred[1].Match = &v1.NodeSelectorRequirement{Key: "ssd", Operator: v1.NodeSelectorOpExists}
				return s
			},
			want: []string{
				"args.ruleSets[0].preferred[0]: Required value: one of labelValues, numeric or match",
				`args.ruleSets[0].preferred[1]: Invalid value: ["numeric","match"]: must set only one of labelValues, numeric or match`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sets := tt.modify([]RuleSet{fastDisk()})
			var got []string
			for _, e := range Validate(sets, field.NewPath("args", "ruleSets")) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			_, err := NewPolicy(sets)
			if (err != nil) != (len(tt.want) > 0) {
				t.Errorf("NewPolicy: err = %v, want an error: %v", err, len(tt.want) > 0)
			}
		})
	}
}

func TestSetDefaultsAndDeepCopy(t *testing.T) {
	sets := []RuleSet{fastDisk()}
	sets[0].Preferred[1].Numeric.Function = ""
	c := sets[0].DeepCopy()
	SetDefaults(sets)
	n := sets[0].Preferred[1].Numeric
	if n.Function != Linear || n.HigherIsBetter == nil || !*n.HigherIsBetter {
		t.Errorf("defaults: function %q, higherIsBetter %v", n.Function, n.HigherIsBetter)
	}
	if c.Preferred[1].Numeric.Function != "" || c.Preferred[1].Numeric.HigherIsBetter != nil {
		t.Error("the copy shares its numeric rule with the original")
	}
	sets[0].Preferred[0].LabelValues.Values["nvme"] = 1
	sets[0].Required[0].Values[0] = "hdd"
	sets[0].Selector.Namespaces[0] = "web"
	if c.Preferred[0].LabelValues.Values["nvme"] != 100 || c.Required[0].Values[0] != "ssd" || c.Selector.Namespaces[0] != "db" {
		t.Error("the copy shares memory with the original")
	}
	orig := fastDisk()
	if diff := cmp.Diff(orig, *orig.DeepCopy()); diff != "" {
		t.Errorf("DeepCopy (-want +got):\n%s", diff)
	}
}
