package affinity

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/internal/testenv"
)

const numNodes = 300

// TestServicesWithPodAffinity schedules services whose replicas must not
// share a node, a cache that must share a zone with its backend, edge pods
// that avoid the zone of another namespace's batch pods (selected by
// namespace labels), and a rolling update whose anti-affinity uses
// matchLabelKeys; then checks every placement against the pods, nodes and
// namespaces read back from the API server.
func TestServicesWithPodAffinity(t *testing.T) {
	env := testenv.Current()
	ctx := context.Background()
	c := env.Client
	if _, err := nodegen.Create(ctx, c, nodegen.Options{Count: numNodes, Zones: 3}); err != nil {
		t.Fatalf("creating nodes: %v", err)
	}
	startBerth(t)

	ns := env.CreateNamespace(t, "svc")
	batchNS := env.CreateNamespace(t, "batch")
	nsObj, err := c.CoreV1().Namespaces().Get(ctx, batchNS, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if nsObj.Labels == nil {
		nsObj.Labels = map[string]string{}
	}
	nsObj.Labels["team"] = "batch"
	if _, err := c.CoreV1().Namespaces().Update(ctx, nsObj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	var pods []*v1.Pod
	add := func(namespace, app string, n int, mk func(i int, w *st.PodWrapper) *st.PodWrapper) {
		for i := 0; i < n; i++ {
			w := st.MakePod().Name(fmt.Sprintf("%s-%d", app, i)).Namespace(namespace).Label("app", app).
				SchedulerName("berth").Req("cpu", "100m", "memory", "64Mi")
			pods = append(pods, mk(i, w).Obj())
		}
	}
	spread := func(app string) func(int, *st.PodWrapper) *st.PodWrapper {
		return func(_ int, w *st.PodWrapper) *st.PodWrapper {
			return w.PodAntiAffinity(v1.LabelHostname, st.Labels("app", app))
		}
	}
	add(ns, "web", 50, spread("web"))
	add(ns, "api", 40, spread("api"))
	add(ns, "worker", 30, spread("worker"))
	// A rolling update: two revisions, each spread over nodes only among
	// its own revision (the API server merges matchLabelKeys).
	add(ns, "rollout", 40, func(i int, w *st.PodWrapper) *st.PodWrapper {
		return w.Label("pod-template-hash", fmt.Sprintf("rev%d", i%2)).PodAntiAffinityTerm(
			st.MakeAffinityTerm(v1.LabelHostname, st.Labels("app", "rollout")).MatchLabelKeys("pod-template-hash").Obj())
	})
	// The cache must share a zone with the backend, which is kept in
	// zone-b; cache pods are created first and wait for the backend.
	add(ns, "cache", 20, func(_ int, w *st.PodWrapper) *st.PodWrapper {
		return w.PodAffinity(v1.LabelTopologyZone, st.Labels("app", "backend")).
			PodAntiAffinity(v1.LabelHostname, st.Labels("app", "cache"))
	})
	add(ns, "backend", 5, func(_ int, w *st.PodWrapper) *st.PodWrapper {
		return w.NodeAffinityIn(v1.LabelTopologyZone, "zone-b")
	})
	// Batch pods in zone-a; edge pods avoid their zone by a namespace
	// selector, and batch pods in turn avoid edge pods' nodes (symmetry).
	add(batchNS, "batch", 10, func(_ int, w *st.PodWrapper) *st.PodWrapper {
		return w.NodeAffinityIn(v1.LabelTopologyZone, "zone-a").
			PodAntiAffinityTerm(st.MakeAffinityTerm(v1.LabelHostname, st.Labels("app", "edge")).Namespaces(ns).Obj())
	})
	createPods(t, pods)
	// Edge pods come after the batch pods are placed: an edge pod bound
	// in zone-a first would, by symmetry, keep every batch pod (required in
	// zone-a) out of that zone — correctly, but the scenario would then
	// depend on creation order.
	waitForApp(t, batchNS, "batch", 10)
	first := len(pods)
	add(ns, "edge", 20, func(_ int, w *st.PodWrapper) *st.PodWrapper {
		return w.PodAntiAffinityTerm(st.MakeAffinityTerm(v1.LabelTopologyZone, st.Labels("app", "batch")).
			NamespaceSelector(st.Labels("team", "batch")).Obj())
	})
	createPods(t, pods[first:])

	start := time.Now()
	var got []v1.Pod
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 45*time.Second, true, func(ctx context.Context) (bool, error) {
		got = got[:0]
		bound := 0
		for _, n := range []string{ns, batchNS} {
			list, err := c.CoreV1().Pods(n).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, nil
			}
			for _, p := range list.Items {
				got = append(got, p)
				if p.Spec.NodeName != "" {
					bound++
				}
			}
		}
		return bound == len(pods), nil
	})
	if err != nil {
		for _, p := range got {
			if p.Spec.NodeName != "" {
				continue
			}
			reason := "no PodScheduled condition"
			for _, c := range p.Status.Conditions {
				if c.Type == v1.PodScheduled {
					reason = c.Reason + ": " + c.Message
				}
			}
			t.Logf("pending %s/%s: %s", p.Namespace, p.Name, reason)
		}
		t.Fatalf("waiting for %d pods to be bound: %v", len(pods), err)
	}
	t.Logf("%d pods bound in %v", len(pods), time.Since(start).Round(time.Millisecond))

	nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	namespaces, err := c.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkAffinity(t, got, nodes.Items, namespaces.Items)

	// The API server merged matchLabelKeys into the selector that berth
	// read; make sure it did, or the rollout case proved nothing.
	for _, p := range got {
		if p.Labels["app"] != "rollout" {
			continue
		}
		sel := p.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].LabelSelector
		if len(sel.MatchExpressions) == 0 {
			t.Errorf("pod %s: matchLabelKeys not merged into the selector: %v", p.Name, sel)
		}
		break
	}
	for _, p := range got {
		node := nodeByName(nodes.Items, p.Spec.NodeName)
		switch p.Labels["app"] {
		case "cache", "backend":
			if z := node.Labels[v1.LabelTopologyZone]; z != "zone-b" {
				t.Errorf("%s pod %s is in %s, want zone-b", p.Labels["app"], p.Name, z)
			}
		case "edge":
			if z := node.Labels[v1.LabelTopologyZone]; z == "zone-a" {
				t.Errorf("edge pod %s is in zone-a with the batch pods", p.Name)
			}
		}
	}
}

