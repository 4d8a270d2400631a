package upstream

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func loadTestdata(t *testing.T) []*TestCase {
	t.Helper()
	tcs, err := Load("testdata/perf")
	if err != nil {
		t.Fatal(err)
	}
	return tcs
}

func TestLoadTestdata(t *testing.T) {
	tcs := loadTestdata(t)
	var names []string
	for _, tc := range tcs {
		names = append(names, tc.Name)
	}
	if diff := cmp.Diff([]string{"Basic", "Churny", "Gang"}, names); diff != "" {
		t.Fatalf("test cases (-want +got):\n%s", diff)
	}
	basic := Find(tcs, "basic")
	if basic == nil || len(basic.Workloads) != 3 || len(basic.WorkloadTemplate) != 5 {
		t.Fatalf("Basic parsed as %+v", basic)
	}
	th, from := basic.PublishedThreshold(basic.Workload("500Nodes"))
	if th.Value != 680 || from != "5000Nodes_10000Pods" {
		t.Errorf("threshold of 500Nodes = %v from %q, want 680 from 5000Nodes_10000Pods", th, from)
	}
	gang := Find(tcs, "Gang")
	w := gang.Workload("10Gangs")
	if got := w.Threshold.String(); got != "dra: 56" {
		t.Errorf("map threshold = %q, want dra: 56", got)
	}
	if diff := cmp.Diff(map[string]bool{"GenericWorkload": true, "SchedulerAsyncAPICalls": false}, gang.FeatureGatesOf(w)); diff != "" {
		t.Errorf("feature gates (-want +got):\n%s", diff)
	}
	if r := Find(tcs, "Churny").Unsupported(); !strings.Contains(r, "churn") {
		t.Errorf("Churny.Unsupported() = %q, want the churn opcode named", r)
	}
	if r := basic.Unsupported(); r != "" {
		t.Errorf("Basic.Unsupported() = %q", r)
	}
}

func TestResolve(t *testing.T) {
	tcs := loadTestdata(t)
	basic := Find(tcs, "Basic")
	ops, err := basic.Resolve(ScaleParams(basic.Workload("500Nodes").Params, 0.1))
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 5 {
		t.Fatalf("%d ops", len(ops))
	}
	if ops[0].Opcode != OpCreateNodes || ops[0].Count != 50 || ops[0].LabelNodePrepareStrategy == nil ||
		!cmp.Equal(ops[0].LabelNodePrepareStrategy.LabelValues, []string{"a", "b"}) {
		t.Errorf("createNodes = %+v", ops[0])
	}
	if ops[1].Count != 2 || ops[1].Prefix != "sched" {
		t.Errorf("createNamespaces = %+v", ops[1])
	}
	if ops[2].Count != 50 || ops[2].Namespace != "sched-0" || !strings.HasSuffix(ops[2].PodTemplatePath, "templates/pod-default.yaml") {
		t.Errorf("init createPods = %+v", ops[2])
	}
	if ops[3].Count != 100 || !ops[3].CollectMetrics || ops[3].Namespace != "" {
		t.Errorf("measured createPods = %+v", ops[3])
	}
	if ops[4].Duration.Seconds() != 2 {
		t.Errorf("sleep = %+v", ops[4])
	}
	if _, err := basic.Resolve(map[string]any{}); err == nil || !strings.Contains(err.Error(), "initNodes") {
		t.Errorf("Resolve without params: %v, want a missing initNodes error", err)
	}
}

