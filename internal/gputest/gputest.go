package gputest

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
)

const (
	// GroupLabel on a node names the test that created it; the test's
	// pods select it, so that every test has its own GPU nodes.
	GroupLabel = "gpu-test.berth.io/group"
	// MemoryLabel is where nodegen's gpu profile puts each card's memory
	// (MiB), as NVIDIA's GPU feature discovery does.
	MemoryLabel = "nvidia.com/gpu.memory"
)

// Node is what a test knows about one of its GPU nodes.
type Node struct {
	Cards     int
	MemoryMiB int64
	Model     string
}

// Group is one test's GPU nodes and namespace.
type Group struct {
	Name string
	NS   string
	// SchedulerName is the schedulerName of the pods Pod builds
	// (default "berth").
	SchedulerName string
	Nodes         map[string]Node
}

// NewGroup creates count nodes of nodegen's gpu profile from index start
// (index 0, 2, 3, 4 … are 4-card A100 40GB nodes, 1 and 5 8-card H100
// 80GB ones), named gpu-<name>-NNNNN and labelled groupLabel=name, and a
// namespace. When t ends the namespace's pods are deleted at once (no
// kubelet runs to finish a graceful deletion) and the nodes too, so that
// the next test's berth sees neither.
func NewGroup(t *testing.T, name string, start, count int) *Group {
	t.Helper()
	env := testenv.Current()
	ctx := context.Background()
	c := env.Client
	opts := nodegen.Options{Count: count, StartIndex: start, Profile: nodegen.ProfileGPU, Prefix: "gpu-" + name + "-", Zones: 1}
	if _, err := nodegen.Create(ctx, c, opts); err != nil {
		t.Fatalf("creating GPU nodes: %v", err)
	}
	g := &Group{Name: name, SchedulerName: "berth", Nodes: map[string]Node{}}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{GroupLabel: name}}})
	for i := start; i < start+count; i++ {
		nodeName := nodegen.NodeName(opts, i)
		n, err := c.CoreV1().Nodes().Patch(ctx, nodeName, types.MergePatchType, patch, metav1.PatchOptions{})
		if err != nil {
			t.Fatalf("labelling node %s: %v", nodeName, err)
		}
		q := n.Status.Allocatable[nodegen.ResourceGPU]
		mem, err := strconv.ParseInt(n.Labels[MemoryLabel], 10, 64)
		if err != nil || mem <= 0 || q.Value() <= 0 {
			t.Fatalf("node %s: %s=%q, allocatable %s=%s; the gpu profile should give both", nodeName, MemoryLabel, n.Labels[MemoryLabel], nodegen.ResourceGPU, q.String())
		}
		g.Nodes[nodeName] = Node{Cards: int(q.Value()), MemoryMiB: mem, Model: n.Labels[gpushare.DefaultModelLabel]}
	}
	t.Cleanup(func() {
		for nodeName := range g.Nodes {
			if err := c.CoreV1().Nodes().Delete(context.Background(), nodeName, metav1.DeleteOptions{}); err != nil {
				t.Errorf("deleting node %s: %v", nodeName, err)
			}
		}
	})
	g.NS = env.CreateNamespace(t, "gpu-"+name)
	t.Cleanup(func() {
		err := c.CoreV1().Pods(g.NS).DeleteCollection(context.Background(),
			metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{})
		if err != nil {
			t.Errorf("deleting the pods of %s: %v", g.NS, err)
		}
	})
	return g
}

