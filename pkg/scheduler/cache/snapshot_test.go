package cache

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2/ktesting"

	"github.com/berthsched/berth/internal/st"
)

// model is the truth a random sequence of cache operations should produce.
type model struct {
	nodes map[string]*v1.Node
	pods  map[types.UID]*v1.Pod
	// assumed pods, a subset of pods.
	assumed map[types.UID]bool
}

func (m *model) lists() ([]*v1.Pod, []*v1.Node) {
	var pods []*v1.Pod
	for _, p := range m.pods {
		pods = append(pods, p)
	}
	var nodes []*v1.Node
	for _, n := range m.nodes {
		nodes = append(nodes, n)
	}
	return pods, nodes
}

var imagePool = []string{"pause", "nginx", "redis", "busybox", "etcd"}

func randomNode(r *rand.Rand, name string) *v1.Node {
	w := st.MakeNode().Name(name).Capacity("cpu", fmt.Sprint(4+r.Intn(60)), "memory", "64Gi", "pods", "110")
	if r.Intn(3) > 0 {
		w.Label(v1.LabelTopologyZone, fmt.Sprintf("zone-%d", r.Intn(3)))
	}
	for _, img := range imagePool {
		if r.Intn(2) == 0 {
			w.Images(int64(len(img))*1000, img, img+":latest")
		}
	}
	return w.Obj()
}

func randomPod(r *rand.Rand, name, node string) *v1.Pod {
	var p *v1.Pod
	switch r.Intn(5) {
	case 0:
		p = makeAffinityPod(name, node)
	case 1:
		p = makeAntiAffinityPod(name, node)
	default:
		p = makePod(name, node, fmt.Sprintf("%dm", 10+r.Intn(900)))
	}
	if r.Intn(4) == 0 {
		// One port per pod name: HostPortInfo is a set, so two pods sharing
		// a port on one node (which Filter never allows) would not add up.
		var port int32
		fmt.Sscanf(name, "pod-%d", &port)
		p.Spec.Containers[0].Ports = []v1.ContainerPort{{HostPort: 8000 + port, ContainerPort: 80, Protocol: v1.ProtocolTCP}}
	}
	return p
}

