package podtopologyspread

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

// liveSnapshot imitates the engine's snapshot: NodeInfos are updated in
// place with a fresh generation from one counter, and the node list is
// replaced only when nodes come or go.
type liveSnapshot struct {
	nodes []*framework.NodeInfo
	gen   int64
}

func (s *liveSnapshot) NodeInfos() framework.NodeInfoLister                         { return s }
func (s *liveSnapshot) List() []*framework.NodeInfo                                 { return s.nodes }
func (s *liveSnapshot) HavePodsWithAffinityList() []*framework.NodeInfo             { return nil }
func (s *liveSnapshot) HavePodsWithRequiredAntiAffinityList() []*framework.NodeInfo { return nil }
func (s *liveSnapshot) Get(name string) (*framework.NodeInfo, error) {
	for _, ni := range s.nodes {
		if ni.Node().Name == name {
			return ni, nil
		}
	}
	return nil, fmt.Errorf("no node %q", name)
}

func (s *liveSnapshot) touch(ni *framework.NodeInfo) {
	s.gen++
	ni.Generation = s.gen
}

// addNode adds a node in a new list (readers may hold the old one).
func (s *liveSnapshot) addNode(n *v1.Node) {
	s.addNodes(n)
}

func (s *liveSnapshot) addNodes(ns ...*v1.Node) {
	list := append(make([]*framework.NodeInfo, 0, len(s.nodes)+len(ns)), s.nodes...)
	for _, n := range ns {
		ni := framework.NewNodeInfo()
		ni.SetNode(n)
		s.touch(ni)
		list = append(list, ni)
	}
	s.nodes = list
}

// randomNode returns a node in one of three zones, sometimes without a zone
// label, with a pool label and sometimes a taint.
func randomNode(rng *rand.Rand, name string) *v1.Node {
	n := st.MakeNode().Name(name).Label("pool", []string{"x", "y"}[rng.IntN(2)])
	if rng.IntN(8) != 0 {
		n.Label(zoneKey, []string{"a", "b", "c"}[rng.IntN(3)])
	}
	if rng.IntN(6) == 0 {
		n.Taint("gpu", "true", v1.TaintEffectNoSchedule)
	}
	return n.Obj()
}

func randomPod(rng *rand.Rand, name string) *v1.Pod {
	p := st.MakePod().Name(name).Label("app", []string{"foo", "bar"}[rng.IntN(2)]).Label("rev", []string{"1", "2"}[rng.IntN(2)])
	if rng.IntN(5) == 0 {
		p.Namespace("other")
	}
	if rng.IntN(10) == 0 {
		p.Terminating()
	}
	return p.Obj()
}

