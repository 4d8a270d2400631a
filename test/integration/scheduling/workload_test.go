package scheduling

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/framework"
)

// kind tags each pod of the workload with what it exercises, so the
// assertions can be checked per kind.
const kindLabel = "test.berth.io/kind"

// TestMixedWorkload schedules a few thousand pods with mixed requests,
// node selectors, node affinity, tolerations and host ports onto 1,000
// nodes, some tainted and some cordoned, and then checks every placement
// against the objects read back from the API server.
func TestMixedWorkload(t *testing.T) {
	ensureNodes(t)
	env := testenv.Current()
	ctx := context.Background()
	c := env.Client

	// Taint 50 nodes and cordon 20 others.
	nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tainted, cordoned := map[string]bool{}, map[string]bool{}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		switch {
		case i%20 == 0:
			n.Spec.Taints = append(n.Spec.Taints, v1.Taint{Key: "dedicated", Value: "infra", Effect: v1.TaintEffectNoSchedule})
			tainted[n.Name] = true
		case i%50 == 1:
			n.Spec.Unschedulable = true
			cordoned[n.Name] = true
		default:
			continue
		}
		if _, err := c.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { untaintAndUncordon(t) })

	startBerth(t, "")
	ns := env.CreateNamespace(t, "mixed")
	rng := rand.New(rand.NewPCG(42, 7))
	var pods []*v1.Pod
	add := func(kind string, n int, mk func(i int) *st.PodWrapper) {
		for i := 0; i < n; i++ {
			w := mk(i).Name(fmt.Sprintf("%s-%d", kind, i)).Namespace(ns).Label(kindLabel, kind)
			if w.Spec.SchedulerName == "" {
				w.SchedulerName("berth")
			}
			pods = append(pods, w.Obj())
		}
	}
	randReq := func() *st.PodWrapper {
		cpu := fmt.Sprintf("%dm", 100+rng.IntN(19)*100)
		mem := fmt.Sprintf("%dMi", 128*(1+rng.IntN(24)))
		return st.MakePod().Req("cpu", cpu, "memory", mem)
	}
	add("plain", 1500, func(int) *st.PodWrapper { return randReq() })
	add("ssd", 300, func(int) *st.PodWrapper {
		return randReq().NodeSelector(map[string]string{nodegen.LabelDiskType: "ssd"})
	})
	add("zone", 300, func(int) *st.PodWrapper {
		return randReq().NodeAffinityIn(v1.LabelTopologyZone, "zone-a", "zone-b")
	})
	add("tolerating", 100, func(int) *st.PodWrapper {
		return randReq().Toleration(v1.Toleration{Key: "dedicated", Operator: v1.TolerationOpEqual, Value: "infra", Effect: v1.TaintEffectNoSchedule})
	})
	add("hostport", 200, func(int) *st.PodWrapper { return randReq().HostPort(v1.ProtocolTCP, "", 8080) })
	add("toobig", 10, func(int) *st.PodWrapper { return st.MakePod().Req("cpu", "1000") })
	add("nomatch", 10, func(int) *st.PodWrapper {
		return randReq().NodeSelector(map[string]string{nodegen.LabelDiskType: "nvme"})
	})
	add("other", 20, func(int) *st.PodWrapper { return randReq().SchedulerName("someone-else") })
	createPods(t, ns, pods)

	const unschedulable, foreign = 20, 20
	want := len(pods) - unschedulable - foreign
	waitForPods(t, c, ns, 3*time.Minute, "schedulable pods to be bound", func(ps []v1.Pod) (bool, string) {
		return berthtest.BoundCount(ps) >= want, progress(ps)
	})
	// Give berth a moment to report the unschedulable pods.
	got := waitForPods(t, c, ns, time.Minute, "unschedulable pods to carry PodScheduled=False", func(ps []v1.Pod) (bool, string) {
		n := 0
		for _, p := range ps {
			if k := p.Labels[kindLabel]; (k == "toobig" || k == "nomatch") && scheduledFalse(&p) != nil {
				n++
			}
		}
		return n == unschedulable, fmt.Sprintf("%d/%d unschedulable pods report a condition", n, unschedulable)
	})

	nodes, err = c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkPlacements(t, nodes.Items, got, tainted, cordoned)

	for _, p := range got {
		switch p.Labels[kindLabel] {
		case "other":
			if p.Spec.NodeName != "" {
				t.Errorf("pod %s of another scheduler was bound by berth to %s", p.Name, p.Spec.NodeName)
			}
		case "toobig":
			expectCondition(t, &p, fmt.Sprintf("0/%d nodes are available:", numNodes), "Insufficient cpu")
		case "nomatch":
			expectCondition(t, &p, fmt.Sprintf("0/%d nodes are available:", numNodes), "node(s) didn't match Pod's node affinity/selector")
		default:
			if p.Spec.NodeName == "" {
				t.Errorf("schedulable pod %s (%s) was not bound", p.Name, p.Labels[kindLabel])
			}
		}
	}
	expectFailedSchedulingEvents(t, ns, "toobig-0", "nomatch-0")
}

func createPods(t *testing.T, ns string, pods []*v1.Pod) {
	t.Helper()
	if err := createPodsE(ns, pods); err != nil {
		t.Fatal(err)
	}
}

