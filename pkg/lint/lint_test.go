package lint

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/version"
)

func lintString(t *testing.T, file, manifest string, c *Cluster) []Finding {
	t.Helper()
	objs, rf := NewReader().ReadBytes(file, []byte(manifest))
	fs, err := LintAll(objs, rf, Options{Cluster: c})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

const spreadPod = `apiVersion: v1
kind: Pod
metadata:
  name: p
  labels: {app: p}
spec:
  topologySpreadConstraints:
  - maxSkew: 1
    minDomains: 2
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: DoNotSchedule
    nodeTaintsPolicy: Honor
    matchLabelKeys: [pod-template-hash]
    labelSelector:
      matchLabels: {app: p}
  containers:
  - {name: c, image: x}
`

// TestServerVersion: spread fields a too-old API server drops are reported
// per field (BL090), and not on a current one.
func TestServerVersion(t *testing.T) {
	c := fixtureCluster(t)
	for _, tc := range []struct {
		version string
		want    []string
	}{
		{"v1.25.4", []string{ // in the order of their lines
			"spec.topologySpreadConstraints[0].minDomains",
			"spec.topologySpreadConstraints[0].nodeTaintsPolicy",
			"spec.topologySpreadConstraints[0].matchLabelKeys"}},
		{"v1.26.0", []string{
			"spec.topologySpreadConstraints[0].minDomains",
			"spec.topologySpreadConstraints[0].matchLabelKeys"}},
		{"v1.27.1", nil},
	} {
		c.ServerVersion = version.MustParseGeneric(tc.version)
		var got []string
		for _, f := range lintString(t, "p.yaml", spreadPod, c) {
			if f.Rule != RuleFieldUnsupported {
				t.Errorf("%s: unexpected %s %s", tc.version, f.Rule, f.Message)
				continue
			}
			got = append(got, f.Field)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: fields (-want +got):\n%s", tc.version, diff)
		}
	}
}

const twoProblems = `# lint.berth.io/disable-file: BL022
apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: ns
spec:
  tolerations:
  - {key: k, operator: Exists, value: v}
  topologySpreadConstraints:
  - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway}
  containers:
  - {name: c, image: x}
`

// TestFindingFields checks a finding's object, source, field path and
// line, and that a file comment disables a rule.
func TestFindingFields(t *testing.T) {
	fs := lintString(t, "f.yaml", twoProblems, nil)
	want := []Finding{{
		Rule: RuleTolerationOperator, Name: "toleration-operator", Severity: Error,
		Object: ObjectRef{APIVersion: "v1", Kind: "Pod", Namespace: "ns", Name: "p"},
		Source: Source{File: "f.yaml", Document: 0, Item: -1, Line: 9},
		Field:  "spec.tolerations[0].value",
	}}
	for i := range fs {
		fs[i].Message, fs[i].Remedy = "", ""
	}
	if diff := cmp.Diff(want, fs); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	// Without the file comment the spread finding comes back.
	if got := ids(lintString(t, "f.yaml", strings.Replace(twoProblems, "disable-file", "nothing", 1), nil)); !cmp.Equal(got, []string{RuleTolerationOperator, RuleSpreadNoSelector}) {
		t.Errorf("without the file comment: %v", got)
	}
}

// TestReaderLines: findings of later documents and of List items point at
// their own lines.
func TestReaderLines(t *testing.T) {
	const doc = `apiVersion: v1
kind: Service
metadata: {name: s}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: a}
  spec:
    containers: [{name: c, image: x}]
    tolerations:
    - {key: k, effect: Never}
`
	fs := lintString(t, "l.yaml", doc, nil)
	if len(fs) != 1 {
		t.Fatalf("findings %+v", fs)
	}
	if s := fs[0].Source; s.Document != 1 || s.Item != 0 || s.Line != 14 || fs[0].Field != "spec.tolerations[0].effect" {
		t.Errorf("source %+v field %s, want document 1 item 0 line 14", s, fs[0].Field)
	}
}

// TestOutputs checks the JSON report's envelope and the SARIF log's shape:
// every rule declared, results at file and line with a valid level.
func TestOutputs(t *testing.T) {
	fs := lintString(t, "dir/f.yaml", twoProblems, nil)
	var b bytes.Buffer
	if err := WriteJSON(&b, fs); err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.APIVersion != ReportAPIVersion || rep.Kind != ReportKind || rep.Summary.Errors != 1 || len(rep.Findings) != 1 {
		t.Errorf("report %+v", rep)
	}
	b.Reset()
	if err := WriteSARIF(&b, fs, "v1.2.3"); err != nil {
		t.Fatal(err)
	}
	var log sarifLog
	if err := json.Unmarshal(b.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	run := log.Runs[0]
	if log.Version != "2.1.0" || len(run.Tool.Driver.Rules) != len(Rules()) || len(run.Results) != 1 {
		t.Fatalf("sarif %+v", log)
	}
	res := run.Results[0]
	loc := res.Locations[0].PhysicalLocation
	if res.RuleID != RuleTolerationOperator || run.Tool.Driver.Rules[res.RuleIndex].ID != res.RuleID || res.Level != "error" ||
		loc.ArtifactLocation.URI != "dir/f.yaml" || loc.Region.StartLine != 9 {
		t.Errorf("result %+v", res)
	}
	b.Reset()
	if err := WriteText(&b, fs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dir/f.yaml", "Pod/ns/p (document 0)", "error   BL011 toleration-operator spec.tolerations[0].value (line 9)", "fix: ", "1 error, 0 warnings, 0 info"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, b.String())
		}
	}
}

// TestRulePanicIsAnError: a panicking rule does not stop the others and
// surfaces as an error (what makes the webhook fail open).
func TestRulePanicIsAnError(t *testing.T) {
	saved := workloadChecks
	defer func() { workloadChecks = saved }()
	workloadChecks = append(workloadChecks[:len(workloadChecks):len(workloadChecks)], struct {
		name string
		fn   check
	}{"boom", func(*Workload, *env, *reporter) { panic("boom") }})
	objs, _ := NewReader().ReadBytes("f.yaml", []byte(twoProblems))
	fs, err := Lint(objs, Options{})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("err = %v, want the panic", err)
	}
	if len(fs) != 1 {
		t.Errorf("the other rules' findings are lost: %+v", fs)
	}
}

