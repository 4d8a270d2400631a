package volumes

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/plugins/volumebinding"
)

// poolLabel marks the capacity test's nodes, which carry a NoSchedule
// taint of the same key and value so that only that test's pods go there.
const poolLabel = "volumes.berth.io/pool"

// poolRuns numbers the capacity test's runs (go test -count): each run
// gets a fresh pool, since the last run's volumes fill the old one.
var poolRuns atomic.Int32

// TestCapacityLimitedNodes gives a tainted pool of six nodes different
// local capacities (three with 5Gi, three with 25Gi) and a class whose
// allowedTopologies select the pool, then creates seven pods with a 10Gi
// claim each. The small nodes must never be used; each large node holds
// exactly two volumes (20 of its 25Gi), even though the pods are created
// at once and race for the same capacity; the seventh pod fits nowhere
// and must be reported for lack of storage.
func TestCapacityLimitedNodes(t *testing.T) {
	const (
		poolSize = 6
		pods     = 7
	)
	fleet(t)
	c := testenv.Current().Client
	ctx := context.Background()
	run := poolRuns.Add(1)
	pool := fmt.Sprintf("pool%d", run)
	class := "vol-" + pool
	opts := nodegen.Options{Count: poolSize, Prefix: pool + "-", Zones: 1}
	if _, err := nodegen.Create(ctx, c, opts); err != nil {
		t.Fatalf("creating the pool: %v", err)
	}
	small, large := map[string]bool{}, map[string]bool{}
	var hosts []string
	for i := range poolSize {
		name := nodegen.NodeName(opts, i)
		hosts = append(hosts, name)
		capacity := "25Gi"
		if i%2 == 0 {
			capacity = "5Gi"
			small[name] = true
		} else {
			large[name] = true
		}
		patch, _ := json.Marshal(map[string]any{
			"metadata": map[string]any{
				"labels":      map[string]string{poolLabel: pool},
				"annotations": map[string]string{testenv.LocalCapacityAnnotation: capacity},
			},
			"spec": map[string]any{"taints": []v1.Taint{{Key: poolLabel, Value: pool, Effect: v1.TaintEffectNoSchedule}}},
		})
		if _, err := c.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	wffcClass(t, class, testenv.LocalProvisioner, []v1.TopologySelectorTerm{{MatchLabelExpressions: []v1.TopologySelectorLabelRequirement{
		{Key: poolLabel, Values: []string{pool}},
	}}})
	waitCapacities(t, class, hosts)

	ns := setup(t, "vol-cap")
	start := time.Now()
	toleration := []v1.Toleration{{Key: poolLabel, Operator: v1.TolerationOpEqual, Value: pool, Effect: v1.TaintEffectNoSchedule}}
	for i := range pods {
		name := fmt.Sprintf("cap-%d", i)
		createClaim(t, ns, name, class, "10Gi")
		spec := podSpec(claimVolume("data", name))
		spec.Tolerations = toleration
		createPod(t, ns, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec})
	}

	var bound []*v1.Pod
	var pending []string
	berthtest.WaitFor(t, 2*time.Minute, "six pods to be bound", func() (bool, string) {
		bound, pending = nil, nil
		for _, p := range listPods(t, ns, "") {
			if p.Spec.NodeName != "" {
				bound = append(bound, p.DeepCopy())
			} else {
				pending = append(pending, p.Name)
			}
		}
		return len(bound) == 2*len(large), fmt.Sprintf("%d bound, pending %v", len(bound), pending)
	})
	t.Logf("%d pods bound in %v", len(bound), time.Since(start).Round(time.Millisecond))

	nodes := clusterNodes(t)
	perNode := map[string]int{}
	for _, pod := range bound {
		perNode[pod.Spec.NodeName]++
		if !large[pod.Spec.NodeName] {
			t.Errorf("pod %s is on %s, which has no room for a 10Gi volume", pod.Name, pod.Spec.NodeName)
		}
		checkClaimBound(t, ns, pod.Name, nodes[pod.Spec.NodeName], start)
	}
	for n := range large {
		if perNode[n] != 2 {
			t.Errorf("node %s holds %d 10Gi volumes, want 2 (25Gi of local storage)", n, perNode[n])
		}
	}
	// The pods raced for the large nodes' capacity, so the provisioner may
	// have turned some down for lack of room; but berth must never have
	// selected a small node, where a 10Gi volume never fits.
	failures := provisioningFailures(t, ns)
	for _, e := range failures {
		for n := range small {
			if strings.Contains(e.Message, n+" ") {
				t.Errorf("berth selected small node %s for claim %s: %s", n, e.InvolvedObject.Name, e.Message)
			}
		}
	}
	t.Logf("%d provisioning refusals on the large nodes (capacity races)", len(failures))
	if len(pending) != 1 {
		t.Fatalf("pending pods %v, want exactly one", pending)
	}
	// Off the pool, the class's topology rejects the node; on it, space.
	msg := waitUnschedulable(t, ns, pending[0], time.Minute,
		fmt.Sprintf("0/%d nodes are available", len(nodes)),
		fmt.Sprintf("%d %s", poolSize, volumebinding.ReasonNotEnoughSpace),
		fmt.Sprintf("%d %s", untainted(nodes), volumebinding.ReasonBindConflict))
	t.Logf("pending %s: %s", pending[0], msg)
}