// createPodsE creates pods with 32 concurrent clients; safe to call from
// any goroutine.
func createPodsE(ns string, pods []*v1.Pod) error {
	c := testenv.Current().Client
	var wg sync.WaitGroup
	errs := make(chan error, len(pods))
	work := make(chan *v1.Pod)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				if _, err := c.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
					errs <- fmt.Errorf("create %s: %w", p.Name, err)
				}
			}
		}()
	}
	for _, p := range pods {
		p.UID = ""
		work <- p
	}
	close(work)
	wg.Wait()
	close(errs)
	return <-errs
}

func scheduledFalse(p *v1.Pod) *v1.PodCondition {
	for i, c := range p.Status.Conditions {
		if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func expectCondition(t *testing.T, p *v1.Pod, substrings ...string) {
	t.Helper()
	c := scheduledFalse(p)
	if c == nil {
		t.Errorf("pod %s has no PodScheduled=False condition", p.Name)
		return
	}
	if c.Reason != v1.PodReasonUnschedulable {
		t.Errorf("pod %s: condition reason %q, want %q", p.Name, c.Reason, v1.PodReasonUnschedulable)
	}
	for _, s := range substrings {
		if !strings.Contains(c.Message, s) {
			t.Errorf("pod %s: condition message %q does not contain %q", p.Name, c.Message, s)
		}
	}
}

func expectFailedSchedulingEvents(t *testing.T, ns string, podNames ...string) {
	t.Helper()
	c := testenv.Current().Client
	deadline := time.Now().Add(30 * time.Second)
	for _, name := range podNames {
		for {
			evs, err := c.EventsV1().Events(ns).List(context.Background(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, e := range evs.Items {
				if e.Regarding.Name == name && e.Reason == "FailedScheduling" && e.Type == v1.EventTypeWarning && strings.Contains(e.Note, "nodes are available") {
					found = true
				}
			}
			if found {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("no FailedScheduling event for pod %s", name)
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
}

// checkPlacements verifies, from API objects only, that every bound pod
// fits where it landed: capacity per node, selectors, affinity, taints,
// cordons and host ports.
func checkPlacements(t *testing.T, nodes []v1.Node, pods []v1.Pod, tainted, cordoned map[string]bool) {
	t.Helper()
	byName := map[string]*v1.Node{}
	for i := range nodes {
		byName[nodes[i].Name] = &nodes[i]
	}
	// All pods in the cluster count against capacity, not only this test's.
	all, err := testenv.Current().Client.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]*framework.Resource{}
	count := map[string]int64{}
	ports := map[string]map[int32]string{}
	for i := range all.Items {
		p := &all.Items[i]
		if p.Spec.NodeName == "" {
			continue
		}
		if used[p.Spec.NodeName] == nil {
			used[p.Spec.NodeName] = &framework.Resource{}
			ports[p.Spec.NodeName] = map[int32]string{}
		}
		used[p.Spec.NodeName].AddResource(framework.PodRequests(p))
		count[p.Spec.NodeName]++
		for _, hp := range framework.HostPorts(p) {
			if other, dup := ports[p.Spec.NodeName][hp.HostPort]; dup {
				t.Errorf("host port %d on node %s used by both %s and %s", hp.HostPort, p.Spec.NodeName, other, p.Name)
			}
			ports[p.Spec.NodeName][hp.HostPort] = p.Name
		}
	}
	for name, u := range used {
		n := byName[name]
		if n == nil {
			t.Errorf("pods bound to unknown node %s", name)
			continue
		}
		alloc := framework.NewResource(n.Status.Allocatable)
		if u.MilliCPU > alloc.MilliCPU || u.Memory > alloc.Memory || count[name] > alloc.AllowedPodNumber {
			t.Errorf("node %s overcommitted: requested cpu=%dm mem=%d pods=%d, allocatable cpu=%dm mem=%d pods=%d",
				name, u.MilliCPU, u.Memory, count[name], alloc.MilliCPU, alloc.Memory, alloc.AllowedPodNumber)
		}
	}
	for i := range pods {
		p := &pods[i]
		if p.Spec.NodeName == "" {
			continue
		}
		n := byName[p.Spec.NodeName]
		if n == nil {
			continue
		}
		if !labels.SelectorFromSet(p.Spec.NodeSelector).Matches(labels.Set(n.Labels)) {
			t.Errorf("pod %s on %s violates its nodeSelector %v", p.Name, n.Name, p.Spec.NodeSelector)
		}
		if ok, _ := nodeaffinity.GetRequiredNodeAffinity(p).Match(n); !ok {
			t.Errorf("pod %s on %s violates its required node affinity", p.Name, n.Name)
		}
		if tainted[n.Name] && p.Labels[kindLabel] != "tolerating" {
			t.Errorf("pod %s landed on tainted node %s without a toleration", p.Name, n.Name)
		}
		if cordoned[n.Name] {
			t.Errorf("pod %s landed on cordoned node %s", p.Name, n.Name)
		}
	}
}

func untaintAndUncordon(t *testing.T) {
	c := testenv.Current().Client
	nodes, err := c.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Error(err)
		return
	}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if len(n.Spec.Taints) == 0 && !n.Spec.Unschedulable {
			continue
		}
		n.Spec.Taints, n.Spec.Unschedulable = nil, false
		if _, err := c.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{}); err != nil {
			t.Error(err)
		}
	}
}

var _ = ptr.To[int]
