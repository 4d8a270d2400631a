package whatif

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/simulate/whatif"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }

const zoneLabel = "topology.kubernetes.io/zone"

func pod(name, cpu, mem string, labels map[string]string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: v1.PodSpec{
			SchedulerName: "berth",
			Containers: []v1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10", Resources: v1.ResourceRequirements{
				Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse(mem)},
			}}},
		},
	}
}

// workload is 24 pods of varied sizes: plain ones, a group that must not
// share a node, a group confined to zone-b, and a group spread over zones.
// Node and pod sizes are chosen (by searching with the what-if itself)
// so that no two nodes ever share the best score: berth breaks ties at
// random, and a tie would make the comparison luck.
func workload() []*v1.Pod {
	var pods []*v1.Pod
	cpus := []string{"700m", "1400m", "1600m", "1500m", "2100m", "300m"}
	mems := []string{"2900Mi", "500Mi", "2000Mi", "2400Mi"}
	for i := range 12 {
		pods = append(pods, pod(fmt.Sprintf("p%02d", i), cpus[i%len(cpus)], mems[i%len(mems)], nil))
	}
	web := map[string]string{"app": "web"}
	for i, cpu := range []string{"900m", "1100m", "700m", "1300m"} {
		p := pod(fmt.Sprintf("p%02d", 12+i), cpu, "2Gi", web)
		p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
			TopologyKey: v1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: web},
		}}}}
		pods = append(pods, p)
	}
	for i := 16; i < 20; i++ {
		p := pod(fmt.Sprintf("p%02d", i), "2", "4Gi", nil)
		p.Spec.NodeSelector = map[string]string{zoneLabel: "zone-b"}
		pods = append(pods, p)
	}
	spread := map[string]string{"app": "spread"}
	for i := 20; i < 24; i++ {
		p := pod(fmt.Sprintf("p%02d", i), "500m", "1Gi", spread)
		p.Spec.TopologySpreadConstraints = []v1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: zoneLabel, WhenUnsatisfiable: v1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: spread},
		}}
		pods = append(pods, p)
	}
	return pods
}

