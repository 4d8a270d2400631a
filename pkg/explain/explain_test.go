package explain

import (
	"context"
	"errors"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/plugins"
	"github.com/berthsched/berth/pkg/scheduler"
)

const schedulerName = "berth"

// newExplainer builds an evaluator with the default profile over an empty
// fake clientset and fills its cache with nodes and pods (bound pods go
// to the cache, pending ones with a nominatedNodeName are nominated).
func newExplainer(t testing.TB, nodes []*v1.Node, pods []*v1.Pod) *Explainer {
	t.Helper()
	return newExplainerWith(t, nil, nodes, pods)
}

// newExplainerWith is newExplainer with objects (claims, volumes,
// classes …) in the fake clientset that the plugins' informers read.
func newExplainerWith(t testing.TB, objs []runtime.Object, nodes []*v1.Node, pods []*v1.Pod) *Explainer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	reg := plugins.NewInTreeRegistry()
	cfg, err := config.Load(nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Parallelism = 1
	client := fake.NewSimpleClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	ev, err := scheduler.NewEvaluator(ctx, scheduler.EvaluatorOptions{Config: cfg, Registry: reg, InformerFactory: factory, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	t.Cleanup(func() {
		cancel()
		factory.Shutdown()
	})
	x := New(ev)
	logger := klog.Background()
	for _, n := range nodes {
		ev.Cache().AddNode(logger, n)
	}
	for _, p := range pods {
		if p.Spec.NodeName != "" {
			if err := ev.Cache().AddPod(logger, p); err != nil {
				t.Fatal(err)
			}
		} else {
			x.AddNominatedPod(logger, p)
		}
	}
	return x
}

func node(name string) *st.NodeWrapper {
	return st.MakeNode().Name(name).Capacity("cpu", "4", "memory", "8Gi", "pods", "110")
}

func pod(name string) *st.PodWrapper {
	return st.MakePod().Name(name).SchedulerName(schedulerName)
}

// preemptionCluster: n1 is full of low-priority pods (b alone is worth
// evicting), n2 holds one pod more important than the incoming one, n3 is
// empty but tainted.
func preemptionCluster() ([]*v1.Node, []*v1.Pod) {
	nodes := []*v1.Node{
		node("n1").Obj(),
		node("n2").Obj(),
		node("n3").Taint("dedicated", "infra", v1.TaintEffectNoSchedule).Obj(),
	}
	pods := []*v1.Pod{
		pod("a").Node("n1").Req("cpu", "1").Priority(5).Obj(),
		pod("b").Node("n1").Req("cpu", "2").Priority(0).Obj(),
		pod("c").Node("n1").Req("cpu", "500m").Priority(0).Obj(),
		pod("vip").Node("n2").Req("cpu", "4").Priority(1000).Obj(),
	}
	return nodes, pods
}

type wantSuggestion struct {
	cause    Cause
	verified bool
	// contains are substrings of the message.
	contains []string
	fitNodes int
}

func TestExplainSuggestions(t *testing.T) {
	nodes, pods := preemptionCluster()
	zoneNode := func(name, zone string) *st.NodeWrapper {
		return node(name).Label(v1.LabelTopologyZone, zone)
	}
	tests := []struct {
		name     string
		nodes    []*v1.Node
		pods     []*v1.Pod
		pod      *v1.Pod
		rejected map[string]int // "Plugin: reason" -> nodes
		want     []wantSuggestion
	}{
		{
			name:  "preemption and taints",
			nodes: nodes, pods: pods,
			pod: pod("p").Req("cpu", "2500m").Priority(100).Obj(),
			rejected: map[string]int{
				"NodeResourcesFit: Insufficient cpu":                1 + 1,
				"TaintToleration: node(s) had untolerated taint(s)": 1,
			},
			want: []wantSuggestion{
				{cause: CausePreemption, verified: true, fitNodes: 1, contains: []string{"n1 lacks 2 CPU; preempting default/b (priority 0) would free it"}},
				{cause: CauseTaints, verified: true, fitNodes: 1, contains: []string{"tolerating dedicated=infra:NoSchedule opens 1 node(s)"}},
			},
		},
		{
			name:  "preemptionPolicy Never is respected",
			nodes: nodes, pods: pods,
			pod: func() *v1.Pod {
				p := pod("p").Req("cpu", "2500m").Priority(100).Obj()
				p.Spec.PreemptionPolicy = ptr.To(v1.PreemptNever)
				return p
			}(),
			want: []wantSuggestion{
				{cause: CausePreemption, verified: true, fitNodes: 1, contains: []string{"preemptionPolicy is Never", "berth will not preempt"}},
				{cause: CauseTaints, verified: true, fitNodes: 1},
			},
		},
		{
			name:  "no victims: the shortfall of the closest node",
			nodes: nodes, pods: pods,
			pod:      pod("p").Req("cpu", "3500m").Priority(0).Obj(),
			rejected: map[string]int{"NodeResourcesFit: Insufficient cpu": 2},
			want: []wantSuggestion{
				{cause: CauseTaints, verified: true, fitNodes: 1},
				{cause: CauseResources, contains: []string{"n1 lacks 3 CPU", "no lower-priority pods"}},
				{cause: CauseResources, contains: []string{"n2 lacks 3.5 CPU"}},
			},
		},
		{
			name:  "bigger than every node",
			nodes: nodes, pods: pods,
			pod: pod("p").Req("cpu", "64").Priority(100).Obj(),
			want: []wantSuggestion{
				{cause: CauseResources, contains: []string{"no node is big enough, whatever is evicted: the pod requests 64 CPU, the most any node has allocatable is 4 CPU (n1)"}},
				{cause: CauseTaints, contains: []string{"tolerating it is not enough: they then fail with 1 Insufficient cpu"}},
			},
		},
		{
			name: "nodeSelector value no node has",
			nodes: []*v1.Node{
				node("s1").Label("disk-type", "ssd").Obj(),
				node("s2").Label("disk-type", "ssd").Obj(),
				node("h1").Label("disk-type", "hdd").Obj(),
			},
			pod:      pod("p").NodeSelector(map[string]string{"disk-type": "nvme"}).Obj(),
			rejected: map[string]int{"NodeAffinity: node(s) didn't match Pod's node affinity/selector": 3},
			want: []wantSuggestion{
				{cause: CauseNodeAffinity, verified: true, fitNodes: 2, contains: []string{"no node has disk-type=nvme; 2 node(s) have disk-type=ssd, 1 have disk-type=hdd", "with disk-type=ssd the pod fits on 2 node(s)"}},
			},
		},
		{
			name: "nodeSelector: the most common value is full, the next one fits",
			nodes: []*v1.Node{
				node("s1").Label("disk-type", "ssd").Obj(),
				node("s2").Label("disk-type", "ssd").Obj(),
				node("h1").Label("disk-type", "hdd").Obj(),
			},
			pods: []*v1.Pod{
				pod("f1").Node("s1").Req("cpu", "4").Obj(),
				pod("f2").Node("s2").Req("cpu", "4").Obj(),
			},
			pod: pod("p").Req("cpu", "1").NodeSelector(map[string]string{"disk-type": "nvme"}).Obj(),
			want: []wantSuggestion{
				{cause: CauseNodeAffinity, verified: true, fitNodes: 1, contains: []string{"with disk-type=hdd the pod fits on 1 node(s)"}},
			},
		},
		{
			name:  "required node affinity on a missing label",
			nodes: []*v1.Node{node("n1").Obj(), node("n2").Obj()},
			pod:   pod("p").NodeAffinityIn("gpu", "a100").Obj(),
			want: []wantSuggestion{
				{cause: CauseNodeAffinity, verified: true, fitNodes: 2, contains: []string{"no node matches the required node affinity gpu In [a100]; no node has a label gpu", "without it the pod fits on 2 node(s)"}},
			},
		},
		{
			name: "topology spread counts and cordoned node",
			nodes: []*v1.Node{
				zoneNode("a1", "a").Obj(),
				zoneNode("b1", "b").Unschedulable(true).Obj(),
			},
			pods: []*v1.Pod{
				pod("w1").Node("a1").Label("app", "web").Obj(),
				pod("w2").Node("a1").Label("app", "web").Obj(),
			},
			pod: pod("p").Label("app", "web").SpreadConstraint(1, v1.LabelTopologyZone, v1.DoNotSchedule, st.Labels("app", "web"), nil, nil, nil, nil).Obj(),
			rejected: map[string]int{
				"PodTopologySpread: node(s) didn't match pod topology spread constraints": 1,
				"NodeUnschedulable: node(s) were unschedulable":                           1,
			},
			want: []wantSuggestion{
				{cause: CauseTopologySpread, verified: true, fitNodes: 1, contains: []string{"matching pods per domain: a=2, b=0", "ScheduleAnyway the pod fits on 1 node(s)"}},
				{cause: CauseUnschedulable, verified: true, fitNodes: 1, contains: []string{"uncordoning 1 of the 1 cordoned node(s)"}},
			},
		},
		{
			name:  "pod anti-affinity",
			nodes: []*v1.Node{node("n1").Obj(), node("n2").Obj()},
			pods: []*v1.Pod{
				pod("w1").Node("n1").Label("app", "web").Obj(),
				pod("w2").Node("n2").Label("app", "web").Obj(),
			},
			pod:      pod("p").Label("app", "web").PodAntiAffinity(v1.LabelHostname, st.Labels("app", "web")).Obj(),
			rejected: map[string]int{"InterPodAffinity: node(s) didn't match pod anti-affinity rules": 2},
			want: []wantSuggestion{
				{cause: CausePodAffinity, verified: true, fitNodes: 2, contains: []string{"matching pods per kubernetes.io/hostname: n1=1, n2=1", "without this term the pod fits on 2 node(s)"}},
			},
		},
		{
			name:  "host port taken everywhere: a hint only",
			nodes: []*v1.Node{node("n1").Obj()},
			pods:  []*v1.Pod{pod("x").Node("n1").HostPort(v1.ProtocolTCP, "", 8080).Obj()},
			pod:   pod("p").HostPort(v1.ProtocolTCP, "", 8080).Obj(),
			want: []wantSuggestion{
				{cause: CausePorts, contains: []string{"8080/TCP are already in use on 1 node(s)"}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := newExplainer(t, tc.nodes, tc.pods)
			e, err := x.Explain(context.Background(), tc.pod, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if e.Schedulable {
				t.Fatalf("pod is schedulable on %s; want unschedulable", e.ChosenNode)
			}
			for key, n := range tc.rejected {
				found := false
				for _, r := range e.Rejections {
					if r.Plugin+": "+r.Reason == key {
						found = true
						if r.Count != n {
							t.Errorf("rejection %q: %d nodes, want %d", key, r.Count, n)
						}
					}
				}
				if !found {
					t.Errorf("no rejection %q in %+v", key, e.Rejections)
				}
			}
			if len(e.Suggestions) != len(tc.want) {
				t.Fatalf("got %d suggestions, want %d:\n%s", len(e.Suggestions), len(tc.want), suggestionsString(e.Suggestions))
			}
			for i, w := range tc.want {
				s := e.Suggestions[i]
				if s.Cause != w.cause || s.Verified != w.verified || (w.fitNodes != 0 && s.FitNodes != w.fitNodes) {
					t.Errorf("suggestion %d = %s/%v/%d, want %s/%v/%d: %s", i, s.Cause, s.Verified, s.FitNodes, w.cause, w.verified, w.fitNodes, s.Message)
				}
				for _, c := range w.contains {
					if !strings.Contains(s.Message, c) {
						t.Errorf("suggestion %d: %q does not contain %q", i, s.Message, c)
					}
				}
			}
		})
	}
}

func suggestionsString(ss []Suggestion) string {
	var b strings.Builder
	for _, s := range ss {
		b.WriteString(string(s.Cause) + " verified=" + map[bool]string{true: "true", false: "false"}[s.Verified] + ": " + s.Message + "\n")
	}
	return b.String()
}

// TestPreemptionVictimsFitAfterEviction checks the counterfactual itself:
// the victims named for a node, once deleted from the cluster, let the
// pod be scheduled there.
func TestPreemptionVictimsFitAfterEviction(t *testing.T) {
	nodes, pods := preemptionCluster()
	p := pod("p").Req("cpu", "2500m").Priority(100).Obj()
	e, err := newExplainer(t, nodes, pods).Explain(context.Background(), p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := e.Suggestions[0]
	if s.Cause != CausePreemption {
		t.Fatalf("first suggestion is %s: %s", s.Cause, s.Message)
	}
	victims := map[string]bool{}
	for _, v := range s.Victims {
		victims[v.Name] = true
	}
	var kept []*v1.Pod
	for _, q := range pods {
		if !victims[q.Name] {
			kept = append(kept, q)
		}
	}
	after, err := newExplainer(t, nodes, kept).Explain(context.Background(), p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !after.Schedulable || after.ChosenNode != s.Nodes[0] {
		t.Fatalf("after evicting %v: schedulable=%v on %q, want %s", s.Victims, after.Schedulable, after.ChosenNode, s.Nodes[0])
	}
}

func TestExplainBoundPodIsEvaluatedAsPending(t *testing.T) {
	nodes := []*v1.Node{node("n1").Obj()}
	bound := pod("p").Node("n1").Req("cpu", "3").Obj()
	x := newExplainer(t, nodes, []*v1.Pod{bound})
	for i := 0; i < 2; i++ { // the pod is put back after each call
		e, err := x.Explain(context.Background(), bound, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !e.Schedulable || e.ChosenNode != "n1" || e.Pod.NodeName != "n1" {
			t.Fatalf("call %d: schedulable=%v chosen=%q nodeName=%q; want it to fit n1 again", i, e.Schedulable, e.ChosenNode, e.Pod.NodeName)
		}
	}
	other := pod("q").Req("cpu", "2").Obj()
	e, err := x.Explain(context.Background(), other, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if e.Schedulable {
		t.Fatal("the bound pod was not restored to the cache: another 2-CPU pod fits next to it")
	}
}

func TestExplainTrace(t *testing.T) {
	nodes, pods := preemptionCluster()
	x := newExplainer(t, nodes, pods)
	p := pod("p").Req("cpu", "2500m").Priority(100).Obj()
	e, err := x.Explain(context.Background(), p, Options{Node: "n3"})
	if err != nil {
		t.Fatal(err)
	}
	if e.Trace == nil || e.Trace.Feasible || len(e.Trace.Plugins) == 0 {
		t.Fatalf("trace = %+v, want a rejected node with every filter's verdict", e.Trace)
	}
	verdicts := map[string]string{}
	for _, v := range e.Trace.Plugins {
		verdicts[v.Plugin] = v.Code
	}
	if verdicts["TaintToleration"] != "UnschedulableAndUnresolvable" || verdicts["NodeResourcesFit"] != "Success" {
		t.Errorf("trace verdicts = %v, want TaintToleration rejecting and NodeResourcesFit passing", verdicts)
	}
	e, err = x.Explain(context.Background(), p, Options{Node: "nope"})
	if err != nil {
		t.Fatal(err)
	}
	if e.Trace == nil || e.Trace.Note == "" {
		t.Errorf("trace of an unknown node = %+v, want a note", e.Trace)
	}
}

// TestExplainPreFilterRejection covers a pod PreFilter rejects for every
// node (a claim that does not exist): every node is counted under that
// plugin, the trace says no node was filtered, and no what-if is offered
// as verified.
func TestExplainPreFilterRejection(t *testing.T) {
	x := newExplainer(t, []*v1.Node{node("n1").Obj(), node("n2").Obj()}, nil)
	e, err := x.Explain(context.Background(), pod("p").PVC("missing").Obj(), Options{Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	if e.Schedulable || len(e.Rejections) != 1 || e.Rejections[0].Plugin != "VolumeRestrictions" || e.Rejections[0].Count != 2 {
		t.Fatalf("rejections = %+v, want VolumeRestrictions (the first PreFilter to look up the claim) rejecting both nodes", e.Rejections)
	}
	if !strings.Contains(e.Rejections[0].Reason, "missing") {
		t.Errorf("reason %q does not name the claim", e.Rejections[0].Reason)
	}
	if e.Trace == nil || !strings.Contains(e.Trace.Note, "PreFilter plugin VolumeRestrictions rejected the pod") {
		t.Errorf("trace = %+v, want a PreFilter note", e.Trace)
	}
	for _, s := range e.Suggestions {
		if s.Verified {
			t.Errorf("verified suggestion %+v although no node was filtered", s)
		}
	}
}

// TestExplainHonoursNominatedPods: a higher-priority pod nominated to the
// only node keeps its room, as in the scheduling cycle.
func TestExplainHonoursNominatedPods(t *testing.T) {
	nominee := pod("nominee").Req("cpu", "3").Priority(1000).NominatedNode("n1").Obj()
	x := newExplainer(t, []*v1.Node{node("n1").Obj()}, []*v1.Pod{nominee})
	e, err := x.Explain(context.Background(), pod("p").Req("cpu", "2").Obj(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if e.Schedulable {
		t.Fatal("the pod fits although a more important pod is nominated to the node")
	}
	for _, s := range e.Suggestions {
		if s.Verified {
			t.Errorf("verified suggestion %+v: nothing but the nomination's end would help", s)
		}
	}
	e, err = x.Explain(context.Background(), pod("q").Req("cpu", "1").Obj(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !e.Schedulable {
		t.Errorf("a 1-CPU pod does not fit next to the 3-CPU nominee: %s", e.Message)
	}
}

// TestPreemptionSparesPDBProtectedPods: with a budget that allows no
// disruption of app=db, the what-if keeps the db pod and evicts the web
// one instead, ranks the node where only a protected pod could go last,
// and says which victim breaks the budget there.
func TestPreemptionSparesPDBProtectedPods(t *testing.T) {
	nodes := []*v1.Node{node("n1").Obj(), node("n2").Obj()}
	pods := []*v1.Pod{
		// Same priority and age: without a budget, name order decides
		// which one is spared ("b-web" first).
		pod("z-db").Node("n1").Label("app", "db").Req("cpu", "2").Obj(),
		pod("b-web").Node("n1").Label("app", "web").Req("cpu", "2").Obj(),
		pod("db-big").Node("n2").Label("app", "db").Req("cpu", "4").Obj(),
	}
	p := pod("p").Req("cpu", "2").Priority(100).Obj()
	victimsOf := func(e *Explanation) map[string][]string {
		out := map[string][]string{}
		for _, s := range e.Suggestions {
			if s.Cause != CausePreemption {
				continue
			}
			for _, v := range s.Victims {
				name := v.Name
				if v.ViolatesPDB {
					name += "(pdb)"
				}
				out[s.Nodes[0]] = append(out[s.Nodes[0]], name)
			}
		}
		return out
	}

	x := newExplainer(t, nodes, pods)
	e, err := x.Explain(context.Background(), p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := victimsOf(e); got["n1"][0] != "z-db" || e.Suggestions[0].Nodes[0] != "n1" {
		t.Fatalf("without a budget: victims %v, first node %s; want z-db evicted from n1", got, e.Suggestions[0].Nodes[0])
	}

	x.SetPodDisruptionBudgets([]*policyv1.PodDisruptionBudget{{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db"},
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: st.Labels("app", "db")},
		Status:     policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 0},
	}})
	e, err = x.Explain(context.Background(), p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := victimsOf(e)
	if len(got["n1"]) != 1 || got["n1"][0] != "b-web" {
		t.Errorf("n1 victims = %v, want b-web (z-db is protected)", got["n1"])
	}
	if len(got["n2"]) != 1 || got["n2"][0] != "db-big(pdb)" {
		t.Errorf("n2 victims = %v, want db-big marked as breaking the budget", got["n2"])
	}
	if e.Suggestions[0].Nodes[0] != "n1" || !strings.Contains(e.Suggestions[1].Message, "1 of them protected by a PodDisruptionBudget") {
		t.Errorf("suggestions:\n%s\nwant n1 first and n2's budget violation said", suggestionsString(e.Suggestions))
	}
}

func TestExplainPodOfAnotherScheduler(t *testing.T) {
	x := newExplainer(t, []*v1.Node{node("n1").Obj()}, nil)
	_, err := x.Explain(context.Background(), st.MakePod().Name("p").SchedulerName("default-scheduler").Obj(), Options{})
	if !errors.Is(err, ErrNoProfile) {
		t.Fatalf("err = %v, want ErrNoProfile", err)
	}
}

// TestExplainVolumeDetails: a claim of a WaitForFirstConsumer class that no
// PV can satisfy; the VolumeBinding explanation (which claim, why) comes
// through as a volumes hint and in Details.
func TestExplainVolumeDetails(t *testing.T) {
	objs := []runtime.Object{
		st.MakeStorageClass("local").Provisioner("kubernetes.io/no-provisioner").WaitForFirstConsumer().Obj(),
		st.MakePVC("data", "default").Class("local").Request("10Gi").Obj(),
	}
	x := newExplainerWith(t, objs, []*v1.Node{node("n1").Obj(), node("n2").Obj()}, nil)
	e, err := x.Explain(context.Background(), pod("p").PVC("data").Obj(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if e.Schedulable {
		t.Fatal("schedulable without any PV")
	}
	var hint *Suggestion
	for i := range e.Suggestions {
		if e.Suggestions[i].Cause == CauseVolumes {
			hint = &e.Suggestions[i]
		}
	}
	if hint == nil || hint.Verified || !strings.Contains(hint.Message, `claim "default/data"`) || len(e.Details) == 0 {
		t.Fatalf("volumes hint = %+v, details %v; want the claim named", hint, e.Details)
	}
}
