package networkaware

import (
	"context"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

// benchCluster is 5,000 nodes (3 zones, 50 racks each) with 30 pods
// each: 10 apps of 1,500 replicas, every tenth pod talking to db.
func benchCluster(b *testing.B) (*NetworkAware, *st.Snapshot) {
	b.Helper()
	var nodes []*v1.Node
	var pods []*v1.Pod
	for i := range 5000 {
		name := fmt.Sprintf("n%04d", i)
		nodes = append(nodes, st.MakeNode().Name(name).
			Label(v1.LabelTopologyZone, fmt.Sprintf("z%d", i%3)).
			Label("topology.berth.io/rack", fmt.Sprintf("r%d", i%50)).
			Label(v1.LabelTopologyRegion, "eu").Obj())
		for j := range 30 {
			w := pod(fmt.Sprintf("p-%d-%d", i, j), fmt.Sprintf("app%d", j%10)).Node(name)
			if j%10 == 3 {
				w = talksTo(w, "app=db")
			}
			pods = append(pods, w.Obj())
		}
	}
	for i := range 20 {
		pods = append(pods, pod(fmt.Sprintf("db-%d", i), "db").Node(fmt.Sprintf("n%04d", i*7)).Obj())
	}
	snap := st.NewSnapshot(pods, nodes)
	p, err := New(context.Background(), nil, st.NewHandle(snap))
	if err != nil {
		b.Fatal(err)
	}
	return p.(*NetworkAware), snap
}

// BenchmarkCycle is one pod's PreScore and Score on every node: api
// talks to db (20 pods) and app1 (15,000 pods), and nobody talks to it.
// The nodes' indexes are built by a first cycle, as they are in a
// running scheduler, where they survive until a node changes.
func BenchmarkCycle(b *testing.B) {
	pl, snap := benchCluster(b)
	api := talksTo(pod("api", "api"), "app=db,app=app1:2").Obj()
	ctx := context.Background()
	nodes := snap.List()
	cycle := func() {
		cs := framework.NewCycleState()
		if st := pl.PreScore(ctx, cs, api, nodes); !st.IsSuccess() {
			b.Fatal(st)
		}
		for _, ni := range nodes {
			if _, st := pl.Score(ctx, cs, api, ni); !st.IsSuccess() {
				b.Fatal(st)
			}
		}
	}
	cycle()
	for b.Loop() {
		cycle()
	}
}

// BenchmarkBuildIndexes is the first cycle's extra work: indexing every
// node's pods (30 each).
func BenchmarkBuildIndexes(b *testing.B) {
	pl, snap := benchCluster(b)
	nodes := snap.List()
	for b.Loop() {
		for _, ni := range nodes {
			ni.SetDerived(pl.derivedKey, nil)
			pl.index(ni)
		}
	}
}

// BenchmarkSkip is a pod that declares nothing in a namespace without
// talkers: it must cost next to nothing.
func BenchmarkSkip(b *testing.B) {
	pl, snap := benchCluster(b)
	solo := st.MakePod().Name("solo").UID("solo").Namespace("quiet").Obj()
	ctx := context.Background()
	for b.Loop() {
		if st := pl.PreScore(ctx, framework.NewCycleState(), solo, snap.List()); !st.IsSkip() {
			b.Fatal(st)
		}
	}
}
