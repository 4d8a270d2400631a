package bench

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

const ms = int64(time.Millisecond)

// TestGangPlan checks the layout of the built-in Gang workload: the two
// contest gangs alternate first, then the regular gangs follow one after
// the other, and only the regular gangs' pods are expected.
func TestGangPlan(t *testing.T) {
	w := mustWorkload(t, "Gang")
	c, err := w.Counts(ScaleTiny)
	if err != nil {
		t.Fatal(err)
	}
	plan := newGangPlan(c)
	if len(plan.of) != c.MeasuredPods || len(plan.groups) != 2+c.Groups {
		t.Fatalf("plan has %d pods and %d groups, want %d and %d", len(plan.of), len(plan.groups), c.MeasuredPods, 2+c.Groups)
	}
	templates := w.measuredTemplates(c)
	size := map[string]int{}
	for i, g := range plan.of {
		pg := plan.groups[g]
		size[pg.name]++
		contest := i < 2*c.ContestSize
		if pg.contest != contest || (contest && pg.name != []string{ContestA, ContestB}[i%2]) {
			t.Errorf("pod %d in %s", i, pg.name)
		}
		if want := map[bool]string{true: w.Gang.Contender, false: w.Gang.Member}[contest]; templates[i].Name != want {
			t.Errorf("pod %d has template %s, want %s", i, templates[i].Name, want)
		}
	}
	if size[ContestA] != c.ContestSize || size[ContestB] != c.ContestSize || size["gang-000"] != c.GroupSize || plan.groups[2].minCount != c.GroupSize {
		t.Errorf("sizes %v, groups %+v", size, plan.groups[:3])
	}
	if got, want := plan.groups[len(plan.groups)-1].name, "gang-004"; got != want {
		t.Errorf("last group %s, want %s", got, want)
	}
	if n := w.expectedMeasured(c); n != c.Groups*c.GroupSize {
		t.Errorf("expected %d, want %d", n, c.Groups*c.GroupSize)
	}
	if got := w.kubeSchedulerFeatureGates(); got != "GenericWorkload=true" {
		t.Errorf("kube-scheduler feature gates %q", got)
	}
}

// TestGangAccount checks the gang figures on hand-made bind times.
func TestGangAccount(t *testing.T) {
	// Pods 0-3: contest-a (0, 2) and contest-b (1, 3), minCount 2;
	// 4-6: gang-000, 7-9: gang-001, minCount 3.
	plan := newGangPlan(Counts{Groups: 2, GroupSize: 3, ContestSize: 2, ContestNodes: 3, MeasuredPods: 10})
	createAt := make([]int64, 10)
	for i := range createAt {
		createAt[i] = int64(i+1) * ms
	}
	bindAt := []int64{
		10 * ms, 15 * ms, 20 * ms, 0, // a complete at 20; b partial from 15 to the end
		30 * ms, 40 * ms, 50 * ms, // gang-000 partial 30-50, placed 43 ms after its last create (7 ms)
		45 * ms, 60 * ms, 0, // gang-001 partial from 45 to the end
	}
	boundAtEnd := make([]bool, 10)
	for i, b := range bindAt {
		boundAtEnd[i] = b > 0
	}
	got := gangAccount(plan, createAt, bindAt, boundAtEnd, 100*ms)
	want := &GangResult{
		Groups: 2, GroupsPlaced: 1,
		GroupTimeP50Ms: ptrTo(43.0), GroupTimeP99Ms: ptrTo(43.0),
		PartialAtEnd: 2, // contest-b and gang-001
		PartialMax:   3, // contest-b, gang-000 and gang-001 from 45 to 50 ms
		// a 10 + b 85 + gang-000 20 + gang-001 55 ms
		PartialGroupSeconds: 0.17,
		Contest:             []ContestGang{{ContestA, 2, 2}, {ContestB, 2, 1}},
		ContestPlaced:       ContestA,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("gangAccount =\n%s\nwant\n%s", dump(t, got), dump(t, want))
	}
	if s := got.contestString(); s != "2/2 · 1/2" {
		t.Errorf("contest string %q", s)
	}

	// One gang completing at the instant another starts is not two
	// partial gangs at once; a bind the watch missed counts in the final
	// state but not in the times; nothing bound: no gang time.
	bindAt = []int64{0, 0, 0, 0, 5 * ms, 6 * ms, 8 * ms, 8 * ms, 9 * ms, 0}
	boundAtEnd = []bool{false, false, false, false, true, true, true, true, true, true}
	got = gangAccount(plan, createAt, bindAt, boundAtEnd, 100*ms)
	if got.PartialMax != 1 || got.PartialAtEnd != 0 || got.GroupsPlaced != 1 || got.ContestPlaced != "none" {
		t.Errorf("hand-over: %s", dump(t, got))
	}
	if got.PartialGroupSeconds != round3(float64(3*ms+92*ms)/1e9) {
		t.Errorf("hand-over: partial gang-seconds %v", got.PartialGroupSeconds)
	}
	got = gangAccount(plan, createAt, make([]int64, 10), make([]bool, 10), 100*ms)
	if got.GroupTimeP50Ms != nil || got.PartialMax != 0 || got.PartialGroupSeconds != 0 || got.GroupsPlaced != 0 {
		t.Errorf("nothing bound: %s", dump(t, got))
	}

	// Both contest gangs complete (a capacity violation) is reported as
	// such; a minCount below the gang size ends the partial time at the
	// minCount-th bind, while the gang time waits for every member.
	plan = newGangPlan(Counts{Groups: 1, GroupSize: 3, MinCount: 2, ContestSize: 1, ContestNodes: 1, MeasuredPods: 5})
	bindAt = []int64{1 * ms, 2 * ms, 10 * ms, 20 * ms, 70 * ms}
	got = gangAccount(plan, createAt[:5], bindAt, []bool{true, true, true, true, true}, 100*ms)
	if got.ContestPlaced != "both" || got.PartialGroupSeconds != 0.01 || *got.GroupTimeP50Ms != 65 || got.PartialMax != 1 {
		t.Errorf("minCount < size: %s", dump(t, got))
	}
}

// TestGangValidate checks that a gang workload whose contest cannot be
// won by exactly one gang, or without the feature gate, is refused.
func TestGangValidate(t *testing.T) {
	data, err := builtinWorkloads.ReadFile("workloads/gang.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ from, to, want string }{
		{"contestNodes: 6,", "contestNodes: 8,", "less than twice"},
		{"contestNodes: 6,", "contestNodes: 3,", "at least contestSize"},
		{"measuredPods: 58,", "measuredPods: 50,", "groups x groupSize + 2 x contestSize = 58"},
		{"{GenericWorkload: true}", "{GenericWorkload: false}", "GenericWorkload: true"},
		{"contender: contender\n", "contender: member\n", "two different measuredPods"},
		{"operator: Equal, value: \"true\"", "operator: Equal, value: \"false\"", "must tolerate"},
	} {
		edited := strings.Replace(string(data), tc.from, tc.to, 1)
		if edited == string(data) {
			t.Fatalf("%q not in gang.yaml", tc.from)
		}
		if _, err := ParseWorkload([]byte(edited)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s -> %s: error %v, want %q", tc.from, tc.to, err, tc.want)
		}
	}
}

func ptrTo(x float64) *float64 { return &x }

func dump(t *testing.T, v any) string {
	t.Helper()
	data, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
