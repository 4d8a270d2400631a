package upstream

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Choice is one test case and the workload of it to run.
type Choice struct {
	// TestCase and Workload name upstream's test case and workload.
	TestCase string `json:"testCase"`
	Workload string `json:"workload"`
	// Scale multiplies the count parameters before the suite's factor
	// (0 means 1): it brings workloads that upstream only defines at 1000
	// or 5000 nodes to about the 500-node size of the others.
	Scale float64 `json:"scale,omitempty"`
}

// Factor is the choice's Scale times factor (to six decimals).
func (c Choice) Factor(factor float64) float64 {
	if c.Scale == 0 {
		return factor
	}
	return math.Round(c.Scale*factor*1e6) / 1e6
}

// Skip records a test case (or an op of one) the suite does not run, and
// why.
type Skip struct {
	TestCase string `json:"testCase"`
	// Workload is set when one workload was chosen and then not run.
	Workload string `json:"workload,omitempty"`
	Reason   string `json:"reason"`
}

// DefaultChoices are the workloads `--suite upstream` runs without
// --upstream-workloads: kube-scheduler's headline cases, each at its
// smallest workload that is more than an integration smoke test (then
// scaled by the suite's factor).
var DefaultChoices = []Choice{
	{"SchedulingBasic", "500Nodes", 0},
	{"SchedulingPodAntiAffinity", "500Nodes", 0},
	{"SchedulingPodAffinity", "500Nodes", 0},
	{"TopologySpreading", "500Nodes", 0},
	{"PreferredTopologySpreading", "500Nodes", 0},
	{"SchedulingNodeAffinity", "500Nodes", 0},
	{"SchedulingPreferredPodAffinity", "500Nodes", 0},
	{"SchedulingPreferredPodAntiAffinity", "500Nodes", 0},
	{"PreemptionBasic", "1000Nodes", 0.5},
	{"SchedulingSecrets", "500Nodes", 0},
	{"SchedulingInTreePVs", "500Nodes", 0},
	{"SchedulingCSIPVs", "500Nodes", 0},
	{"SchedulingWithResourceClaimTemplate", "2000pods_200nodes", 0},
	{"GangScheduling", "5000Nodes_1000Gangs_3000Pods", 0.1},
	{"BasicScheduling", "5000Nodes_1000Groups_3000Pods", 0.1},
	{"NodeDeclaredFeaturesEnabled", "5000Nodes20DeclaredFeatures", 0.1},
}

// Supported are the opcodes the harness runs; a test case using another
// is skipped with the opcode named.
var Supported = map[string]bool{
	OpCreateNodes: true, OpCreateNamespaces: true, OpCreatePods: true, OpCreateAny: true,
	OpCreatePodGroups: true, OpBarrier: true, OpSleep: true, OpStartCollectingMetrics: true,
	OpStopCollectingMetrics: true, OpAllocResourceClaims: true,
}

// unsupportedReasons explains the opcodes left out.
var unsupportedReasons = map[string]string{
	OpChurn:         "churn (periodic create/delete of templated objects through the dynamic client in a background loop) is not implemented",
	OpDeletePods:    "deletePods (timed deletion of running pods) is not implemented",
	OpUpdateAny:     "updateAny (templated in-place updates) is not implemented",
	OpCreatePodSets: "createPodSets (pods spread over many generated namespaces) is not implemented",
}

// Unsupported returns why the test case cannot run ("" if it can):
// an opcode the harness lacks, or a steady-state createPods.
func (tc *TestCase) Unsupported() string {
	var reasons []string
	seen := map[string]bool{}
	for _, op := range tc.WorkloadTemplate {
		c := op.Opcode()
		if Supported[c] || seen[c] {
			continue
		}
		seen[c] = true
		if r, ok := unsupportedReasons[c]; ok {
			reasons = append(reasons, r)
		} else {
			reasons = append(reasons, fmt.Sprintf("opcode %s is not implemented", c))
		}
	}
	return strings.Join(reasons, "; ")
}

// Choose resolves a comma-separated list of test cases (each optionally
// "TestCase/Workload"); empty or "default" means DefaultChoices, "all"
// every test case the harness can run. A test case named without a
// workload gets its DefaultChoices workload, else its first workload not
// labelled integration-test, else its first. Skipped lists every test
// case of tcs not chosen (with the reason: unsupported opcodes, or not
// selected).
func Choose(tcs []*TestCase, names string) ([]Choice, []Skip, error) {
	var out []Choice
	switch strings.TrimSpace(names) {
	case "", "default":
		out = append(out, DefaultChoices...)
	case "all":
		for _, tc := range tcs {
			if tc.Unsupported() == "" {
				out = append(out, withScale(Choice{TestCase: tc.Name, Workload: defaultWorkload(tc)}))
			}
		}
	default:
		for _, n := range strings.Split(names, ",") {
			tcName, wl, _ := strings.Cut(strings.TrimSpace(n), "/")
			tc := Find(tcs, tcName)
			if tc == nil {
				return nil, nil, fmt.Errorf("unknown upstream test case %q", tcName)
			}
			if wl == "" {
				wl = defaultWorkload(tc)
			}
			out = append(out, withScale(Choice{TestCase: tc.Name, Workload: wl}))
		}
	}
	chosen := map[string]bool{}
	for _, c := range out {
		tc := Find(tcs, c.TestCase)
		if tc == nil {
			return nil, nil, fmt.Errorf("test case %s is not in the upstream configs", c.TestCase)
		}
		if tc.Workload(c.Workload) == nil {
			return nil, nil, fmt.Errorf("test case %s has no workload %q", c.TestCase, c.Workload)
		}
		chosen[tc.Name] = true
	}
	var skipped []Skip
	for _, tc := range tcs {
		if chosen[tc.Name] {
			continue
		}
		reason := tc.Unsupported()
		if reason == "" {
			reason = "not selected (run it with --upstream-workloads " + tc.Name + ")"
		}
		skipped = append(skipped, Skip{TestCase: tc.Name, Reason: reason})
	}
	sort.Slice(skipped, func(i, j int) bool { return skipped[i].TestCase < skipped[j].TestCase })
	return out, skipped, nil
}

func defaultWorkload(tc *TestCase) string {
	if c, ok := defaultChoice(tc.Name); ok && tc.Workload(c.Workload) != nil {
		return c.Workload
	}
	for _, w := range tc.Workloads {
		if !w.HasLabel("integration-test") {
			return w.Name
		}
	}
	if len(tc.Workloads) > 0 {
		return tc.Workloads[0].Name
	}
	return ""
}

func defaultChoice(name string) (Choice, bool) {
	for _, c := range DefaultChoices {
		if c.TestCase == name {
			return c, true
		}
	}
	return Choice{}, false
}

// withScale gives c the Scale of the default choice of the same workload.
func withScale(c Choice) Choice {
	if d, ok := defaultChoice(c.TestCase); ok && d.Workload == c.Workload {
		c.Scale = d.Scale
	}
	return c
}