func nodeByName(nodes []v1.Node, name string) *v1.Node {
	for i := range nodes {
		if nodes[i].Name == name {
			return &nodes[i]
		}
	}
	return nil
}

// checkAffinity verifies every bound pod's required terms against the
// final placement, independently of the plugin's code: an anti-affinity
// term must select no other pod in the pod's domain, an affinity pod must
// share its domains with a pod matching all its terms (or be the first of
// a group that matches its own terms).
func checkAffinity(t *testing.T, pods []v1.Pod, nodes []v1.Node, namespaces []v1.Namespace) {
	t.Helper()
	nodeLabels := map[string]map[string]string{}
	for _, n := range nodes {
		nodeLabels[n.Name] = n.Labels
	}
	nsLabels := map[string]labels.Set{}
	for _, n := range namespaces {
		nsLabels[n.Name] = n.Labels
	}
	selects := func(owner *v1.Pod, term *v1.PodAffinityTerm, q *v1.Pod) bool {
		inNS := false
		switch {
		case len(term.Namespaces) == 0 && term.NamespaceSelector == nil:
			inNS = q.Namespace == owner.Namespace
		default:
			for _, n := range term.Namespaces {
				inNS = inNS || n == q.Namespace
			}
			if term.NamespaceSelector != nil {
				s, err := metav1.LabelSelectorAsSelector(term.NamespaceSelector)
				if err != nil {
					t.Fatal(err)
				}
				inNS = inNS || s.Matches(nsLabels[q.Namespace])
			}
		}
		s, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
		if err != nil {
			t.Fatal(err)
		}
		return inNS && s.Matches(labels.Set(q.Labels))
	}
	sameDomain := func(a, b *v1.Pod, key string) bool {
		va, ok := nodeLabels[a.Spec.NodeName][key]
		vb, okb := nodeLabels[b.Spec.NodeName][key]
		return ok && okb && va == vb
	}
	for i := range pods {
		p := &pods[i]
		if p.Spec.NodeName == "" || p.Spec.Affinity == nil {
			continue
		}
		if aa := p.Spec.Affinity.PodAntiAffinity; aa != nil {
			for ti := range aa.RequiredDuringSchedulingIgnoredDuringExecution {
				term := &aa.RequiredDuringSchedulingIgnoredDuringExecution[ti]
				for j := range pods {
					q := &pods[j]
					if j != i && q.Spec.NodeName != "" && sameDomain(p, q, term.TopologyKey) && selects(p, term, q) {
						t.Errorf("anti-affinity violated: %s/%s on %s and %s/%s on %s share %s",
							p.Namespace, p.Name, p.Spec.NodeName, q.Namespace, q.Name, q.Spec.NodeName, term.TopologyKey)
					}
				}
			}
		}
		if pa := p.Spec.Affinity.PodAffinity; pa != nil && len(pa.RequiredDuringSchedulingIgnoredDuringExecution) > 0 {
			terms := pa.RequiredDuringSchedulingIgnoredDuringExecution
			ok := false
			for j := range pods {
				q := &pods[j]
				if j == i || q.Spec.NodeName == "" {
					continue
				}
				all := true
				for ti := range terms {
					all = all && selects(p, &terms[ti], q) && sameDomain(p, q, terms[ti].TopologyKey)
				}
				ok = ok || all
			}
			if !ok {
				t.Errorf("affinity not satisfied: %s/%s on %s", p.Namespace, p.Name, p.Spec.NodeName)
			}
		}
	}
}

// createPods creates pods with 16 concurrent clients.
func createPods(t *testing.T, pods []*v1.Pod) {
	t.Helper()
	c := testenv.Current().Client
	var wg sync.WaitGroup
	errs := make(chan error, len(pods))
	work := make(chan *v1.Pod)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				if _, err := c.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
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
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

// waitForApp waits until n pods of app in ns are bound.
func waitForApp(t *testing.T, ns, app string, n int) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, 45*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := testenv.Current().Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
		if err != nil {
			return false, nil
		}
		bound := 0
		for _, p := range list.Items {
			if p.Spec.NodeName != "" {
				bound++
			}
		}
		return bound == n, nil
	})
	if err != nil {
		t.Fatalf("waiting for %d %s pods to be bound: %v", n, app, err)
	}
}
