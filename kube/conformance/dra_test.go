package conformance

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// draRows is DynamicResources' row of Plugins.
func draRows() []Plugin {
	return slices.DeleteFunc(slices.Clone(Plugins), func(p Plugin) bool { return p.Name != "DynamicResources" })
}

// draOutcomes are the kinds of outcome kube-scheduler's DynamicResources
// gives a pod over a case's nodes, which the generated cases must all
// reach (so that berth's plugin is compared on each).
var draOutcomes = []string{
	"PreFilter Skip (no claim)",
	"PreFilter UnschedulableAndUnresolvable",
	"every node Success",
	"every node UnschedulableAndUnresolvable",
	"some nodes Success, some UnschedulableAndUnresolvable",
	"some node Error",
	"scores differ between feasible nodes",
}

// draReasons are kube-scheduler's DynamicResources verdicts (as
// FormatCoverage prints them, matched as substrings) that the cases must
// reach.
var draReasons = []string{
	`UnschedulableAndUnresolvable: pod "…": ResourceClaim not created yet`,
	`UnschedulableAndUnresolvable: resourceclaim "…" is being deleted`,
	"UnschedulableAndUnresolvable: ResourceClaim …/… was not created for Pod …/… (Pod is not owner)",
	"UnschedulableAndUnresolvable: request …: device class … does not exist",
	`UnschedulableAndUnresolvable: could not find ResourceClaim "…"`,
	"UnschedulableAndUnresolvable: cannot allocate all claims",
	"UnschedulableAndUnresolvable: resourceclaim not available on the node",
	"UnschedulableAndUnresolvable: invalid resource pools were encountered",
	"Error: ",
}

// TestDRAScenarios runs kube-scheduler's DynamicResources against a second
// copy of itself over the generated DRA scenarios (whether or not berth
// has the plugin yet): the two must agree, and the cases must reach every
// outcome in draOutcomes and every reason in draReasons. -v prints how
// many pods got each.
func TestDRAScenarios(t *testing.T) {
	h, err := NewSelfHarness(draRows())
	if err != nil {
		t.Fatal(err)
	}
	h.Shrink = false
	o, err := newOracle()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	outcomes := map[string]int{}
	for s := *firstSeed; s < *firstSeed+uint64(*seeds); s++ {
		c := Generate(s, DefaultGenOptions)
		ds, err := h.Run(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			t.Errorf("kube-scheduler disagrees with itself:\n%s", d)
		}
		if err := draOutcomesOf(ctx, o, c, outcomes); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	h.FormatCoverage(&b)
	b.WriteString("pods per outcome:\n")
	for _, k := range slices.Sorted(maps.Keys(outcomes)) {
		fmt.Fprintf(&b, "  %6d  %s\n", outcomes[k], k)
	}
	t.Logf("kube-scheduler's DynamicResources verdicts:\n%s", b.String())
	for _, w := range draOutcomes {
		if outcomes[w] == 0 {
			t.Errorf("no pod got %q", w)
		}
	}
	st := h.Stats["DynamicResources"]
	for _, w := range draReasons {
		n := 0
		for k, c := range st.Reasons {
			if strings.Contains(k, w) {
				n += c
			}
		}
		if n == 0 {
			t.Errorf("no case got %q", w)
		}
	}
	if st.NonZero == 0 {
		t.Errorf("DynamicResources: no case had a non-zero score (%d scored)", st.Scored)
	}
}

// draOutcomesOf counts, for every pending pod of c, the kinds of outcome
// kube-scheduler's DynamicResources gives it (see draOutcomes).
func draOutcomesOf(ctx context.Context, o *oracle, c *Case, into map[string]int) error {
	cl, pending, err := admitCase(c.Cluster, c.Pending)
	if err != nil {
		return err
	}
	s, err := o.load(ctx, cl, []string{"DynamicResources"})
	if err != nil {
		return err
	}
	defer s.close()
	for _, pod := range pending {
		s.reset()
		r := s.Filter("DynamicResources", pod)
		codes := map[string]int{}
		var feasible []string
		for _, n := range s.nodeNames() {
			codes[r.Nodes[n].Code]++
			if r.Nodes[n].Code == "Success" {
				feasible = append(feasible, n)
			}
		}
		nodes := len(s.nodeNames())
		switch {
		case r.PreFilter.Code == "Skip":
			into["PreFilter Skip (no claim)"]++
			continue
		case r.PreFilter.Code != "Success":
			into["PreFilter "+r.PreFilter.Code]++
			continue
		case codes["Success"] == nodes:
			into["every node Success"]++
		case codes["UnschedulableAndUnresolvable"] == nodes:
			into["every node UnschedulableAndUnresolvable"]++
		case codes["Success"] > 0 && codes["UnschedulableAndUnresolvable"] > 0:
			into["some nodes Success, some UnschedulableAndUnresolvable"]++
		}
		for code := range codes {
			if code != "Success" && code != "UnschedulableAndUnresolvable" {
				into["some node "+code]++
			}
		}
		if len(feasible) > 1 {
			sc := s.Score("DynamicResources", pod, feasible)
			distinct := map[int64]bool{}
			for _, v := range sc.Scores {
				distinct[v] = true
			}
			if len(distinct) > 1 {
				into["scores differ between feasible nodes"]++
			}
		}
	}
	return nil
}