// TestDisableAnnotationOnTemplate: the annotation works on the pod
// template too, and "all" disables everything.
func TestDisableAnnotationOnTemplate(t *testing.T) {
	const d = `apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  selector: {matchLabels: {app: d}}
  template:
    metadata:
      labels: {app: d}
      annotations: {lint.berth.io/disable: "%s"}
    spec:
      tolerations: [{key: k, effect: nope}]
      containers: [{name: c, image: x}]
`
	if fs := lintString(t, "d.yaml", strings.Replace(d, "%s", "bl010", 1), nil); len(fs) != 0 {
		t.Errorf("disabled on the template, still %+v", fs)
	}
	if fs := lintString(t, "d.yaml", strings.Replace(d, "%s", "all", 1), nil); len(fs) != 0 {
		t.Errorf("all disabled, still %+v", fs)
	}
	if fs := lintString(t, "d.yaml", strings.Replace(d, "%s", "BL011", 1), nil); len(fs) != 1 {
		t.Errorf("another rule disabled: %+v", fs)
	}
}

// TestRuleCatalogue: IDs are unique, well-formed and documented.
func TestRuleCatalogue(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rules() {
		if seen[r.ID] || !strings.HasPrefix(r.ID, "BL") || len(r.ID) != 5 || r.Summary == "" || r.Help == "" || r.Name == "" {
			t.Errorf("bad rule %+v", r)
		}
		seen[r.ID] = true
	}
}
