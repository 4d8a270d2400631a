package preference

import (
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name string, kv ...string) *v1.Node {
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	for i := 0; i+1 < len(kv); i += 2 {
		n.Labels[kv[i]] = kv[i+1]
	}
	return n
}

func pod(ns string, labels map[string]string, annotation ...string) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns, Labels: labels}}
	if len(annotation) > 0 {
		p.Annotations = map[string]string{AnnotationKey: annotation[0]}
	}
	return p
}

func mustPolicy(t *testing.T, sets ...RuleSet) *Policy {
	t.Helper()
	SetDefaults(sets)
	p, err := NewPolicy(sets)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func preferOnly(name string, sel PodSelector, rules ...PreferredRule) RuleSet {
	return RuleSet{Name: name, Selector: sel, Preferred: rules}
}

func labelRule(weight int32, key string, kv ...any) PreferredRule {
	lv := &LabelValueScores{Key: key, Values: map[string]int32{}}
	for i := 0; i+1 < len(kv); i += 2 {
		lv.Values[kv[i].(string)] = int32(kv[i+1].(int))
	}
	return PreferredRule{Weight: weight, LabelValues: lv}
}

func TestResolve(t *testing.T) {
	p := mustPolicy(t,
		preferOnly("by-namespace", PodSelector{Namespaces: []string{"db"}}, labelRule(1, "a", "x", 100)),
		preferOnly("by-label", PodSelector{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"io": "heavy"}}}, labelRule(1, "b", "x", 100)),
		preferOnly("by-both", PodSelector{Namespaces: []string{"db"}, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "primary"}}}, labelRule(1, "c", "x", 100)),
		preferOnly("opt-in", PodSelector{}, labelRule(1, "d", "x", 100)),
	)
	heavy := map[string]string{"io": "heavy"}
	tests := []struct {
		name string
		pod  *v1.Pod
		want []string
		err  string
	}{
		{name: "no set selects it", pod: pod("web", nil)},
		{name: "namespace", pod: pod("db", nil), want: []string{"by-namespace"}},
		{name: "labels in any namespace", pod: pod("web", heavy), want: []string{"by-label"}},
		{name: "namespace and labels must both hold", pod: pod("web", map[string]string{"tier": "primary"})},
		{name: "several sets combine in config order", pod: pod("db", map[string]string{"io": "heavy", "tier": "primary"}),
			want: []string{"by-namespace", "by-label", "by-both"}},
		{name: "annotation opts in to an annotation-only set", pod: pod("web", nil, "opt-in"), want: []string{"opt-in"}},
		{name: "annotation overrides selectors", pod: pod("db", heavy, "by-label"), want: []string{"by-label"}},
		{name: "unknown name", pod: pod("db", nil, "fast-disks"),
			err: `pod annotation berth.io/node-preference names rule set "fast-disks", which is not configured (known: by-namespace, by-label, by-both, opt-in)`},
		{name: "empty name is unknown too", pod: pod("db", nil, ""),
			err: `pod annotation berth.io/node-preference names rule set "", which is not configured (known: by-namespace, by-label, by-both, opt-in)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pref, err := p.Resolve(tt.pod)
			if tt.err != "" {
				var unknown *UnknownRuleSetError
				if err == nil || err.Error() != tt.err || !errors.As(err, &unknown) {
					t.Fatalf("err = %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			if pref != nil {
				got = pref.Sets
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("sets (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnknownWithoutSets(t *testing.T) {
	p := mustPolicy(t)
	_, err := p.Resolve(pod("db", nil, "x"))
	if want := `pod annotation berth.io/node-preference names rule set "x", which is not configured (none are configured)`; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

// TestCombine: several matching sets give all required rules and all
// preferred rules with their weights; resolving does not change the sets
// themselves.
func TestCombine(t *testing.T) {
	all := PodSelector{LabelSelector: &metav1.LabelSelector{}}
	disk := preferOnly("disk", all, labelRule(3, "disk-type", "nvme", 100, "ssd", 80))
	disk.Required = []v1.NodeSelectorRequirement{{Key: "disk-type", Operator: v1.NodeSelectorOpExists}}
	net := preferOnly("net", all, PreferredRule{Weight: 1, Match: &v1.NodeSelectorRequirement{Key: "network-gbps", Operator: v1.NodeSelectorOpGt, Values: []string{"25"}}})
	net.Required = []v1.NodeSelectorRequirement{{Key: "zone", Operator: v1.NodeSelectorOpNotIn, Values: []string{"edge"}}}
	p := mustPolicy(t, disk, net)

	for range 2 {
		pref, err := p.Resolve(pod("any", nil))
		if err != nil {
			t.Fatal(err)
		}
		if pref.Name() != "disk, net" {
			t.Errorf("name %q", pref.Name())
		}
		// ssd 80 ×3 and 100 ×1 → (240 + 100) / 4 = 85.
		if got := pref.Score(node("n", "disk-type", "ssd", "network-gbps", "100")); got != 85 {
			t.Errorf("score %d, want 85", got)
		}
		if u := pref.Check(node("n", "disk-type", "ssd", "zone", "edge")); u == nil || u.Set != "net" || u.Requirement != "zone NotIn [edge]" || u.Node != "node has zone=edge" {
			t.Errorf("unmet %+v, want net's zone NotIn [edge]", u)
		}
		if u := pref.Check(node("n", "zone", "edge")); u == nil || u.Set != "disk" || u.Requirement != "disk-type Exists" || u.Node != "node has no disk-type" {
			t.Errorf("unmet %+v, want disk's disk-type Exists first", u)
		}
		if u := pref.Check(node("n", "disk-type", "hdd")); u != nil {
			t.Errorf("unmet %+v, want nil", u)
		}
	}
	alone, _ := p.Resolve(pod("any", nil, "disk"))
	if alone.Name() != "disk" || alone.HasRequired() != true || len(alone.required) != 1 || alone.weights != 3 {
		t.Errorf("combining changed the set itself: %+v", alone)
	}
}

func TestNumeric(t *testing.T) {
	f := false
	tests := []struct {
		name  string
		rule  NumericScore
		value string // "" for a missing label
		want  float64
		note  string
	}{
		{name: "linear", rule: NumericScore{Min: 0, Max: 200}, value: "50", want: 25},
		{name: "linear decimal", rule: NumericScore{Min: 1, Max: 3}, value: "2.5", want: 75},
		{name: "log", rule: NumericScore{Function: Log, Min: 1000, Max: 100000}, value: "10000", want: 50},
		{name: "log 20000", rule: NumericScore{Function: Log, Min: 1000, Max: 100000}, value: "20000", want: 100 * math.Log(20) / math.Log(100)},
		{name: "clamped below", rule: NumericScore{Function: Log, Min: 1000, Max: 100000}, value: "10", want: 0, note: "below min 1000"},
		{name: "clamped above", rule: NumericScore{Min: 1000, Max: 100000}, value: "1000000", want: 100, note: "above max 100000"},
		{name: "lower is better", rule: NumericScore{Min: 0, Max: 10, HigherIsBetter: &f}, value: "2", want: 80},
		{name: "lower is better, clamped", rule: NumericScore{Min: 1, Max: 10, HigherIsBetter: &f}, value: "0", want: 100, note: "below min 1"},
		{name: "quantity", rule: NumericScore{Min: 0, Max: 100 << 30}, value: "25Gi", want: 25},
		{name: "not a number", rule: NumericScore{Min: 0, Max: 10}, value: "fast", want: 0, note: NoteNotANumber},
		{name: "infinity is not a number", rule: NumericScore{Min: 0, Max: 10}, value: "Inf", want: 0, note: NoteNotANumber},
		{name: "missing", rule: NumericScore{Min: 0, Max: 10}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.rule.Key = "k"
			p := mustPolicy(t, preferOnly("s", PodSelector{}, PreferredRule{Weight: 1, Numeric: &tt.rule}))
			n := node("n")
			if tt.value != "" {
				n = node("n", "k", tt.value)
			}
			pref, _ := p.Resolve(pod("x", nil, "s"))
			b := pref.Explain(n)
			r := b.Rules[0]
			if math.Abs(r.Score-tt.want) > 1e-9 || r.Note != tt.note || r.Found != (tt.value != "") {
				t.Errorf("got %+v, want score %v note %q", r, tt.want, tt.note)
			}
			if b.Score != int64(math.Round(tt.want)) || pref.Score(n) != b.Score {
				t.Errorf("node score %d (Score %d), want %v rounded", b.Score, pref.Score(n), tt.want)
			}
		})
	}
}

func TestLabelValuesAndMatch(t *testing.T) {
	p := mustPolicy(t, preferOnly("s", PodSelector{},
		PreferredRule{Weight: 1, LabelValues: &LabelValueScores{Key: "disk-type", Values: map[string]int32{"nvme": 100, "ssd": 80, "hdd": 0}, Default: 10}},
		PreferredRule{Weight: 1, Match: &v1.NodeSelectorRequirement{Key: "network-gbps", Operator: v1.NodeSelectorOpGt, Values: []string{"25"}}},
	))
	pref, _ := p.Resolve(pod("x", nil, "s"))
	tests := []struct {
		node      *v1.Node
		disk, net float64
		diskNote  string
	}{
		{node: node("nvme", "disk-type", "nvme", "network-gbps", "100"), disk: 100, net: 100},
		{node: node("ssd", "disk-type", "ssd", "network-gbps", "25"), disk: 80, net: 0},
		{node: node("hdd", "disk-type", "hdd", "network-gbps", "10"), disk: 0, net: 0},
		{node: node("sata", "disk-type", "sata", "network-gbps", "fast"), disk: 10, net: 0, diskNote: NoteDefault},
		{node: node("bare"), disk: 10, net: 0, diskNote: NoteDefault},
	}
	for _, tt := range tests {
		b := pref.Explain(tt.node)
		if b.Rules[0].Score != tt.disk || b.Rules[0].Note != tt.diskNote || b.Rules[1].Score != tt.net {
			t.Errorf("%s: %+v, want disk %v (%q), net %v", tt.node.Name, b.Rules, tt.disk, tt.diskNote, tt.net)
		}
	}
}

func TestBreakdownString(t *testing.T) {
	f := false
	disk := fastDisk()
	disk.Required = nil
	lat := preferOnly("low-latency", PodSelector{Namespaces: []string{"db"}},
		PreferredRule{Weight: 1, Numeric: &NumericScore{Key: "latency-ms", Min: 1, Max: 11, HigherIsBetter: &f}})
	p := mustPolicy(t, disk, lat)
	pref, err := p.Resolve(pod("db", nil))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		node  *v1.Node
		want  string
		score int64
	}{
		{
			node:  node("a", "disk-type", "ssd", "disk-iops", "20000", "network-gbps", "100", "latency-ms", "3"),
			want:  "rule set fast-disk: disk-type=ssd → 80 ×3, disk-iops=20000 (log) → 65 ×2, network-gbps Gt 25 (node has network-gbps=100) → 100 ×1; rule set low-latency: latency-ms=3 (linear, lower is better) → 80 ×1",
			score: 79, // (240 + 130.1 + 100 + 80) / 7
		},
		{
			node:  node("b", "disk-iops", "fast", "latency-ms", "20"),
			want:  "rule set fast-disk: disk-type missing → 0 (default) ×3, disk-iops=fast (log) → 0 (not a number) ×2, network-gbps Gt 25 (node has no network-gbps) → 0 ×1; rule set low-latency: latency-ms=20 (linear, lower is better) → 0 (above max 11) ×1",
			score: 0,
		},
		{
			node:  node("c", "disk-type", "nvme", "disk-iops", "500"),
			want:  "rule set fast-disk: disk-type=nvme → 100 ×3, disk-iops=500 (log) → 0 (below min 1000) ×2, network-gbps Gt 25 (node has no network-gbps) → 0 ×1; rule set low-latency: latency-ms missing (linear, lower is better) → 0 ×1",
			score: 43,
		},
	}
	for _, tt := range tests {
		b := pref.Explain(tt.node)
		if got := b.String(); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.node.Name, got, tt.want)
		}
		if b.Score != tt.score {
			t.Errorf("%s: score %d, want %d", tt.node.Name, b.Score, tt.score)
		}
	}
}

func TestExplainUnmet(t *testing.T) {
	set := fastDisk()
	set.Required = append(set.Required, v1.NodeSelectorRequirement{Key: "zone", Operator: v1.NodeSelectorOpIn, Values: []string{"a"}})
	p := mustPolicy(t, set)
	pref, _ := p.Resolve(pod("db", nil))
	nodes := []*v1.Node{
		node("1", "disk-type", "hdd", "zone", "a"), node("2", "disk-type", "hdd", "zone", "a"), node("3", "disk-type", "hdd", "zone", "b"),
		node("4", "zone", "a"), node("5", "disk-type", "ssd", "zone", "b"),
	}
	want := "rule set fast-disk requires disk-type In [ssd nvme]: 1 of 5 nodes meet it (disk-type=hdd on 3, no disk-type on 1); " +
		"rule set fast-disk requires zone In [a]: 3 of 5 nodes meet it (zone=b on 2); no node meets all of them"
	if got := pref.ExplainUnmet(nodes); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	both := []*v1.Node{node("1", "disk-type", "ssd", "zone", "b"), node("2", "disk-type", "hdd", "zone", "a")}
	if got, want := pref.ExplainUnmet(both[:1]), "rule set fast-disk requires zone In [a]: 0 of 1 nodes meet it (zone=b on 1)"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	many := []*v1.Node{node("1", "disk-type", "a"), node("2", "disk-type", "b"), node("3", "disk-type", "c"), node("4", "disk-type", "d"), node("5", "disk-type", "e"), node("6", "disk-type", "f")}
	for _, n := range many {
		n.Labels["zone"] = "a"
	}
	if got, want := pref.ExplainUnmet(many), "rule set fast-disk requires disk-type In [ssd nvme]: 0 of 6 nodes meet it (disk-type=a on 1, disk-type=b on 1, disk-type=c on 1, disk-type=d on 1, 2 other values on 2)"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := pref.ExplainUnmet([]*v1.Node{node("1", "disk-type", "ssd", "zone", "a")}); got != "" {
		t.Errorf("all met: %q", got)
	}
	if got, want := pref.ExplainUnmet(both), "rule set fast-disk requires disk-type In [ssd nvme]: 1 of 2 nodes meet it (disk-type=hdd on 1); "+
		"rule set fast-disk requires zone In [a]: 1 of 2 nodes meet it (zone=b on 1); no node meets all of them"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
