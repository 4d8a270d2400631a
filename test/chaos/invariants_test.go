package chaos

import (
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// healthy is a record that breaks nothing: two nodes (one with four
// 40 GiB cards), a bound plain pod, a whole gang, two pods sharing a card.
func healthy() *Record {
	basic := nodegen.Node(nodegen.Options{Prefix: "n-"}, 0)
	gpu := nodegen.Node(nodegen.Options{Prefix: "g-", Profile: nodegen.ProfileGPU}, 0)
	pod := func(name, node string) v1.Pod {
		p := st.MakePod().Name(name).Namespace("ns").Node(node).Req("cpu", "1", "memory", "1Gi").Obj()
		p.Labels = map[string]string{ExpectLabel: "true"}
		return *p
	}
	member := func(name, node string) v1.Pod {
		p := pod(name, node)
		p.Spec.SchedulingGroup = &v1.PodSchedulingGroup{PodGroupName: ptr.To("gang")}
		return p
	}
	share := func(name string, card int) v1.Pod {
		p := pod(name, gpu.Name)
		p.Annotations = map[string]string{gpushare.AnnotationAssignment: gpushare.Assignment{Node: gpu.Name, Cards: []int{card}, Milli: 500, MemoryMiB: 20480}.Encode()}
		return p
	}
	r := &Record{
		Pods: map[types.UID]*PodTrace{},
		Nodes: map[string]*NodeTrace{
			basic.Name: {Seen: t0},
			gpu.Name:   {Seen: t0},
		},
		Final: []v1.Pod{
			pod("plain", basic.Name),
			member("m0", gpu.Name), member("m1", gpu.Name),
			share("s0", 1), share("s1", 1),
		},
		FinalNodes: []v1.Node{*basic, *gpu},
		Groups:     []Group{{Key: "ns/gang", MinCount: 2}},
		Accepted:   map[string]int{"ns/plain": 1},
		Assumed:    map[string]float64{"berth-0": 0},
		NodeGrace:  5 * time.Second,
	}
	for i, p := range r.Final {
		uid := types.UID(p.Name)
		r.Pods[uid] = &PodTrace{Key: "ns/" + p.Name, UID: uid, Binds: []Bind{{Node: p.Spec.NodeName, At: t0.Add(time.Duration(i+1) * time.Second)}}}
		if g := p.Spec.SchedulingGroup; g != nil {
			r.Pods[uid].Group = "ns/" + *g.PodGroupName
		}
	}
	return r
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		forge  func(r *Record)
		want   Invariant
		object string
	}{
		{"node changed", func(r *Record) {
			r.Pods["plain"].Binds = append(r.Pods["plain"].Binds, Bind{Node: "g-00000", At: t0.Add(time.Minute)})
		}, BoundTwice, "ns/plain"},
		{"bind accepted twice", func(r *Record) { r.Accepted["ns/plain"] = 2 }, BoundTwice, "ns/plain"},
		{"node never existed", func(r *Record) { r.Pods["plain"].Binds[0].Node = "ghost" }, BoundToMissingNode, "ns/plain"},
		{"node deleted long before", func(r *Record) {
			r.Nodes["n-00000"].Deleted = r.Pods["plain"].Binds[0].At.Add(-time.Minute)
		}, BoundToMissingNode, "ns/plain"},
		{"pod never bound", func(r *Record) { r.Final[0].Spec.NodeName = "" }, NotBound, "ns/plain"},
		{"cpu overcommitted", func(r *Record) {
			r.Final[0].Spec.Containers[0].Resources.Requests = st.ResourceList("cpu", "9")
		}, Overcommitted, "n-00000"},
		{"resource the node lacks", func(r *Record) {
			r.Final[0].Spec.Containers[0].Resources.Requests = st.ResourceList(string(nodegen.ResourceGPU), "1")
		}, Overcommitted, "n-00000"},
		{"crash", func(r *Record) { r.Crashes = map[string][]string{"berth-0": {"panic: boom"}} }, Crashed, "berth-0"},
		{"assumed pod left", func(r *Record) { r.Assumed["berth-0"] = 3 }, AssumedLeft, "berth-0"},
		{"gang half bound", func(r *Record) { r.Pods["m1"].Binds = nil }, PartialGang, "ns/gang"},
		{"card oversubscribed", func(r *Record) {
			r.Final[3].Annotations[gpushare.AnnotationAssignment] = gpushare.Assignment{Node: "g-00000", Cards: []int{1}, Milli: 600, MemoryMiB: 1}.Encode()
		}, GPUOversubscribed, "g-00000/card 1"},
		{"card memory oversubscribed", func(r *Record) {
			r.Final[3].Annotations[gpushare.AnnotationAssignment] = gpushare.Assignment{Node: "g-00000", Cards: []int{1}, Milli: 100, MemoryMiB: 30000}.Encode()
		}, GPUOversubscribed, "g-00000/card 1"},
		{"whole card shared", func(r *Record) {
			r.Final[3].Annotations[gpushare.AnnotationAssignment] = gpushare.Assignment{Node: "g-00000", Cards: []int{1}, Milli: 1000}.Encode()
		}, GPUOversubscribed, "g-00000/card 1"},
		{"card the node lacks", func(r *Record) {
			r.Final[3].Annotations[gpushare.AnnotationAssignment] = gpushare.Assignment{Node: "g-00000", Cards: []int{9}, Milli: 100}.Encode()
		}, GPUOversubscribed, "ns/s0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := healthy()
			tc.forge(r)
			got := Check(r)
			if len(got) != 1 || got[0].Invariant != tc.want || got[0].Object != tc.object {
				t.Errorf("Check = %v, want one %s about %s", got, tc.want, tc.object)
			}
		})
	}
}

func TestCheckHealthy(t *testing.T) {
	if got := Check(healthy()); len(got) != 0 {
		t.Errorf("a healthy record: %v", got)
	}
}

// Races a real cluster has are not violations: a bind to a node deleted
// within the grace, a pod that was deleted while pending, a stale GPU
// assignment for another node, an unexpected pod left pending.
func TestCheckTolerates(t *testing.T) {
	r := healthy()
	r.Nodes["n-00000"].Deleted = r.Pods["plain"].Binds[0].At.Add(-2 * time.Second)
	r.Final[0].Spec.NodeName = ""
	r.Final[0].DeletionTimestamp = nil
	r.Final[0].Labels = nil
	r.Final[3].Annotations[gpushare.AnnotationAssignment] = gpushare.Assignment{Node: "elsewhere", Cards: []int{1}, Milli: 1000}.Encode()
	if got := Check(r); len(got) != 0 {
		t.Errorf("Check = %v, want none", got)
	}
	if s := (Violation{NotBound, "ns/p", "pending"}).String(); !strings.Contains(s, "not-bound") {
		t.Errorf("String() = %q", s)
	}
}