// NodeNames returns the group's nodes, sorted.
func (g *Group) NodeNames() []string {
	var out []string
	for n := range g.Nodes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Ask is what a test pod asks of GPUs, as the test itself knows it (not
// as berth parses it): Cards cards of Milli each (1000 for whole cards)
// and MemoryMiB of card memory on each (0: not asked).
type Ask struct {
	Cards     int
	Milli     int64
	MemoryMiB int64
	// Memory is the berth.io/gpu-memory value that asks for MemoryMiB.
	Memory string
}

// Whole asks for n whole cards through the nvidia.com/gpu resource.
func Whole(n int) Ask { return Ask{Cards: n, Milli: 1000} }

// Share asks for milli of one card and, unless memory is "", that much
// card memory (a quantity such as "30Gi").
func Share(milli int64, memory string) Ask {
	a := Ask{Cards: 1, Milli: milli, Memory: memory}
	if memory != "" {
		q := resource.MustParse(memory)
		a.MemoryMiB = q.Value() >> 20
	}
	return a
}

// Pod builds a pod of the group (100m CPU, 128Mi) asking for a.
func (g *Group) Pod(name string, a Ask) *v1.Pod {
	w := st.MakePod().Name(name).Namespace(g.NS).SchedulerName(g.SchedulerName).
		NodeSelector(map[string]string{GroupLabel: g.Name})
	if a.Milli >= 1000 {
		n := strconv.Itoa(a.Cards)
		w.Req("cpu", "100m", "memory", "128Mi", string(nodegen.ResourceGPU), n)
		w.Spec.Containers[0].Resources.Limits = st.ResourceList(string(nodegen.ResourceGPU), n)
		return w.Obj()
	}
	w.Req("cpu", "100m", "memory", "128Mi")
	p := w.Obj()
	p.Annotations = map[string]string{gpushare.AnnotationMilli: strconv.FormatInt(a.Milli, 10)}
	if a.Memory != "" {
		p.Annotations[gpushare.AnnotationMemory] = a.Memory
	}
	return p
}

func CreatePod(t *testing.T, p *v1.Pod) {
	t.Helper()
	if _, err := testenv.Current().Client.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating pod %s: %v", p.Name, err)
	}
}

func ListPods(t *testing.T, ns string) []v1.Pod {
	t.Helper()
	l, err := testenv.Current().Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing pods: %v", err)
	}
	return l.Items
}

func GetPod(t *testing.T, ns, name string) *v1.Pod {
	t.Helper()
	p, err := testenv.Current().Client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading pod %s: %v", name, err)
	}
	return p
}

// WaitBound waits until every named pod is bound and returns all pods of
// the namespace.
func WaitBound(t *testing.T, ns string, timeout time.Duration, names []string) []v1.Pod {
	t.Helper()
	var pods []v1.Pod
	berthtest.WaitFor(t, timeout, fmt.Sprintf("%d GPU pods to be bound", len(names)), func() (bool, string) {
		pods = ListPods(t, ns)
		bound := map[string]bool{}
		for _, p := range pods {
			bound[p.Name] = p.Spec.NodeName != ""
		}
		var missing []string
		for _, n := range names {
			if !bound[n] {
				missing = append(missing, n)
			}
		}
		return len(missing) == 0, fmt.Sprintf("%d of %d bound; not bound: %s", len(names)-len(missing), len(names), strings.Join(missing, ", "))
	})
	return pods
}

// CardKey names one card of one node.
type CardKey struct {
	Node string
	Card int
}

func (k CardKey) String() string { return fmt.Sprintf("%s/card %d", k.Node, k.Card) }

// CardUse is what the assignments put on one card.
type CardUse struct {
	Milli, MemoryMiB int64
	Pods             []string
	Whole            bool
}

