package nodepreference

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	configv1 "k8s.io/kube-scheduler/config/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/placement/preference"
	"github.com/berthsched/berth/pkg/plugins/noderesources"
)

// exampleArgs are the args of docs/node-preference.md's example
// (TestDocExample keeps them in step).
const exampleArgs = `
ruleSets:
- name: fast-disk
  selector:
    namespaces: [db]
    labelSelector:
      matchLabels: {tier: database}
  preferred:
  - weight: 3
    labelValues:
      key: disk-type
      values: {nvme: 100, ssd: 80, hdd: 0}
      default: 0
  - weight: 2
    numeric: {key: disk-iops, function: log, min: 1000, max: 100000}
- name: ssd-only
  required:
  - {key: disk-type, operator: In, values: [ssd, nvme]}
  preferred:
  - weight: 1
    labelValues:
      key: disk-type
      values: {nvme: 100, ssd: 80}
- name: fast-net
  selector:
    labelSelector:
      matchExpressions:
      - {key: app, operator: In, values: [ingest, stream]}
  preferred:
  - weight: 1
    match: {key: network-gbps, operator: Gt, values: ["25"]}
  - weight: 1
    numeric: {key: network-latency-us, min: 10, max: 500, higherIsBetter: false}
`

// TestDocExample: the operator doc's example configuration decodes
// strictly into the args the tests use.
func TestDocExample(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/node-preference.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "```yaml\n")
	block, _, _ = strings.Cut(block, "```")
	if !ok {
		t.Fatal("no yaml block in docs/node-preference.md")
	}
	var cfg struct {
		Profiles []struct {
			PluginConfig []struct {
				Name string
				Args json.RawMessage
			} `json:"pluginConfig"`
		}
	}
	if err := yaml.Unmarshal([]byte(block), &cfg); err != nil {
		t.Fatal(err)
	}
	pc := cfg.Profiles[0].PluginConfig[0]
	got := &Args{}
	if strict, err := sigsjson.UnmarshalStrict(pc.Args, got); pc.Name != Name || err != nil || len(strict) > 0 {
		t.Fatalf("doc example %s: %v %v", pc.Name, err, strict)
	}
	if diff := cmp.Diff(decode(t, exampleArgs), got); diff != "" {
		t.Errorf("doc example differs from exampleArgs (-tests +doc):\n%s", diff)
	}
}