// TestUpdateSnapshotRandomSequences applies random operations to a cache
// and checks, after each batch, that the incrementally updated snapshot
// equals a snapshot built from scratch from the same objects.
func TestUpdateSnapshotRandomSequences(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			logger, _ := ktesting.NewTestContext(t)
			r := rand.New(rand.NewSource(seed))
			c, _, _ := newTestCache(ttl)
			m := &model{nodes: map[string]*v1.Node{}, pods: map[types.UID]*v1.Pod{}, assumed: map[types.UID]bool{}}
			snap := NewEmptySnapshot()
			nextPod := 0
			nodeName := func() string { return fmt.Sprintf("node-%d", r.Intn(12)) }
			anyPod := func() *v1.Pod {
				for _, p := range m.pods {
					return p
				}
				return nil
			}
			for batch := range 60 {
				for range 1 + r.Intn(6) {
					switch op := r.Intn(10); {
					case op == 0: // add or update a node
						n := randomNode(r, nodeName())
						if old, ok := m.nodes[n.Name]; ok && r.Intn(2) == 0 {
							c.UpdateNode(logger, old, n)
						} else {
							c.AddNode(logger, n)
						}
						m.nodes[n.Name] = n
					case op == 1: // remove a node (its pods stay)
						name := nodeName()
						if n, ok := m.nodes[name]; ok {
							if err := c.RemoveNode(logger, n); err != nil {
								t.Fatal(err)
							}
							delete(m.nodes, name)
						}
					case op <= 4: // add or assume a new pod
						nextPod++
						p := randomPod(r, fmt.Sprintf("pod-%d", nextPod), nodeName())
						if r.Intn(2) == 0 {
							if err := c.AssumePod(logger, p); err != nil {
								t.Fatal(err)
							}
							m.assumed[p.UID] = true
						} else if err := c.AddPod(logger, p); err != nil {
							t.Fatal(err)
						}
						m.pods[p.UID] = p
					case op == 5: // confirm, maybe on another node, or update
						if p := anyPod(); p != nil {
							np := randomPod(r, p.Name, p.Spec.NodeName)
							if m.assumed[p.UID] && r.Intn(2) == 0 {
								np.Spec.NodeName = nodeName()
							}
							var err error
							if m.assumed[p.UID] {
								err = c.AddPod(logger, np)
							} else {
								err = c.UpdatePod(logger, p, np)
							}
							if err != nil {
								t.Fatal(err)
							}
							delete(m.assumed, p.UID)
							m.pods[p.UID] = np
						}
					case op == 6: // forget or remove
						if p := anyPod(); p != nil {
							var err error
							if m.assumed[p.UID] {
								err = c.ForgetPod(logger, p)
							} else {
								err = c.RemovePod(logger, p)
							}
							if err != nil {
								t.Fatal(err)
							}
							delete(m.pods, p.UID)
							delete(m.assumed, p.UID)
						}
					case op == 7: // terminal update
						if p := anyPod(); p != nil && !m.assumed[p.UID] {
							np := p.DeepCopy()
							np.Status.Phase = v1.PodFailed
							if err := c.UpdatePod(logger, p, np); err != nil {
								t.Fatal(err)
							}
							delete(m.pods, p.UID)
						}
					default: // no change: a second snapshot update must be a no-op
					}
				}
				prevGen := snap.Generation()
				if err := c.UpdateSnapshot(logger, snap); err != nil {
					t.Fatalf("batch %d: %v", batch, err)
				}
				if snap.Generation() < prevGen {
					t.Fatalf("generation went back from %d to %d", prevGen, snap.Generation())
				}
				pods, nodes := m.lists()
				checkSnapshot(t, snap, pods, nodes)
				if n, _ := c.PodCount(); n != len(m.pods) {
					t.Fatalf("PodCount = %d, want %d", n, len(m.pods))
				}
				// A fresh snapshot must agree too.
				fresh := NewEmptySnapshot()
				if err := c.UpdateSnapshot(logger, fresh); err != nil {
					t.Fatal(err)
				}
				checkSnapshot(t, fresh, pods, nodes)
			}
		})
	}
}

// TestUpdateSnapshotCopiesOnlyChanges checks the incremental path: nodes
// that did not change keep their NodeInfo, the list is kept when no node was
// added or removed, and the snapshot does not alias the cache.
func TestUpdateSnapshotCopiesOnlyChanges(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	c, _, _ := newTestCache(ttl)
	var nodes []*v1.Node
	for i := range 5 {
		n := makeNode(fmt.Sprintf("n%d", i), "8")
		nodes = append(nodes, n)
		c.AddNode(logger, n)
	}
	snap := NewEmptySnapshot()
	if err := c.UpdateSnapshot(logger, snap); err != nil {
		t.Fatal(err)
	}
	before := viewSnapshot(snap)
	list := snap.List()
	gens := map[string]int64{}
	for _, ni := range list {
		gens[ni.Node().Name] = ni.Generation
	}

	p := makePod("p", "n2", "1")
	if err := c.AddPod(logger, p); err != nil {
		t.Fatal(err)
	}
	// Not updated yet: the snapshot still shows the old state.
	if diff := cmp.Diff(before, viewSnapshot(snap)); diff != "" {
		t.Fatalf("snapshot changed before UpdateSnapshot:\n%s", diff)
	}
	if err := c.UpdateSnapshot(logger, snap); err != nil {
		t.Fatal(err)
	}
	if &snap.List()[0] != &list[0] {
		t.Error("node list was rebuilt although no node was added or removed")
	}
	for _, ni := range snap.List() {
		name := ni.Node().Name
		if changed := ni.Generation != gens[name]; changed != (name == "n2") {
			t.Errorf("node %s: generation %d -> %d", name, gens[name], ni.Generation)
		}
	}
	checkSnapshot(t, snap, []*v1.Pod{p}, nodes)

	// Changing the cache's NodeInfo must not reach the snapshot's copy.
	if err := c.RemovePod(logger, p); err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, snap, []*v1.Pod{p}, nodes)
	if err := c.UpdateSnapshot(logger, snap); err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, snap, nil, nodes)
}

