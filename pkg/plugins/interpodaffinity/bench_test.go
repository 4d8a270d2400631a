package interpodaffinity

import (
	"context"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

const (
	benchNodes    = 5000
	benchServices = 10
)

// benchCluster is 5,000 nodes over 3 zones with one pod per node, spread
// over 10 services; every pod has required anti-affinity to its own
// service on the hostname (the usual "one replica per node").
func benchCluster(b *testing.B) (*InterPodAffinity, *st.Snapshot) {
	nodes := make([]*v1.Node, benchNodes)
	pods := make([]*v1.Pod, benchNodes)
	for i := range nodes {
		name := fmt.Sprintf("node-%05d", i)
		nodes[i] = st.MakeNode().Name(name).Label(zoneKey, fmt.Sprintf("zone-%c", 'a'+i%3)).
			Label("topology.kubernetes.io/region", "r1").Label("node.kubernetes.io/instance-type", "m5").Obj()
		svc := fmt.Sprintf("svc-%d", i%benchServices)
		pods[i] = st.MakePod().Name(fmt.Sprintf("%s-%d", svc, i)).Label("app", svc).Label("pod-template-hash", "abc").
			Node(name).PodAntiAffinity(v1.LabelHostname, st.Labels("app", svc)).Obj()
	}
	return newTestPlugin(b, nil, pods, nodes)
}

func runFilter(b *testing.B, pl *InterPodAffinity, nodes []*framework.NodeInfo, pod *v1.Pod) int {
	ctx := context.Background()
	state := framework.NewCycleState()
	if _, s := pl.PreFilter(ctx, state, pod, nodes); !s.IsSuccess() {
		b.Fatalf("PreFilter: %v", s)
	}
	feasible := 0
	for _, ni := range nodes {
		if pl.Filter(ctx, state, pod, ni).IsSuccess() {
			feasible++
		}
	}
	return feasible
}

// BenchmarkFilterRequiredAntiAffinityHostname: the incoming pod is one
// more replica of svc-0 (same anti-affinity), against 5,000 existing pods
// that all carry required anti-affinity. "churn" binds each scheduled pod
// to a node (bumping its generation) before the next cycle, as the engine
// does; "recount" turns the incremental counts off.
func BenchmarkFilterRequiredAntiAffinityHostname(b *testing.B) {
	for _, bc := range []struct {
		name           string
		recount, churn bool
	}{{"incremental", false, false}, {"incremental-churn", false, true}, {"recount", true, false}} {
		b.Run(bc.name, func(b *testing.B) {
			pl, snap := benchCluster(b)
			if bc.recount {
				pl.counts = nil
			}
			nodes := snap.List()
			want := benchNodes - benchNodes/benchServices
			for i := 0; b.Loop(); i++ {
				pod := st.MakePod().Name(fmt.Sprintf("incoming-%d", i)).Label("app", "svc-0").
					PodAntiAffinity(v1.LabelHostname, st.Labels("app", "svc-0")).Obj()
				if got := runFilter(b, pl, nodes, pod); got != want {
					b.Fatalf("feasible = %d, want %d", got, want)
				}
				if bc.churn {
					// Bind it to a node that already has an svc-0 pod, so
					// the feasible count stays put.
					ni := nodes[(i*benchServices)%benchNodes]
					pod.Spec.NodeName = ni.Node().Name
					ni.AddPod(pod)
					ni.Generation++
				}
			}
		})
	}
}

// BenchmarkPreferredAffinityZone: a pod preferring the zone of svc-0 pods;
// PreFilter+Filter (symmetry only) and PreScore+Score over every node.
func BenchmarkPreferredAffinityZone(b *testing.B) {
	pl, snap := benchCluster(b)
	nodes := snap.List()
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		pod := st.MakePod().Name(fmt.Sprintf("incoming-%d", i)).Label("app", "client").
			PreferredPodAffinity(10, zoneKey, st.Labels("app", "svc-0")).Obj()
		state := framework.NewCycleState()
		if _, s := pl.PreFilter(ctx, state, pod, nodes); !s.IsSkip() {
			b.Fatalf("PreFilter: %v, want Skip", s)
		}
		if s := pl.PreScore(ctx, state, pod, nodes); !s.IsSuccess() {
			b.Fatalf("PreScore: %v", s)
		}
		scores := make(framework.NodeScoreList, len(nodes))
		for j, ni := range nodes {
			sc, _ := pl.Score(ctx, state, pod, ni)
			scores[j] = framework.NodeScore{Name: ni.Node().Name, Score: sc}
		}
		if s := pl.NormalizeScore(ctx, state, pod, scores); !s.IsSuccess() {
			b.Fatalf("NormalizeScore: %v", s)
		}
	}
}

// BenchmarkFilterRequiredAffinityZone: the incoming pod requires the zone
// of an svc-0 pod; its term is matched against all 5,000 pods.
func BenchmarkFilterRequiredAffinityZone(b *testing.B) {
	pl, snap := benchCluster(b)
	nodes := snap.List()
	for i := 0; b.Loop(); i++ {
		pod := st.MakePod().Name(fmt.Sprintf("incoming-%d", i)).Label("app", "client").
			PodAffinity(zoneKey, st.Labels("app", "svc-0")).Obj()
		if got := runFilter(b, pl, nodes, pod); got != benchNodes {
			b.Fatalf("feasible = %d, want %d", got, benchNodes)
		}
	}
}
