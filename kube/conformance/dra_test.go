package conformance

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
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
	h := newSelfHarness(t, draRows())
	o, err := newOracle()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	outcomes := map[string]int{}
	for s := *firstSeed; s < *firstSeed+uint64(*seeds); s++ {
		c := Generate(s, DefaultGenOptions)
		checkSelf(t, h, ctx, c)
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

// TestDRAExtendedResourceScenarios runs kube-scheduler's NodeResourcesFit
// and DynamicResources against second copies of themselves over 100 seeds
// with extended resources backed by DRA in every DRA scenario (the default
// options have them in a quarter): they must agree, DynamicResources must
// reject a resource nothing provides, and NodeResourcesFit must leave the
// DRA-backed resource to DynamicResources on nodes that do not advertise
// it, which the cases must reach.
func TestDRAExtendedResourceScenarios(t *testing.T) {
	var rows []Plugin
	for _, p := range Plugins {
		if p.Name == "DynamicResources" || p.Name == "NodeResourcesFit" {
			rows = append(rows, p)
		}
	}
	h := newSelfHarness(t, rows)
	o, err := newOracle()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	opts := DefaultGenOptions
	opts.DRA, opts.DRAExtendedResources = 1, 1
	left := 0
	for s := uint64(1); s <= 100; s++ {
		c := Generate(s, opts)
		checkSelf(t, h, ctx, c)
		n, err := leftToDRA(ctx, o, c)
		if err != nil {
			t.Fatal(err)
		}
		left += n
	}
	if st := h.Stats["DynamicResources"]; st.Reasons["UnschedulableAndUnresolvable: cannot fit resource"] == 0 {
		t.Errorf("DynamicResources: no case got %q", "cannot fit resource")
	}
	if left == 0 {
		t.Error("no pod requesting " + draGPUResource + " met a node that does not advertise it")
	}
}

// leftToDRA counts the (pod, node) pairs of c where the pod requests
// draGPUResource, a DeviceClass backs it and the node does not advertise
// it, and fails if
// kube-scheduler's NodeResourcesFit names the resource as insufficient on
// any of them: it leaves a resource a DeviceClass backs to DynamicResources.
func leftToDRA(ctx context.Context, o *oracle, c *Case) (int, error) {
	cl, pending, err := admitCase(c.Cluster, c.Pending)
	if err != nil {
		return 0, err
	}
	backed := slices.ContainsFunc(cl.Objects, func(o runtime.Object) bool {
		dc, ok := o.(*resourceapi.DeviceClass)
		return ok && ptr.Deref(dc.Spec.ExtendedResourceName, "") == draGPUResource
	})
	if !backed {
		return 0, nil // the gpu class is missing from this case
	}
	s, err := o.load(ctx, cl, []string{"NodeResourcesFit"})
	if err != nil {
		return 0, err
	}
	defer s.close()
	lacking := map[string]bool{}
	for _, n := range cl.Nodes {
		if _, ok := n.Status.Allocatable[draGPUResource]; !ok {
			lacking[n.Name] = true
		}
	}
	count := 0
	for _, pod := range pending {
		if _, ok := pod.Spec.Containers[0].Resources.Requests[draGPUResource]; !ok {
			continue
		}
		s.reset()
		r := s.Filter("NodeResourcesFit", pod)
		for n := range lacking {
			count++
			if slices.Contains(r.Nodes[n].Reasons, "Insufficient "+draGPUResource) {
				return 0, fmt.Errorf("seed %d: NodeResourcesFit: pod %s/%s on %s: %s", c.Seed, pod.Namespace, pod.Name, n, r.Nodes[n])
			}
		}
	}
	return count, nil
}
