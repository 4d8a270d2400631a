package cache

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// recordingMetrics counts drift per kind.
type recordingMetrics struct {
	mu    sync.Mutex
	drift map[string]int
	sizes [3]int
}

func newRecordingMetrics() *recordingMetrics { return &recordingMetrics{drift: map[string]int{}} }

func (m *recordingMetrics) DriftDetected(kind string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.drift[kind]++
}

func (m *recordingMetrics) CacheSize(nodes, pods, assumed int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sizes = [3]int{nodes, pods, assumed}
}

func newTestCache(ttl time.Duration) (*Cache, *testingclock.FakeClock, *recordingMetrics) {
	clk := testingclock.NewFakeClock(t0)
	m := newRecordingMetrics()
	return New(ttl, clk, m), clk, m
}

func makeNode(name string, cpu string) *v1.Node {
	return st.MakeNode().Name(name).Capacity("cpu", cpu, "memory", "32Gi", "pods", "110").Obj()
}

func makePod(name, node, cpu string) *v1.Pod {
	return st.MakePod().Name(name).Node(node).Req("cpu", cpu).Obj()
}

func withRV(rv string, obj metav1.Object) {
	obj.SetResourceVersion(rv)
}

func affinityTerm() v1.PodAffinityTerm {
	return v1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}},
		TopologyKey:   v1.LabelHostname,
	}
}

// makeAffinityPod returns a pod with preferred pod affinity (counted in
// PodsWithAffinity only).
func makeAffinityPod(name, node string) *v1.Pod {
	return st.MakePod().Name(name).Node(node).Req("cpu", "100m").Affinity(&v1.Affinity{PodAffinity: &v1.PodAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []v1.WeightedPodAffinityTerm{{Weight: 1, PodAffinityTerm: affinityTerm()}},
	}}).Obj()
}

// makeAntiAffinityPod returns a pod with required anti-affinity.
func makeAntiAffinityPod(name, node string) *v1.Pod {
	return st.MakePod().Name(name).Node(node).Req("cpu", "100m").Affinity(&v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{affinityTerm()},
	}}).Obj()
}

// nodeView is a NodeInfo reduced to what must match between an incremental
// snapshot and one built from scratch, independent of slice orders.
type nodeView struct {
	Name             string
	Node             *v1.Node
	Pods             []string
	PodsWithAffinity []string
	PodsWithAnti     []string
	Requested        framework.Resource
	NonZeroRequested framework.Resource
	Allocatable      framework.Resource
	Ports            []string
	Images           map[string]framework.ImageStateSummary
}

type snapView struct {
	Nodes        []nodeView
	Affinity     []string
	AntiAffinity []string
	NumNodes     int
}

func uids(pis []*framework.PodInfo) []string {
	out := make([]string, 0, len(pis))
	for _, pi := range pis {
		out = append(out, string(pi.Pod.UID))
	}
	sort.Strings(out)
	return out
}

func normRes(r *framework.Resource) framework.Resource {
	out := *r
	out.ScalarResources = nil
	for k, v := range r.ScalarResources {
		if v != 0 {
			if out.ScalarResources == nil {
				out.ScalarResources = map[v1.ResourceName]int64{}
			}
			out.ScalarResources[k] = v
		}
	}
	return out
}

func viewNode(ni *framework.NodeInfo) nodeView {
	v := nodeView{
		Node:             ni.Node(),
		Pods:             uids(ni.Pods),
		PodsWithAffinity: uids(ni.PodsWithAffinity),
		PodsWithAnti:     uids(ni.PodsWithRequiredAntiAffinity),
		Requested:        normRes(ni.Requested),
		NonZeroRequested: normRes(ni.NonZeroRequested),
		Allocatable:      normRes(ni.Allocatable),
		Images:           map[string]framework.ImageStateSummary{},
	}
	if n := ni.Node(); n != nil {
		v.Name = n.Name
	}
	for ip, m := range ni.UsedPorts {
		for pp := range m {
			v.Ports = append(v.Ports, fmt.Sprintf("%s/%s/%d", ip, pp.Protocol, pp.Port))
		}
	}
	sort.Strings(v.Ports)
	for name, s := range ni.ImageStates {
		v.Images[name] = *s
	}
	return v
}

func names(nis []*framework.NodeInfo) []string {
	var out []string
	for _, ni := range nis {
		out = append(out, ni.Node().Name)
	}
	return out
}

func viewSnapshot(s *Snapshot) snapView {
	v := snapView{
		Affinity:     names(s.HavePodsWithAffinityList()),
		AntiAffinity: names(s.HavePodsWithRequiredAntiAffinityList()),
		NumNodes:     s.NumNodes(),
	}
	for _, ni := range s.List() {
		v.Nodes = append(v.Nodes, viewNode(ni))
		if got, err := s.Get(ni.Node().Name); err != nil || got != ni {
			panic(fmt.Sprintf("Get(%s) disagrees with List", ni.Node().Name))
		}
	}
	return v
}

// checkSnapshot compares s with a snapshot built from scratch.
func checkSnapshot(t *testing.T, s *Snapshot, pods []*v1.Pod, nodes []*v1.Node) {
	t.Helper()
	want := viewSnapshot(NewSnapshot(pods, nodes))
	if diff := cmp.Diff(want, viewSnapshot(s)); diff != "" {
		t.Fatalf("snapshot differs from one built from scratch (-want +got):\n%s", diff)
	}
}

// nodeInfo returns a copy of the cache's NodeInfo of name, or nil.
func nodeInfo(c *Cache, name string) *framework.NodeInfo {
	return c.Dump().Nodes[name]
}

func requestedCPU(c *Cache, node string) int64 {
	if ni := nodeInfo(c, node); ni != nil {
		return ni.Requested.MilliCPU
	}
	return -1
}
