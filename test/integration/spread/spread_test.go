package spread

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/internal/testenv"
)

const numNodes = 300

// workload is a Deployment-like set of pods created directly (there is no
// controller manager): same labels, same spread constraints.
type workload struct {
	name     string
	replicas int
	// hostHard: hostname maxSkew 1 is DoNotSchedule, else ScheduleAnyway.
	hostHard bool
}

// TestSpreadAcrossZonesAndHosts schedules several workloads, created
// interleaved, each with zone maxSkew 1 (DoNotSchedule) and hostname
// maxSkew 1, onto 300 nodes in three zones, then reads every pod back and
// checks each DoNotSchedule constraint: per workload, the most and least
// loaded domains differ by at most maxSkew.
func TestSpreadAcrossZonesAndHosts(t *testing.T) {
	env := testenv.Current()
	ctx := context.Background()
	if _, err := nodegen.Create(ctx, env.Client, nodegen.Options{Count: numNodes, Profile: nodegen.ProfileBasic, Zones: 3}); err != nil {
		t.Fatalf("creating nodes: %v", err)
	}
	startBerth(t)
	ns := env.CreateNamespace(t, "spread")

	workloads := []workload{
		{name: "web", replicas: 100, hostHard: true},
		{name: "api", replicas: 61, hostHard: true},
		{name: "cache", replicas: 47, hostHard: false},
		{name: "batch", replicas: 32, hostHard: true},
	}
	var pods []*v1.Pod
	total := 0
	for i := 0; ; i++ {
		added := false
		for _, w := range workloads {
			if i >= w.replicas {
				continue
			}
			added = true
			sel := st.MakeLabelSelector().Label("app", w.name).Obj()
			hostMode := v1.ScheduleAnyway
			if w.hostHard {
				hostMode = v1.DoNotSchedule
			}
			pods = append(pods, st.MakePod().Name(fmt.Sprintf("%s-%d", w.name, i)).Namespace(ns).
				SchedulerName("berth").Label("app", w.name).Req("cpu", "100m", "memory", "64Mi").
				SpreadConstraint(1, v1.LabelTopologyZone, v1.DoNotSchedule, sel, nil, nil, nil, nil).
				SpreadConstraint(1, v1.LabelHostname, hostMode, sel, nil, nil, nil, nil).Obj())
			total++
		}
		if !added {
			break
		}
	}
	for _, p := range pods {
		p.UID = ""
	}
	start := time.Now()
	createPods(t, ns, pods)
	bound := waitAllBound(t, ns, total, 45*time.Second)
	t.Logf("%d pods bound in %v", total, time.Since(start))

	nodes, err := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nodeLabels := map[string]map[string]string{}
	for _, n := range nodes.Items {
		nodeLabels[n.Name] = n.Labels
	}
	for _, w := range workloads {
		sel := labels.SelectorFromSet(labels.Set{"app": w.name})
		keys := []string{v1.LabelTopologyZone}
		if w.hostHard {
			keys = append(keys, v1.LabelHostname)
		}
		for _, key := range keys {
			// Every node carries both keys and no taint, so every value
			// among the nodes is a domain, including empty ones.
			counts := map[string]int{}
			for _, l := range nodeLabels {
				counts[l[key]] += 0
			}
			n := 0
			for _, p := range bound {
				if sel.Matches(labels.Set(p.Labels)) {
					counts[nodeLabels[p.Spec.NodeName][key]]++
					n++
				}
			}
			if n != w.replicas {
				t.Errorf("%s: %d pods read back, want %d", w.name, n, w.replicas)
			}
			lo, hi := w.replicas, 0
			for _, c := range counts {
				lo, hi = min(lo, c), max(hi, c)
			}
			if hi-lo > 1 {
				t.Errorf("%s over %s: skew %d (max %d, min %d), want at most 1", w.name, key, hi-lo, hi, lo)
			} else {
				t.Logf("%s over %s: %d domains, max %d, min %d", w.name, key, len(counts), hi, lo)
			}
		}
	}
}