// CheckAssignments checks every bound pod named in asks against its
// berth.io/gpu-assignment annotation and the cards' capacity:
//   - the annotation is there, parses, and names the pod's node;
//   - it has as many distinct cards as the pod asked for, each of which
//     exists on the node, with the share and memory the pod asked for;
//   - per card, the shares sum to at most 1000 milli and the memory to at
//     most the card's memory;
//   - a whole card holds no other pod.
//
// It returns what each used card holds.
func CheckAssignments(t *testing.T, g *Group, pods []v1.Pod, asks map[string]Ask) map[CardKey]*CardUse {
	t.Helper()
	use := map[CardKey]*CardUse{}
	for _, p := range pods {
		a, ok := asks[p.Name]
		if !ok || p.Spec.NodeName == "" {
			continue
		}
		node, ok := g.Nodes[p.Spec.NodeName]
		if !ok {
			t.Errorf("pod %s bound to %s, which is not one of the test's nodes %v", p.Name, p.Spec.NodeName, g.NodeNames())
			continue
		}
		raw, ok := p.Annotations[gpushare.AnnotationAssignment]
		if !ok {
			t.Errorf("pod %s bound to %s has no %s annotation", p.Name, p.Spec.NodeName, gpushare.AnnotationAssignment)
			continue
		}
		as, err := gpushare.ParseAssignment(raw)
		if err != nil {
			t.Errorf("pod %s: %v (%s)", p.Name, err, raw)
			continue
		}
		if as.Node != p.Spec.NodeName {
			t.Errorf("pod %s bound to %s has an assignment for node %s: %s", p.Name, p.Spec.NodeName, as.Node, raw)
			continue
		}
		if len(as.Cards) != a.Cards || as.Milli != a.Milli || as.MemoryMiB != a.MemoryMiB {
			t.Errorf("pod %s asked for %d card(s) × %d milli, %d MiB; assignment %s", p.Name, a.Cards, a.Milli, a.MemoryMiB, raw)
		}
		seen := map[int]bool{}
		for _, idx := range as.Cards {
			if idx < 0 || idx >= node.Cards {
				t.Errorf("pod %s: assignment names card %d; node %s has cards 0..%d", p.Name, idx, p.Spec.NodeName, node.Cards-1)
				continue
			}
			if seen[idx] {
				t.Errorf("pod %s: assignment names card %d twice: %s", p.Name, idx, raw)
				continue
			}
			seen[idx] = true
			k := CardKey{p.Spec.NodeName, idx}
			u := use[k]
			if u == nil {
				u = &CardUse{}
				use[k] = u
			}
			u.Milli += a.Milli
			u.MemoryMiB += a.MemoryMiB
			u.Pods = append(u.Pods, p.Name)
			u.Whole = u.Whole || a.Milli >= 1000
		}
	}
	for k, u := range use {
		sort.Strings(u.Pods)
		mem := g.Nodes[k.Node].MemoryMiB
		switch {
		case u.Whole && len(u.Pods) > 1:
			t.Errorf("%s is a whole card of one pod but holds %v", k, u.Pods)
		case u.Milli > 1000:
			t.Errorf("%s is oversubscribed: %d milli (pods %v)", k, u.Milli, u.Pods)
		case u.MemoryMiB > mem:
			t.Errorf("%s has %d MiB but its pods ask %d MiB (pods %v)", k, mem, u.MemoryMiB, u.Pods)
		}
	}
	return use
}

// LogCards logs each used card's pods, for reading a failure.
func LogCards(t *testing.T, use map[CardKey]*CardUse) {
	t.Helper()
	keys := make([]CardKey, 0, len(use))
	for k := range use {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Node != keys[j].Node {
			return keys[i].Node < keys[j].Node
		}
		return keys[i].Card < keys[j].Card
	})
	var b strings.Builder
	for _, k := range keys {
		u := use[k]
		fmt.Fprintf(&b, "\n  %-24s %4d milli %6d MiB  %s", k, u.Milli, u.MemoryMiB, strings.Join(u.Pods, " "))
	}
	t.Logf("cards in use:%s", b.String())
}

// WaitFailedScheduling waits until the pod is marked unschedulable and a
// FailedScheduling event about it says every one of want, and returns the
// event's message. The pod must stay unbound.
func WaitFailedScheduling(t *testing.T, c kubernetes.Interface, ns, name string, want ...string) string {
	t.Helper()
	ctx := context.Background()
	var note string
	berthtest.WaitFor(t, 30*time.Second, "a FailedScheduling event for "+name, func() (bool, string) {
		p := GetPod(t, ns, name)
		if p.Spec.NodeName != "" {
			t.Fatalf("pod %s was bound to %s", name, p.Spec.NodeName)
		}
		unsched := false
		for _, cond := range p.Status.Conditions {
			if cond.Type == v1.PodScheduled && cond.Status == v1.ConditionFalse && cond.Reason == v1.PodReasonUnschedulable {
				unsched = true
			}
		}
		if !unsched {
			return false, "no PodScheduled=False condition"
		}
		var found bool
		var last string
		note, last, found = berthtest.FindEvent(ctx, c, ns, name, "FailedScheduling", want...)
		return found, last
	})
	return note
}
