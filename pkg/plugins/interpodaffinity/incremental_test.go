package interpodaffinity

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

// TestIncrementalCountsMatchRecount mutates a snapshot the way the cache
// does (pods added and removed, node labels changed, each bumping the
// node's generation) between cycles, and checks that the counts kept
// across cycles equal a fresh count every time.
func TestIncrementalCountsMatchRecount(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	apps := []string{"web", "db", "cache"}
	zones := []string{"a", "b", "c"}
	var nodes []*v1.Node
	for i := range 30 {
		nodes = append(nodes, zoneNode(fmt.Sprintf("n%d", i), zones[i%3]))
	}
	// Templates: the incoming pods of three workloads plus variants.
	template := func(i int) *v1.Pod {
		app := apps[i%3]
		w := st.MakePod().Name(fmt.Sprintf("in-%d", i)).Label("app", app)
		switch i % 5 {
		case 0:
			w.PodAntiAffinity(v1.LabelHostname, st.Labels("app", app))
		case 1:
			w.PodAffinity(zoneKey, st.Labels("app", apps[(i+1)%3]))
		case 2:
			w.PodAntiAffinityTerm(st.MakeAffinityTerm(zoneKey, st.Labels("app", "web")).NamespaceSelector(st.Labels("team", "a")).Obj())
		case 3:
			w.Namespace("team-a").PodAffinity(zoneKey, st.Labels("app", app)).PodAntiAffinity(v1.LabelHostname, st.Labels("app", app))
		}
		return w.Obj()
	}
	existing := func(i int) *v1.Pod {
		p := template(rng.IntN(15))
		p = p.DeepCopy()
		p.Name = fmt.Sprintf("e-%d", i)
		p.UID = types.UID(fmt.Sprintf("uid-e-%d", i))
		return p
	}
	var pods []*v1.Pod
	for i := range 40 {
		p := existing(i)
		p.Spec.NodeName = nodes[rng.IntN(len(nodes))].Name
		pods = append(pods, p)
	}
	inc, snap := newTestPlugin(t, nil, pods, nodes)
	fresh, _ := newTestPlugin(t, nil, nil, nodes)
	fresh.handle = inc.handle
	fresh.counts = nil

	ctx := context.Background()
	next := len(pods)
	for step := range 400 {
		// Mutate one node.
		ni := snap.List()[rng.IntN(len(snap.List()))]
		switch r := rng.IntN(10); {
		case r < 5:
			p := existing(next)
			next++
			p.Spec.NodeName = ni.Node().Name
			ni.AddPod(p)
		case r < 8 && len(ni.Pods) > 0:
			if err := ni.RemovePod(ni.Pods[rng.IntN(len(ni.Pods))].Pod); err != nil {
				t.Fatal(err)
			}
		default:
			n := ni.Node().DeepCopy()
			n.Labels[zoneKey] = zones[rng.IntN(3)]
			if rng.IntN(4) == 0 {
				delete(n.Labels, zoneKey)
			}
			ni.SetNode(n)
		}
		ni.Generation++

		pod := template(rng.IntN(15))
		s1, s2 := framework.NewCycleState(), framework.NewCycleState()
		_, st1 := inc.PreFilter(ctx, s1, pod, snap.List())
		_, st2 := fresh.PreFilter(ctx, s2, pod, snap.List())
		if diff := cmp.Diff(st2, st1); diff != "" {
			t.Fatalf("step %d: PreFilter status (-fresh +incremental):\n%s", step, diff)
		}
		if !st1.IsSuccess() {
			continue
		}
		a, _ := getPreFilterState(s1)
		b, _ := getPreFilterState(s2)
		for _, c := range []struct {
			name      string
			got, want topologyCounts
		}{
			{"affinity", a.affinityCounts, b.affinityCounts},
			{"anti-affinity", a.antiAffinityCounts, b.antiAffinityCounts},
			{"existing anti-affinity", a.existingAntiAffinityCounts, b.existingAntiAffinityCounts},
		} {
			if diff := cmp.Diff(c.want, c.got); diff != "" {
				t.Fatalf("step %d, pod %s: %s counts (-fresh +incremental):\n%s", step, pod.Name, c.name, diff)
			}
		}
		// AddPod on the shared state must not leak into the cache.
		extra := st.MakePod().Name("x").Label("app", "web").Node(ni.Node().Name).
			PodAntiAffinity(v1.LabelHostname, st.Labels("app", pod.Labels["app"])).Obj()
		if s := inc.AddPod(ctx, s1.Clone(), pod, framework.NewPodInfo(extra), ni); !s.IsSuccess() {
			t.Fatal(s)
		}
	}
}
