package placement

import (
	"context"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/placement/preference"
)

// nodePreferenceConfig enables NodePreference (weight 5, so the
// preference outweighs the resource scorers) with two rule sets: pods
// labelled storage=fast prefer SSD nodes; pods that name ssd-only in
// their annotation require one.
var nodePreferenceConfig = configFor("NodePreference", 5, `      ruleSets:
      - name: prefer-ssd
        selector:
          labelSelector:
            matchLabels: {storage: fast}
        preferred:
        - weight: 1
          labelValues:
            key: disk-type
            values: {ssd: 100, hdd: 0}
      - name: ssd-only
        required:
        - {key: disk-type, operator: In, values: [ssd]}
`)

// TestSSDPreferenceHonouredThenRelaxed: two SSD and two HDD nodes of 7.81
// CPUs, pods of 3 CPUs (two fit a node) that prefer SSD. The first four
// fill the SSD nodes, whatever the resource scorers think of the empty
// HDD nodes; the next two go to the HDD nodes (the preference is a score,
// not a filter) and every pod is bound. A pod that requires SSD (the
// ssd-only rule set) then stays pending, and its FailedScheduling event
// names the rule set and the requirement, until an HDD node is relabelled
// ssd: the pod is retried and lands there. Explain shows the preference's
// breakdown on the SSD and HDD nodes.
func TestSSDPreferenceHonouredThenRelaxed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "ssd", 4, func(i int) map[string]string {
		disk := "ssd"
		if i >= 2 {
			disk = "hdd"
		}
		return map[string]string{nodegen.LabelDiskType: disk}
	}, nodePreferenceConfig)
	fast := &workload{app: "db", cpu: "3", edit: func(p *v1.Pod) { p.Labels["storage"] = "fast" }}

	placed := e.run(fast, 0, 4)
	if got := e.domains(placed, nodegen.LabelDiskType); got["ssd"] != 4 {
		t.Fatalf("while the SSD nodes had room, %d of 4 pods went to SSD nodes: %s", got["ssd"], e.describe(placed, nodegen.LabelDiskType))
	}
	overflow := e.run(fast, 4, 6)
	if got := e.domains(overflow, nodegen.LabelDiskType); got["hdd"] != 2 {
		t.Fatalf("with the SSD nodes full, the overflow should go to the HDD nodes: %s", e.describe(overflow, nodegen.LabelDiskType))
	}

	strict := &workload{app: "strict", cpu: "3", edit: func(p *v1.Pod) {
		p.Annotations = map[string]string{preference.AnnotationKey: "ssd-only"}
	}}
	e.create(e.pod(strict, 0))
	msg := e.failedScheduling("strict-0")
	for _, want := range []string{
		`2 Insufficient cpu`,
		`2 node(s) didn't satisfy node preference "ssd-only": disk-type In [ssd]`,
		`NodePreference: rule set ssd-only requires disk-type In [ssd]`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("the FailedScheduling message lacks %q:\n%s", want, msg)
		}
	}

	// db-0 is taken off its node for the evaluation: its SSD node has room.
	out := e.explain("db-0")
	var ssdNote, hddNote bool
	for n := range e.nodes {
		for _, l := range nodeLines(out, n) {
			ssdNote = ssdNote || strings.Contains(l, "NodePreference: rule set prefer-ssd: disk-type=ssd → 100 ×1")
			hddNote = hddNote || strings.Contains(l, "NodePreference: rule set prefer-ssd: disk-type=hdd → 0 ×1")
		}
	}
	if !ssdNote || !hddNote {
		t.Errorf("explain lacks the NodePreference breakdown of an SSD node (%v) or an HDD node (%v):\n%s", ssdNote, hddNote, out)
	}

	// An HDD node relabelled ssd now meets the requirement: the pending
	// pod is retried and lands there. The node relabelled is the HDD node
	// with the fewest overflow pods, so it has room.
	relabelled, fewest := "", len(overflow)+1
	for n, labels := range e.nodes {
		if labels[nodegen.LabelDiskType] != "hdd" {
			continue
		}
		count := 0
		for _, on := range overflow {
			if on == n {
				count++
			}
		}
		if count < fewest || count == fewest && n < relabelled {
			relabelled, fewest = n, count
		}
	}
	patch := []byte(`{"metadata":{"labels":{"disk-type":"ssd"}}}`)
	if _, err := testenv.Current().Client.CoreV1().Nodes().Patch(context.Background(), relabelled, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	e.nodes[relabelled][nodegen.LabelDiskType] = "ssd"
	if got := e.waitBound("strict-0")["strict-0"]; got != relabelled {
		t.Errorf("strict-0 went to %s, not to the relabelled node %s", got, relabelled)
	}
}
