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

// TestIncrementalScoresMatchRecount mutates a snapshot between cycles the
// way the cache does and checks that PreScore's sums kept across cycles
// equal a fresh sum every time, zero-weight pairs included.
func TestIncrementalScoresMatchRecount(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	apps := []string{"web", "db", "cache"}
	zones := []string{"a", "b", "c"}
	var nodes []*v1.Node
	for i := range 30 {
		nodes = append(nodes, zoneNode(fmt.Sprintf("n%d", i), zones[i%3]))
	}
	template := func(i int) *v1.Pod {
		app := apps[i%3]
		w := st.MakePod().Name(fmt.Sprintf("in-%d", i)).Label("app", app)
		switch i % 7 {
		case 0:
			w.PodAntiAffinity(v1.LabelHostname, st.Labels("app", app))
		case 1:
			w.PodAffinity(zoneKey, st.Labels("app", apps[(i+1)%3]))
		case 2:
			w.PreferredPodAffinity(int32(i%4), zoneKey, st.Labels("app", "web"))
		case 3:
			w.PreferredPodAntiAffinity(5, v1.LabelHostname, st.Labels("app", app)).PodAffinity(zoneKey, st.Labels("app", app))
		case 4:
			w.Namespace("team-a").PreferredPodAffinityTerm(3, st.MakeAffinityTerm(zoneKey, st.Labels("app", "db")).NamespaceSelector(st.Labels("team", "a")).Obj())
		case 5:
			w.PreferredPodAffinity(2, zoneKey, st.Labels("app", app)).PreferredPodAntiAffinity(2, zoneKey, st.Labels("app", app))
		}
		return w.Obj()
	}
	existing := func(i int) *v1.Pod {
		p := template(rng.IntN(21)).DeepCopy()
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
	fresh.scores = nil

	ctx := context.Background()
	next := len(pods)
	scored := 0
	for step := range 400 {
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

		pod := template(rng.IntN(21))
		s1, s2 := framework.NewCycleState(), framework.NewCycleState()
		st1 := inc.PreScore(ctx, s1, pod, snap.List())
		st2 := fresh.PreScore(ctx, s2, pod, snap.List())
		if diff := cmp.Diff(st2, st1); diff != "" {
			t.Fatalf("step %d: PreScore status (-fresh +incremental):\n%s", step, diff)
		}
		if !st1.IsSuccess() {
			continue
		}
		scored++
		a, _ := getPreScoreState(s1)
		b, _ := getPreScoreState(s2)
		if diff := cmp.Diff(b.topologyScore, a.topologyScore); diff != "" {
			t.Fatalf("step %d, pod %s: sums (-fresh +incremental):\n%s", step, pod.Name, diff)
		}
	}
	if scored < 100 {
		t.Fatalf("only %d of 400 cycles scored", scored)
	}
}