// createNodes makes nine nodes over three zones, of irregular sizes, so
// that scores, not the tie-breaking seed, decide placements.
func createNodes(t *testing.T, ctx context.Context) {
	nodeCPUs := []int64{5, 26, 3, 7, 13, 17, 7, 20, 16}
	nodeMemGi := []int64{75, 34, 46, 38, 10, 46, 54, 79, 64}
	t.Helper()
	c := testenv.Current().Client
	opts := nodegen.Options{Count: 9, Prefix: "whatif-", Zones: 3}
	if _, err := nodegen.Create(ctx, c, opts); err != nil {
		t.Fatal(err)
	}
	for i := range opts.Count {
		n, err := c.CoreV1().Nodes().Get(ctx, nodegen.NodeName(opts.Defaults(), i), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		size := v1.ResourceList{
			v1.ResourceCPU:    *resource.NewQuantity(nodeCPUs[i], resource.DecimalSI),
			v1.ResourceMemory: *resource.NewQuantity(nodeMemGi[i]<<30, resource.BinarySI),
			v1.ResourcePods:   resource.MustParse("110"),
		}
		n.Status.Capacity, n.Status.Allocatable = size, size
		if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func simulate(t *testing.T, args ...string) *whatif.Result {
	t.Helper()
	out := berthtest.Berth(t, append([]string{"simulate", "whatif", "-o", "json"}, args...)...)
	var res whatif.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("decoding the what-if: %v\n%s", err, out)
	}
	return &res
}

func save(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	berthtest.Berth(t, "snapshot", "save", "-o", path, "--kubeconfig", testenv.Current().Kubeconfig)
	return path
}

func nodesOf(t *testing.T, ctx context.Context, ns string) map[string]string {
	t.Helper()
	list, err := testenv.Current().Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range list.Items {
		out[ns+"/"+p.Name] = p.Spec.NodeName
	}
	return out
}

// TestWhatIfMatchesBerth saves a snapshot of pending pods, asks the
// what-if where they go, lets berth place them for real and compares;
// then asks each kind of change of a snapshot of the bound state, and
// checks the capacity answer by creating that many pods.
func TestWhatIfMatchesBerth(t *testing.T) {
	env := testenv.Current()
	ctx := context.Background()
	c := env.Client
	createNodes(t, ctx)
	ns := env.CreateNamespace(t, "whatif")
	pods := workload()
	for _, p := range pods {
		if _, err := c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	pending := save(t, "pending.yaml")
	sim := simulate(t, "--snapshot", pending)
	if sim.Before.Placed != len(pods) {
		t.Fatalf("the what-if placed %d of %d pods: %+v", sim.Before.Placed, len(pods), sim.Placements)
	}
	for _, p := range sim.Placements {
		if p.TiedBefore {
			// A tie is broken at random by berth run: the test's workload
			// is chosen so that scores decide every pod.
			t.Errorf("%s: its best nodes tied, the comparison would be luck", p.Pod)
		}
	}

	// berth takes the pods that exist when it starts in no particular
	// order; the what-if takes them in creation order, as a running
	// scheduler meets them. So the pods are created again, one at a time,
	// each once the previous is bound.
	for _, p := range pods {
		if err := c.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
	}
	berthtest.WaitFor(t, time.Minute, "the pending pods to be deleted", func() (bool, string) {
		list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(list.Items) == 0, fmt.Sprintf("%d left", len(list.Items))
	})
	berthtest.StartRun(t, "berth")
	for _, p := range pods {
		if _, err := c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		berthtest.WaitFor(t, time.Minute, "berth to bind "+p.Name, func() (bool, string) {
			got, err := c.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return got.Spec.NodeName != "", "pending"
		})
	}
	real := nodesOf(t, ctx, ns)
	for _, p := range sim.Placements {
		if real[p.Pod] != p.Before {
			t.Errorf("%s: what-if chose %s, berth bound it to %s", p.Pod, p.Before, real[p.Pod])
		}
	}

	bound := save(t, "bound.yaml")
	zoneOf := map[string]string{}
	nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		zoneOf[n.Name] = n.Labels[zoneLabel]
	}

	t.Run("drain a zone", func(t *testing.T) {
		res := simulate(t, "--snapshot", bound, "--remove-nodes", zoneLabel+"=zone-a")
		displaced := 0
		for _, p := range real {
			if zoneOf[p] == "zone-a" {
				displaced++
			}
		}
		if displaced == 0 {
			t.Fatal("berth put no pod in zone-a: the drain would test nothing")
		}
		if got := len(res.Moved) + len(res.NewlyPending); got != displaced {
			t.Errorf("moved %d + newly pending %d, want the %d pods of zone-a", len(res.Moved), len(res.NewlyPending), displaced)
		}
		for _, p := range append(res.Moved, res.NewlyPending...) {
			if zoneOf[p.Was] != "zone-a" || zoneOf[p.After] == "zone-a" {
				t.Errorf("%s: was on %s, now on %q", p.Pod, p.Was, p.After)
			}
		}
		for _, p := range res.NewlyPending {
			if p.AfterReason == "" {
				t.Errorf("%s is newly pending without a reason", p.Pod)
			}
		}
	})

	t.Run("add workloads", func(t *testing.T) {
		manifest := filepath.Join(t.TempDir(), "web.yaml")
		if err := os.WriteFile(manifest, []byte(`apiVersion: apps/v1
kind: Deployment
metadata: {name: extra, namespace: `+ns+`}
spec:
  replicas: 3
  selector: {matchLabels: {app: extra}}
  template:
    metadata: {labels: {app: extra}}
    spec:
      schedulerName: berth
      containers: [{name: c, image: pause, resources: {requests: {cpu: "1", memory: 1Gi}}}]
`), 0o644); err != nil {
			t.Fatal(err)
		}
		res := simulate(t, "--snapshot", bound, "--add", manifest+"=2")
		if res.Added.Placed != 6 || res.Added.Pending != 0 {
			t.Errorf("added = %+v, want 6 placed", res.Added)
		}
		if len(res.Moved) != 0 {
			t.Errorf("adding pods moved bound ones: %+v", res.Moved)
		}
	})

	t.Run("another config", func(t *testing.T) {
		cfg := "../../../docs/examples/most-allocated.yaml"
		res := simulate(t, "--snapshot", bound, "--mode", "all", "--config-after", cfg)
		if res.Before.Placed != len(pods) || res.After.Placed != len(pods) {
			t.Fatalf("before %+v after %+v", res.Before, res.After)
		}
		used := func(after bool) int {
			m := map[string]bool{}
			for _, p := range res.Placements {
				if after {
					m[p.After] = true
				} else {
					m[p.Before] = true
				}
			}
			return len(m)
		}
		if len(res.Moved) == 0 || used(true) >= used(false) {
			t.Errorf("MostAllocated should pack: %d moved, nodes used %d before, %d after", len(res.Moved), used(false), used(true))
		}
	})

	t.Run("capacity holds", func(t *testing.T) {
		manifest := filepath.Join(t.TempDir(), "probe.yaml")
		if err := os.WriteFile(manifest, []byte(`apiVersion: v1
kind: Pod
metadata: {name: probe, namespace: `+ns+`}
spec:
  schedulerName: berth
  containers: [{name: c, image: pause, resources: {requests: {cpu: "2", memory: 6Gi}}}]
`), 0o644); err != nil {
			t.Fatal(err)
		}
		// The live cluster this time, not a saved snapshot.
		res := simulate(t, "--cluster", "--kubeconfig", env.Kubeconfig, "--capacity", manifest)
		capa := res.Capacity
		if capa == nil || capa.Fit == 0 || capa.Reached || capa.Failure == "" {
			t.Fatalf("capacity = %+v", capa)
		}
		t.Logf("capacity: %s", capa.Summary)
		for i := range capa.Fit + 1 {
			p := pod(fmt.Sprintf("probe-%03d", i), "2", "6Gi", nil)
			if _, err := c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		berthtest.WaitFor(t, time.Minute, "berth to bind the probes that fit and refuse the next", func() (bool, string) {
			list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			bound, refused := 0, 0
			for _, p := range list.Items {
				if !strings.HasPrefix(p.Name, "probe-") {
					continue
				}
				if p.Spec.NodeName != "" {
					bound++
				}
				for _, cond := range p.Status.Conditions {
					if cond.Type == v1.PodScheduled && cond.Reason == v1.PodReasonUnschedulable {
						refused++
					}
				}
			}
			return bound == capa.Fit && refused == 1, fmt.Sprintf("%d bound (want %d), %d unschedulable (want 1)", bound, capa.Fit, refused)
		})
	})
}