func TestUpdateSnapshotAffinityLists(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	c, _, _ := newTestCache(ttl)
	nodes := []*v1.Node{makeNode("a", "8"), makeNode("b", "8"), makeNode("c", "8")}
	for _, n := range nodes {
		c.AddNode(logger, n)
	}
	aff, anti, plain := makeAffinityPod("aff", "a"), makeAntiAffinityPod("anti", "b"), makePod("plain", "c", "1")
	snap := NewEmptySnapshot()
	steps := []struct {
		name     string
		do       func() error
		pods     []*v1.Pod
		wantAff  []string
		wantAnti []string
	}{
		{"empty", func() error { return nil }, nil, nil, nil},
		{"plain pod", func() error { return c.AddPod(logger, plain) }, []*v1.Pod{plain}, nil, nil},
		{"affinity pod", func() error { return c.AddPod(logger, aff) }, []*v1.Pod{plain, aff}, []string{"a"}, nil},
		{"assumed anti-affinity pod", func() error { return c.AssumePod(logger, anti) }, []*v1.Pod{plain, aff, anti}, []string{"a", "b"}, []string{"b"}},
		{"forget it", func() error { return c.ForgetPod(logger, anti) }, []*v1.Pod{plain, aff}, []string{"a"}, nil},
		{"remove affinity pod", func() error { return c.RemovePod(logger, aff) }, []*v1.Pod{plain}, nil, nil},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if err := c.UpdateSnapshot(logger, snap); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(s.wantAff, names(snap.HavePodsWithAffinityList())); diff != "" {
			t.Errorf("%s: affinity list (-want +got):\n%s", s.name, diff)
		}
		if diff := cmp.Diff(s.wantAnti, names(snap.HavePodsWithRequiredAntiAffinityList())); diff != "" {
			t.Errorf("%s: anti-affinity list (-want +got):\n%s", s.name, diff)
		}
		checkSnapshot(t, snap, s.pods, nodes)
	}
}