func decode(t *testing.T, text string) *Args {
	t.Helper()
	js, err := yaml.YAMLToJSON([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	args := &Args{}
	strict, err := sigsjson.UnmarshalStrict(js, args)
	if err != nil || len(strict) > 0 {
		t.Fatalf("decoding args: %v %v", err, strict)
	}
	return args
}

type fixture struct {
	pl    *NodePreference
	snap  *st.Snapshot
	nodes map[string]*framework.NodeInfo
}

func newFixture(t *testing.T, args *Args, pods []*v1.Pod, nodes ...*v1.Node) *fixture {
	t.Helper()
	snap := st.NewSnapshot(pods, nodes)
	pl, err := New(context.Background(), args, st.NewHandle(snap))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{pl: pl.(*NodePreference), snap: snap, nodes: map[string]*framework.NodeInfo{}}
	for _, ni := range snap.List() {
		f.nodes[ni.Node().Name] = ni
	}
	return f
}

func diskNode(name, disk, iops string) *v1.Node {
	w := st.MakeNode().Name(name).Capacity("cpu", "4", "memory", "16Gi", "pods", "110")
	if disk != "" {
		w.Label("disk-type", disk)
	}
	if iops != "" {
		w.Label("disk-iops", iops)
	}
	return w.Obj()
}

func dbPod(name string, annotation ...string) *v1.Pod {
	p := st.MakePod().Name(name).Namespace("db").Label("tier", "database").Req("cpu", "1").Obj()
	if len(annotation) > 0 {
		p.Annotations = map[string]string{preference.AnnotationKey: annotation[0]}
	}
	return p
}

// filter runs PreFilter and Filter on every node and returns the
// messages of the nodes Filter rejected (none when PreFilter did not
// succeed).
func (f *fixture) filter(t *testing.T, pod *v1.Pod) (*framework.CycleState, *framework.Status, map[string]string) {
	t.Helper()
	ctx := context.Background()
	cs := framework.NewCycleState()
	out := map[string]string{}
	_, pre := f.pl.PreFilter(ctx, cs, pod, f.snap.List())
	if !pre.IsSuccess() {
		return cs, pre, out
	}
	for name, ni := range f.nodes {
		if st := f.pl.Filter(ctx, cs, pod, ni); !st.IsSuccess() {
			if st.Code() != framework.UnschedulableAndUnresolvable {
				t.Errorf("node %s: code %v, want UnschedulableAndUnresolvable", name, st.Code())
			}
			out[name] = st.Message()
		}
	}
	return cs, pre, out
}

// scores runs PreScore and Score on every node; nil when PreScore
// skipped.
func (f *fixture) scores(t *testing.T, cs *framework.CycleState, pod *v1.Pod) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	if st := f.pl.PreScore(ctx, cs, pod, f.snap.List()); !st.IsSuccess() {
		if !st.IsSkip() {
			t.Fatal(st)
		}
		return nil
	}
	out := map[string]int64{}
	for name, ni := range f.nodes {
		s, st := f.pl.Score(ctx, cs, pod, ni)
		if !st.IsSuccess() {
			t.Fatal(st)
		}
		out[name] = s
	}
	return out
}

func TestNewRejectsBadArgs(t *testing.T) {
	args := decode(t, exampleArgs)
	args.RuleSets[0].Preferred[1].Numeric.Min = 500
	args.RuleSets[0].Preferred[1].Numeric.Max = 100
	args.RuleSets[2].Name = "fast-disk"
	_, err := New(context.Background(), args, st.NewHandle(st.NewSnapshot(nil, nil)))
	want := "invalid NodePreference args: [args.ruleSets[0].preferred[1].numeric.min: Invalid value: 500: must be below max (100), " +
		`args.ruleSets[2].name: Duplicate value: "fast-disk"]`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	if _, err := New(context.Background(), &configv1.NodeAffinityArgs{}, nil); err == nil ||
		!strings.Contains(err.Error(), "plugin NodePreference wants args of type *nodepreference.Args") {
		t.Errorf("wrong args type: err = %v", err)
	}
}

func TestArgsDefaultsAndCopy(t *testing.T) {
	args := decode(t, exampleArgs)
	cp := args.DeepCopyObject().(*Args)
	SetDefaultArgs(args)
	n := args.RuleSets[2].Preferred[1].Numeric
	if n.Function != preference.Linear || n.HigherIsBetter == nil || *n.HigherIsBetter {
		t.Errorf("defaults: %+v (higherIsBetter given as false must stay false)", n)
	}
	if cp.RuleSets[2].Preferred[1].Numeric.Function != "" {
		t.Error("DeepCopyObject shares rules with the original")
	}
	if errs := ValidateArgs(args, nil); len(errs) > 0 {
		t.Errorf("example args: %v", errs)
	}
	if (*Args)(nil).DeepCopyObject() != nil {
		t.Error("nil args copy to non-nil")
	}
}

func TestNoArgsGovernNoPod(t *testing.T) {
	f := newFixture(t, nil, nil, diskNode("a", "ssd", ""))
	cs, pre, _ := f.filter(t, dbPod("p"))
	if !pre.IsSkip() {
		t.Errorf("PreFilter %v, want Skip", pre)
	}
	if s := f.scores(t, cs, dbPod("p")); s != nil {
		t.Errorf("scores %v, want PreScore to skip", s)
	}
}

func TestPreFilter(t *testing.T) {
	f := newFixture(t, decode(t, exampleArgs), nil, diskNode("a", "ssd", ""))
	tests := []struct {
		name string
		pod  *v1.Pod
		code framework.Code
		msg  string
	}{
		{name: "no set governs the pod", pod: st.MakePod().Name("web").Obj(), code: framework.Skip},
		{name: "preferred rules only: nothing to filter", pod: dbPod("p"), code: framework.Skip},
		{name: "required rules", pod: dbPod("p", "ssd-only"), code: framework.Success},
		{name: "unknown rule set", pod: dbPod("p", "fast-disks"), code: framework.UnschedulableAndUnresolvable,
			msg: `pod annotation berth.io/node-preference names rule set "fast-disks", which is not configured (known: fast-disk, ssd-only, fast-net)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := framework.NewCycleState()
			_, st := f.pl.PreFilter(context.Background(), cs, tt.pod, f.snap.List())
			if st.Code() != tt.code || st.Message() != tt.msg {
				t.Errorf("PreFilter = %v %q, want %v %q", st.Code(), st.Message(), tt.code, tt.msg)
			}
			if tt.code == framework.UnschedulableAndUnresolvable {
				// Filter says the same when PreFilter is disabled.
				if fs := f.pl.Filter(context.Background(), framework.NewCycleState(), tt.pod, f.nodes["a"]); fs.Code() != tt.code || fs.Message() != tt.msg {
					t.Errorf("Filter without PreFilter = %v", fs)
				}
				if ps := f.pl.PreScore(context.Background(), cs, tt.pod, f.snap.List()); !ps.IsSkip() {
					t.Errorf("PreScore = %v, want Skip", ps)
				}
			}
		})
	}
}

func TestFilter(t *testing.T) {
	f := newFixture(t, decode(t, exampleArgs), nil,
		diskNode("nvme", "nvme", ""), diskNode("ssd", "ssd", ""), diskNode("hdd", "hdd", ""), diskNode("bare", "", ""))
	_, pre, rejected := f.filter(t, dbPod("p", "ssd-only"))
	if !pre.IsSuccess() {
		t.Fatal(pre)
	}
	reason := `node(s) didn't satisfy node preference "ssd-only": disk-type In [ssd nvme]`
	if diff := cmp.Diff(map[string]string{"hdd": reason, "bare": reason}, rejected); diff != "" {
		t.Errorf("rejections (-want +got):\n%s", diff)
	}
}

func TestScoreAndExplain(t *testing.T) {
	f := newFixture(t, decode(t, exampleArgs), nil,
		diskNode("nvme", "nvme", "100000"), diskNode("ssd", "ssd", "20000"), diskNode("hdd", "hdd", "500"), diskNode("bare", "", "fast"))
	pod := dbPod("p")
	cs, _, _ := f.filter(t, pod)
	got := f.scores(t, cs, pod)
	// ssd: (80×3 + 65.05×2) / 5 = 74.02.
	if diff := cmp.Diff(map[string]int64{"nvme": 100, "ssd": 74, "hdd": 0, "bare": 0}, got); diff != "" {
		t.Errorf("scores (-want +got):\n%s", diff)
	}
	notes := map[string]string{
		"ssd":  "rule set fast-disk: disk-type=ssd → 80 ×3, disk-iops=20000 (log) → 65 ×2",
		"hdd":  "rule set fast-disk: disk-type=hdd → 0 ×3, disk-iops=500 (log) → 0 (below min 1000) ×2",
		"bare": "rule set fast-disk: disk-type missing → 0 (default) ×3, disk-iops=fast (log) → 0 (not a number) ×2",
	}
	for name, want := range notes {
		if got := f.pl.ExplainScore(cs, pod, f.nodes[name]); got != want {
			t.Errorf("explain %s:\n got %s\nwant %s", name, got, want)
		}
		// Without a cycle state (explain of a pod never scheduled).
		if got := f.pl.ExplainScore(nil, pod, f.nodes[name]); got != want {
			t.Errorf("explain %s without state: %s", name, got)
		}
	}
	web := st.MakePod().Name("web").Obj()
	if s := f.scores(t, framework.NewCycleState(), web); s != nil {
		t.Errorf("ungoverned pod scored: %v", s)
	}
	if note := f.pl.ExplainScore(nil, web, f.nodes["ssd"]); note != "" {
		t.Errorf("ungoverned pod explained: %q", note)
	}
	if f.pl.ScoreExtensions() != nil {
		t.Error("scores are in [0, 100] already: no ScoreExtensions")
	}
}

// TestCombinedRuleSets: a pod that two selectors pick is governed by
// both; the annotation picks one.
func TestCombinedRuleSets(t *testing.T) {
	args := decode(t, exampleArgs)
	args.RuleSets[2].Selector = preference.PodSelector{Namespaces: []string{"db"}}
	n := diskNode("n", "ssd", "20000")
	n.Labels["network-gbps"] = "100"
	n.Labels["network-latency-us"] = "255"
	f := newFixture(t, args, nil, n)
	pod := dbPod("p")
	cs, _, _ := f.filter(t, pod)
	// (80×3 + 65.05×2 + 100×1 + 50×1) / 7 = 74.3.
	if got := f.scores(t, cs, pod); got["n"] != 74 {
		t.Errorf("score %d, want 74", got["n"])
	}
	want := "rule set fast-disk: disk-type=ssd → 80 ×3, disk-iops=20000 (log) → 65 ×2; " +
		"rule set fast-net: network-gbps Gt 25 (node has network-gbps=100) → 100 ×1, network-latency-us=255 (linear, lower is better) → 50 ×1"
	if got := f.pl.ExplainScore(cs, pod, f.nodes["n"]); got != want {
		t.Errorf("explain:\n got %s\nwant %s", got, want)
	}
	only := dbPod("p", "fast-net")
	cs, _, _ = f.filter(t, only)
	if got := f.scores(t, cs, only); got["n"] != 75 {
		t.Errorf("annotated pod: score %d, want 75 (fast-net alone)", got["n"])
	}
}

// TestSSDPreferredWhenCapacityAllows: the preference is a score, so a
// pod goes to an SSD node while one has room and to an HDD node when the
// SSD nodes are full (NodeResourcesFit rejects them, NodePreference does
// not); a rule set that requires SSD leaves the pod pending instead, and
// says why.
func TestSSDPreferredWhenCapacityAllows(t *testing.T) {
	fit, err := noderesources.NewFit(context.Background(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	place := func(f *fixture, pod *v1.Pod) (best string, rejected map[string]string) {
		t.Helper()
		cs, pre, rejected := f.filter(t, pod)
		if !pre.IsSuccess() && !pre.IsSkip() {
			t.Fatal(pre)
		}
		if _, st := fit.(framework.PreFilterPlugin).PreFilter(context.Background(), cs, pod, f.snap.List()); !st.IsSuccess() {
			t.Fatal(st)
		}
		for name, ni := range f.nodes {
			if st := fit.(framework.FilterPlugin).Filter(context.Background(), cs, pod, ni); !st.IsSuccess() {
				rejected[name] = st.Message()
			}
		}
		scores := f.scores(t, cs, pod)
		var top int64 = -1
		for name := range f.nodes {
			if _, out := rejected[name]; !out && scores[name] > top {
				best, top = name, scores[name]
			}
		}
		return best, rejected
	}
	full := st.MakePod().Name("full").Node("ssd").Req("cpu", "4").Obj()
	nodes := []*v1.Node{diskNode("ssd", "ssd", "20000"), diskNode("hdd", "hdd", "500")}

	f := newFixture(t, decode(t, exampleArgs), nil, nodes...)
	if best, _ := place(f, dbPod("p")); best != "ssd" {
		t.Errorf("with room on the SSD node the pod goes to %q", best)
	}
	f = newFixture(t, decode(t, exampleArgs), []*v1.Pod{full}, nodes...)
	best, rejected := place(f, dbPod("p"))
	if best != "hdd" || len(rejected) != 1 || rejected["ssd"] != "Insufficient cpu" {
		t.Errorf("SSD node full: pod goes to %q, rejected %v; want hdd, only ssd rejected by NodeResourcesFit", best, rejected)
	}

	best, rejected = place(f, dbPod("p", "ssd-only"))
	want := map[string]string{"ssd": "Insufficient cpu", "hdd": `node(s) didn't satisfy node preference "ssd-only": disk-type In [ssd nvme]`}
	if diff := cmp.Diff(want, rejected); best != "" || diff != "" {
		t.Errorf("SSD required: best %q, rejections (-want +got):\n%s", best, diff)
	}
	cs, _, _ := f.filter(t, dbPod("p", "ssd-only"))
	if got, want := f.pl.ExplainFailure(cs, dbPod("p", "ssd-only")), "rule set ssd-only requires disk-type In [ssd nvme]: 1 of 2 nodes meet it (disk-type=hdd on 1)"; got != want {
		t.Errorf("ExplainFailure:\n got %s\nwant %s", got, want)
	}
	if got := f.pl.ExplainFailure(framework.NewCycleState(), dbPod("p")); got != "" {
		t.Errorf("ExplainFailure without required rules: %q", got)
	}
}

func TestSignatureAndNodeLocal(t *testing.T) {
	var pl NodePreference
	if !pl.NodeLocal() {
		t.Error("NodeLocal = false")
	}
	frags := map[string]bool{}
	for _, p := range []*v1.Pod{dbPod("a"), dbPod("b", ""), dbPod("c", "fast-disk"), dbPod("d", "fast-net")} {
		frags[pl.SignatureFragment(p)] = true
	}
	if len(frags) != 4 {
		t.Errorf("fragments %v: pods with different annotations must differ", frags)
	}
	if pl.SignatureFragment(dbPod("a")) != "" {
		t.Error("a pod without the annotation adds nothing to its signature")
	}
}

func TestQueueingHint(t *testing.T) {
	f := newFixture(t, decode(t, exampleArgs), nil)
	evs, err := f.pl.EventsToRegister(context.Background())
	if err != nil || len(evs) != 1 || evs[0].Event.Resource != framework.Node || evs[0].Event.ActionType != framework.Add|framework.UpdateNodeLabel {
		t.Fatalf("events %+v, %v", evs, err)
	}
	hint := evs[0].QueueingHintFn
	ssd, hdd := diskNode("n", "ssd", ""), diskNode("n", "hdd", "")
	tests := []struct {
		name     string
		pod      *v1.Pod
		old, new interface{}
		want     framework.QueueingHint
	}{
		{name: "matching node added", pod: dbPod("p", "ssd-only"), new: ssd, want: framework.Queue},
		{name: "other node added", pod: dbPod("p", "ssd-only"), new: hdd, want: framework.QueueSkip},
		{name: "node relabelled to match", pod: dbPod("p", "ssd-only"), old: hdd, new: ssd, want: framework.Queue},
		{name: "node matched before", pod: dbPod("p", "ssd-only"), old: ssd, new: ssd, want: framework.QueueSkip},
		{name: "unknown set", pod: dbPod("p", "nope"), new: ssd, want: framework.QueueSkip},
		{name: "ungoverned pod", pod: st.MakePod().Name("web").Obj(), new: ssd, want: framework.QueueSkip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := hint(klog.Background(), tt.pod, tt.old, tt.new)
			if err != nil || got != tt.want {
				t.Errorf("hint = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestExampleArgsSelectors(t *testing.T) {
	f := newFixture(t, decode(t, exampleArgs), nil)
	ingest := st.MakePod().Name("i").Label("app", "ingest").Obj()
	pref, err := f.pl.policy.Resolve(ingest)
	if err != nil || pref == nil || pref.Name() != "fast-net" {
		t.Errorf("ingest pod: %v, %v", pref, err)
	}
	other := st.MakePod().Name("o").Namespace("db").Obj()
	if pref, _ := f.pl.policy.Resolve(other); pref != nil {
		t.Errorf("db pod without tier=database: %v", pref.Name())
	}
}