// TestIncrementalMatchesFresh mutates a cluster at random (pods come and
// go, nodes come, go, change zone and taints) and checks after every step
// that a long-lived plugin, whose tallies are updated incrementally, gives
// the same Filter verdicts and scores as a plugin computing from scratch.
func TestIncrementalMatchesFresh(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	snap := &liveSnapshot{}
	for i := range 30 {
		snap.addNode(randomNode(rng, fmt.Sprintf("n%d", i)))
	}
	svc := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "svc", Namespace: "default"},
		Spec: v1.ServiceSpec{Selector: map[string]string{"app": "foo"}}}
	objs := []runtime.Object{svc}
	live := newPlugin(t, snap, nil, objs...)

	templates := []*v1.Pod{
		st.MakePod().Name("zone-host").Label("app", "foo").
			SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), nil, nil, nil, nil).
			SpreadConstraint(1, hostKey, hard, fooSelector().Obj(), nil, nil, nil, nil).Obj(),
		st.MakePod().Name("honor-all").Label("app", "foo").Label("rev", "2").NodeSelector(map[string]string{"pool": "x"}).
			SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), nil, honor, honor, []string{"rev"}).Obj(),
		st.MakePod().Name("ignore-all").Label("app", "bar").NodeSelector(map[string]string{"pool": "y"}).
			SpreadConstraint(2, zoneKey, hard, st.MakeLabelSelector().In("app", "foo", "bar").Obj(), ptr32(4), ignore, ignore, nil).
			SpreadConstraint(1, zoneKey, soft, fooSelector().Obj(), nil, nil, honor, nil).Obj(),
		st.MakePod().Name("soft-host").Label("app", "foo").ExistsToleration("gpu", "").
			SpreadConstraint(1, hostKey, soft, fooSelector().Obj(), nil, nil, honor, nil).
			SpreadConstraint(2, zoneKey, soft, fooSelector().Obj(), nil, nil, nil, nil).Obj(),
		// System defaults through the Service.
		st.MakePod().Name("defaulted").Label("app", "foo").Obj(),
	}

	nextNode, nextPod := 30, 0
	for step := range 300 {
		switch op := rng.IntN(20); {
		case op < 10: // a pod lands
			ni := snap.nodes[rng.IntN(len(snap.nodes))]
			ni.AddPod(randomPod(rng, fmt.Sprintf("p%d", nextPod)))
			nextPod++
			snap.touch(ni)
		case op < 14: // a pod leaves
			ni := snap.nodes[rng.IntN(len(snap.nodes))]
			if len(ni.Pods) > 0 {
				if err := ni.RemovePod(ni.Pods[rng.IntN(len(ni.Pods))].Pod); err != nil {
					t.Fatal(err)
				}
				snap.touch(ni)
			}
		case op < 16: // a node changes zone or taints
			ni := snap.nodes[rng.IntN(len(snap.nodes))]
			n := randomNode(rng, ni.Node().Name)
			ni.SetNode(n)
			snap.touch(ni)
		case op < 18: // a node comes
			snap.addNode(randomNode(rng, fmt.Sprintf("n%d", nextNode)))
			nextNode++
		default: // a node goes
			if len(snap.nodes) > 5 {
				i := rng.IntN(len(snap.nodes))
				snap.nodes = append(append([]*framework.NodeInfo(nil), snap.nodes[:i]...), snap.nodes[i+1:]...)
			}
		}
		fresh := newPlugin(t, snap, nil, objs...)
		for _, pod := range templates {
			lpst, lf := filterAll(t, live, pod, snap.nodes)
			fpst, ff := filterAll(t, fresh, pod, snap.nodes)
			if diff := cmp.Diff(fpst, lpst); diff != "" {
				t.Fatalf("step %d, pod %s: PreFilter (-fresh +live):\n%s", step, pod.Name, diff)
			}
			if diff := cmp.Diff(ff, lf); diff != "" {
				t.Fatalf("step %d, pod %s: Filter (-fresh +live):\n%s", step, pod.Name, diff)
			}
			lss, _, ls := scoreAll(t, live, pod, snap.nodes)
			fss, _, fs := scoreAll(t, fresh, pod, snap.nodes)
			if diff := cmp.Diff(fss, lss); diff != "" {
				t.Fatalf("step %d, pod %s: PreScore (-fresh +live):\n%s", step, pod.Name, diff)
			}
			if diff := cmp.Diff(fs, ls); diff != "" {
				t.Fatalf("step %d, pod %s: scores (-fresh +live):\n%s", step, pod.Name, diff)
			}
		}
	}
	if n := len(live.tallies.byKey); n == 0 || n > maxTallies {
		t.Errorf("live plugin holds %d tallies", n)
	}
}

func ptr32(v int32) *int32 { return &v }

// TestTallyReusesUnchangedNodes checks the point of the tally: a second
// pod of the same workload recounts only the node that changed.
func TestTallyReusesUnchangedNodes(t *testing.T) {
	snap := &liveSnapshot{}
	for i := range 10 {
		snap.addNode(zoneNode(fmt.Sprintf("n%d", i), []string{"a", "b"}[i%2]).Obj())
	}
	pl := newPlugin(t, snap, nil)
	pod := st.MakePod().Name("p").Label("app", "foo").SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), nil, nil, nil, nil).Obj()
	filterAll(t, pl, pod, snap.nodes)
	if len(pl.tallies.byKey) != 1 {
		t.Fatalf("%d tallies, want 1", len(pl.tallies.byKey))
	}
	var tl *tally
	for _, v := range pl.tallies.byKey {
		tl = v
	}
	// Replace the counted NodeInfos' pods behind the tally's back on every
	// node but n3, without touching their generation: a tally that recounted
	// them would see the pods.
	for i, ni := range snap.nodes {
		ni.AddPod(st.MakePod().Name(fmt.Sprintf("hidden%d", i)).Label("app", "foo").Obj())
	}
	snap.touch(snap.nodes[3])
	filterAll(t, pl, st.MakePod().Name("q").Label("app", "foo").SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), nil, nil, nil, nil).Obj(), snap.nodes)
	var total int32
	for _, n := range tl.domTotals[0] {
		total += n
	}
	if total != 1 {
		t.Errorf("tally counts %d pods, want 1 (only the touched node recounted)", total)
	}
}