func TestResolveMultiplierDefaultsAndTemplates(t *testing.T) {
	tcs := loadTestdata(t)
	gang := Find(tcs, "Gang")
	// podsPerGroup is a per-group size: scaling leaves it alone.
	ops, err := gang.Resolve(ScaleParams(gang.Workload("10Gangs").Params, 0.5))
	if err != nil {
		t.Fatal(err)
	}
	if ops[0].Count != 5 || ops[0].TemplateParams["podsPerGroup"] != 3.0 || ops[0].TemplateParams["numDevices"] != 3.0 {
		t.Errorf("createPodGroups = %+v", ops[0])
	}
	if ops[1].Count != 15 {
		t.Errorf("createPods count = %d, want 5 groups x 3", ops[1].Count)
	}
	data, err := Render(ops[1].PodTemplatePath, Env(ops[1].TemplateParams, 7, ops[1].Count))
	if err != nil {
		t.Fatal(err)
	}
	pod := &v1.Pod{}
	if err := yaml.UnmarshalStrict(data, pod); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if pod.Name != "gang-pod-7" || pod.Spec.SchedulingGroup == nil || *pod.Spec.SchedulingGroup.PodGroupName != "gang-2" {
		t.Errorf("rendered pod %s in group %+v, want gang-pod-7 in gang-2", pod.Name, pod.Spec.SchedulingGroup)
	}
	data, err = Render(ops[0].TemplatePath, Env(ops[0].TemplateParams, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	var slice struct {
		Spec struct {
			Devices   []struct{ Name string }
			Selectors any
		}
	}
	if err := yaml.Unmarshal(data, &slice); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if len(slice.Spec.Devices) != 3 || slice.Spec.Devices[2].Name != "dev-2-root-0" || slice.Spec.Selectors != nil {
		t.Errorf("rendered slice %+v from\n%s", slice, data)
	}
}

func TestChoose(t *testing.T) {
	tcs := loadTestdata(t)
	choices, skipped, err := Choose(tcs, "Basic,Gang/10Gangs")
	if err != nil {
		t.Fatal(err)
	}
	want := []Choice{{"Basic", "500Nodes", 0}, {"Gang", "10Gangs", 0}}
	if diff := cmp.Diff(want, choices); diff != "" {
		t.Errorf("choices (-want +got):\n%s", diff)
	}
	if len(skipped) != 1 || skipped[0].TestCase != "Churny" || !strings.Contains(skipped[0].Reason, "churn") {
		t.Errorf("skipped = %+v", skipped)
	}
	if _, _, err := Choose(tcs, "Nope"); err == nil {
		t.Error("unknown test case accepted")
	}
	if _, _, err := Choose(tcs, "Basic/Nope"); err == nil {
		t.Error("unknown workload accepted")
	}
	all, _, err := Choose(tcs, "all")
	if err != nil || len(all) != 2 {
		t.Errorf("all = %+v, %v; want Basic and Gang", all, err)
	}
}

func TestScaled(t *testing.T) {
	for name, want := range map[string]bool{
		"initNodes": true, "nodes": true, "measurePods": true, "initPods": true, "nodesWithDRA": true,
		"nodesWithoutDRA": true, "initClaims": true, "initPodGroups": true, "podsPerGroup": false,
		"numDevices": false, "numNodeDeclaredFeatures": false,
	} {
		if got := Scaled(name); got != want {
			t.Errorf("Scaled(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestRealConfigs parses every scheduler_perf definition of the
// k8s.io/kubernetes version the kube module requires, and resolves the
// default selection. It fails, rather than skips, when the module cannot
// be found: the upstream suite depends on it.
func TestRealConfigs(t *testing.T) {
	dir, err := Locate()
	if err != nil {
		t.Fatalf("cannot find scheduler_perf through the kube module (go list -m -f {{.Dir}} %s in kube/): %v", Module, err)
	}
	tcs, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(tcs) < 30 {
		t.Errorf("only %d test cases under %s", len(tcs), dir)
	}
	for _, p := range []string{DefaultPodTemplate, DefaultNodeTemplate} {
		if _, err := Render(filepath.Join(dir, p), Env(nil, 0, 1)); err != nil {
			t.Errorf("default template: %v", err)
		}
	}
	choices, _, err := Choose(tcs, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range choices {
		tc := Find(tcs, c.TestCase)
		if r := tc.Unsupported(); r != "" {
			t.Errorf("%s: default choice is unsupported: %s", c.TestCase, r)
		}
		ops, err := tc.Resolve(tc.Workload(c.Workload).Params)
		if err != nil {
			t.Errorf("%s/%s: %v", c.TestCase, c.Workload, err)
			continue
		}
		for _, op := range ops {
			for _, p := range []string{op.NodeTemplatePath, op.PodTemplatePath, op.TemplatePath, op.PersistentVolumeTemplatePath, op.PersistentVolumeClaimTemplatePath} {
				if p == "" {
					continue
				}
				if _, err := os.Stat(p); err != nil {
					t.Errorf("%s/%s: %v", c.TestCase, c.Workload, err)
				}
				data, err := Render(p, Env(op.TemplateParams, 0, max(op.Count, 1)))
				if err != nil {
					t.Errorf("%s/%s: render %s: %v", c.TestCase, c.Workload, filepath.Base(p), err)
					continue
				}
				// The harness decodes pods and nodes strictly.
				var obj any
				switch p {
				case op.PodTemplatePath:
					obj = &v1.Pod{}
				case op.NodeTemplatePath:
					obj = &v1.Node{}
				default:
					continue
				}
				if err := yaml.UnmarshalStrict(data, obj); err != nil {
					t.Errorf("%s/%s: %s: %v", c.TestCase, c.Workload, filepath.Base(p), err)
				}
			}
		}
	}
}