func TestImageNumNodes(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	c, _, _ := newTestCache(ttl)
	n1 := st.MakeNode().Name("n1").Images(100, "a", "a:1").Images(200, "b").Obj()
	n2 := st.MakeNode().Name("n2").Images(100, "a", "a:1").Obj()
	n3 := st.MakeNode().Name("n3").Images(300, "c").Obj()
	n3WithA := st.MakeNode().Name("n3").Images(300, "c").Images(100, "a").Obj()
	snap := NewEmptySnapshot()

	type counts map[string]map[string]int // node -> image -> NumNodes
	check := func(step string, nodes []*v1.Node, want counts) {
		t.Helper()
		if err := c.UpdateSnapshot(logger, snap); err != nil {
			t.Fatal(err)
		}
		got := counts{}
		for _, ni := range snap.List() {
			got[ni.Node().Name] = map[string]int{}
			for img, s := range ni.ImageStates {
				got[ni.Node().Name][img] = s.NumNodes
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: NumNodes (-want +got):\n%s", step, diff)
		}
		checkSnapshot(t, snap, nil, nodes)
	}

	c.AddNode(logger, n1)
	check("n1", []*v1.Node{n1}, counts{"n1": {"a": 1, "a:1": 1, "b": 1}})
	c.AddNode(logger, n2)
	c.AddNode(logger, n3)
	check("n1..n3", []*v1.Node{n1, n2, n3}, counts{
		"n1": {"a": 2, "a:1": 2, "b": 1}, "n2": {"a": 2, "a:1": 2}, "n3": {"c": 1},
	})
	// n1 is not copied again, yet its counts must follow.
	if err := c.RemoveNode(logger, n2); err != nil {
		t.Fatal(err)
	}
	check("n2 removed", []*v1.Node{n1, n3}, counts{"n1": {"a": 1, "a:1": 1, "b": 1}, "n3": {"c": 1}})
	c.UpdateNode(logger, n3, n3WithA)
	check("n3 pulls a", []*v1.Node{n1, n3WithA}, counts{"n1": {"a": 2, "a:1": 1, "b": 1}, "n3": {"a": 2, "c": 1}})
	// A status update that does not touch images leaves the counts.
	n3Relabeled := n3WithA.DeepCopy()
	n3Relabeled.Labels["x"] = "y"
	c.UpdateNode(logger, n3WithA, n3Relabeled)
	check("n3 relabeled", []*v1.Node{n1, n3Relabeled}, counts{"n1": {"a": 2, "a:1": 1, "b": 1}, "n3": {"a": 2, "c": 1}})

	// The cache's own NodeInfos are never given snapshot counts, and a Dump
	// carries the cluster-wide ones.
	if got := c.Dump().Nodes["n1"].ImageStates["a"].NumNodes; got != 2 {
		t.Errorf("Dump NumNodes of a = %d, want 2", got)
	}
}

func TestSnapshotOrderInterleavesZones(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	c, _, _ := newTestCache(ttl)
	var nodes []*v1.Node
	for _, z := range []struct{ name, zone string }{{"a1", "a"}, {"a2", "a"}, {"a3", "a"}, {"b1", "b"}, {"b2", "b"}, {"x", ""}} {
		w := st.MakeNode().Name(z.name)
		if z.zone != "" {
			w.Label(v1.LabelTopologyZone, z.zone)
		}
		nodes = append(nodes, w.Obj())
		c.AddNode(logger, w.Obj())
	}
	snap := NewEmptySnapshot()
	if err := c.UpdateSnapshot(logger, snap); err != nil {
		t.Fatal(err)
	}
	want := []string{"x", "a1", "b1", "a2", "b2", "a3"}
	if diff := cmp.Diff(want, names(snap.List())); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	// A zone change reorders without adding or removing a node.
	moved := nodes[0].DeepCopy()
	moved.Labels[v1.LabelTopologyZone] = "b"
	c.UpdateNode(logger, nodes[0], moved)
	if err := c.UpdateSnapshot(logger, snap); err != nil {
		t.Fatal(err)
	}
	want = []string{"x", "a2", "a1", "a3", "b1", "b2"}
	if diff := cmp.Diff(want, names(snap.List())); diff != "" {
		t.Errorf("order after zone change (-want +got):\n%s", diff)
	}
	checkSnapshot(t, snap, nil, append([]*v1.Node{moved}, nodes[1:]...))
}

func TestNewSnapshot(t *testing.T) {
	n := makeNode("n1", "4")
	done := makePod("done", "n1", "1")
	done.Status.Phase = v1.PodSucceeded
	pods := []*v1.Pod{makePod("p", "n1", "1"), makePod("elsewhere", "n9", "1"), makePod("pending", "", "1"), done}
	s := NewSnapshot(pods, []*v1.Node{n})
	if s.NumNodes() != 1 {
		t.Fatalf("NumNodes = %d", s.NumNodes())
	}
	ni, err := s.Get("n1")
	if err != nil {
		t.Fatal(err)
	}
	if len(ni.Pods) != 1 || ni.Requested.MilliCPU != 1000 {
		t.Errorf("n1 has %d pods, %dm requested; want 1 pod, 1000m", len(ni.Pods), ni.Requested.MilliCPU)
	}
	if _, err := s.Get("n9"); err == nil {
		t.Error("Get of an unknown node succeeded")
	}
	if s.NodeInfos() != s {
		t.Error("NodeInfos is not the snapshot itself")
	}
}
