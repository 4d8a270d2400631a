package explain

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/cmd/berth/app"
	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/explain"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }

const (
	prefix     = "explain-"
	numNodes   = 4
	taintedIdx = numNodes - 1
)

func newPod(name, cpu, priorityClass string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.PodSpec{
			SchedulerName:     "berth",
			PriorityClassName: priorityClass,
			Containers: []v1.Container{{Name: "c", Image: "pause", Resources: v1.ResourceRequirements{
				Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse("1Gi")},
			}}},
		},
	}
}

// TestExplainPendingPod fills three 8-core nodes with two 3-CPU
// low-priority pods each and taints a fourth, then creates a 4-CPU pod of
// a high priority class that may not preempt. berth leaves it pending;
// explain must give berth's own reasons, propose evicting one filler on a
// node and tolerating the taint, and deleting the proposed victims must
// let berth bind the pod to that node.
func TestExplainPendingPod(t *testing.T) {
	env := testenv.Current()
	ctx := context.Background()
	c := env.Client
	opts := nodegen.Options{Count: numNodes, Profile: nodegen.ProfileBasic, Prefix: prefix, Zones: 1}
	if _, err := nodegen.Create(ctx, c, opts); err != nil {
		t.Fatal(err)
	}
	tainted := nodegen.NodeName(opts.Defaults(), taintedIdx)
	n, err := c.CoreV1().Nodes().Get(ctx, tainted, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Spec.Taints = append(n.Spec.Taints, v1.Taint{Key: "dedicated", Value: "infra", Effect: v1.TaintEffectNoSchedule})
	if _, err := c.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, pc := range []*schedulingv1.PriorityClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "explain-low"}, Value: 10},
		{ObjectMeta: metav1.ObjectMeta{Name: "explain-high"}, Value: 1000, PreemptionPolicy: ptr.To(v1.PreemptNever)},
	} {
		if _, err := c.SchedulingV1().PriorityClasses().Create(ctx, pc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	berthtest.Start(t, nil)
	ns := env.CreateNamespace(t, "explain")

	for i := 0; i < 2*(numNodes-1); i++ {
		if _, err := c.CoreV1().Pods(ns).Create(ctx, newPod(fmt.Sprintf("filler-%d", i), "3", "explain-low"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "fillers bound", func() (bool, string) {
		list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		bound := 0
		for _, p := range list.Items {
			if p.Spec.NodeName != "" {
				bound++
			}
		}
		return bound == 2*(numNodes-1), fmt.Sprintf("%d bound", bound)
	})
	if _, err := c.CoreV1().Pods(ns).Create(ctx, newPod("trainer", "4", "explain-high"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var condMsg string
	waitFor(t, "trainer marked unschedulable by berth", func() (bool, string) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, "trainer", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == v1.PodScheduled && cond.Status == v1.ConditionFalse && cond.Reason == v1.PodReasonUnschedulable {
				condMsg = cond.Message
				return true, ""
			}
		}
		return false, fmt.Sprintf("node %q, conditions %v", p.Spec.NodeName, p.Status.Conditions)
	})

	// The library path, as the command runs it.
	cl := berthtest.ExplainCluster(t, ctx, c)
	defer cl.Close()
	pod, err := cl.Pod(ns, "trainer")
	if err != nil {
		t.Fatal(err)
	}
	e, err := cl.Explain(ctx, pod, explain.Options{Node: tainted})
	if err != nil {
		t.Fatal(err)
	}
	if e.Schedulable || e.Nodes != numNodes {
		t.Fatalf("schedulable=%v over %d nodes; want unschedulable over %d", e.Schedulable, e.Nodes, numNodes)
	}
	// berth's condition may add what preemption said after the reasons.
	if !strings.HasPrefix(condMsg, strings.TrimSuffix(e.Message, ".")) {
		t.Errorf("explain's message %q is not how berth's condition starts: %q", e.Message, condMsg)
	}
	wantRejections := map[string]int{
		"NodeResourcesFit/Insufficient cpu":                numNodes - 1,
		"TaintToleration/node(s) had untolerated taint(s)": 1,
	}
	for _, r := range e.Rejections {
		k := r.Plugin + "/" + r.Reason
		if wantRejections[k] != r.Count {
			t.Errorf("rejection %s: %d nodes, want %d", k, r.Count, wantRejections[k])
		}
		delete(wantRejections, k)
	}
	if len(wantRejections) > 0 {
		t.Errorf("missing rejections %v in %+v", wantRejections, e.Rejections)
	}
	if e.Trace == nil || e.Trace.Feasible || e.Trace.Node != tainted {
		t.Errorf("trace = %+v, want the tainted node rejected", e.Trace)
	}

	var preempt, taint *explain.Suggestion
	for i := range e.Suggestions {
		s := &e.Suggestions[i]
		switch {
		case s.Cause == explain.CausePreemption && preempt == nil:
			preempt = s
		case s.Cause == explain.CauseTaints:
			taint = s
		}
	}
	if preempt == nil || !preempt.Verified || len(preempt.Victims) != 1 || !strings.Contains(preempt.Message, "preemptionPolicy is Never") {
		t.Fatalf("preemption suggestion = %+v, want one verified victim and the Never caveat", preempt)
	}
	if taint == nil || !taint.Verified || taint.FitNodes != 1 || taint.Nodes[0] != tainted || taint.Change != "add toleration dedicated=infra:NoSchedule" {
		t.Errorf("taint suggestion = %+v, want tolerating dedicated=infra:NoSchedule to open %s", taint, tainted)
	}

	// The command, as a user (or kubectl) runs it, gives the same JSON.
	cmd := app.NewRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"explain", "pod/trainer", "-n", ns, "--kubeconfig", env.Kubeconfig, "-o", "json"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	var fromCmd explain.Explanation
	if err := json.Unmarshal(out.Bytes(), &fromCmd); err != nil {
		t.Fatalf("%v in %s", err, out.String())
	}
	if fromCmd.APIVersion != explain.APIVersion || fromCmd.Message != e.Message || len(fromCmd.Suggestions) != len(e.Suggestions) {
		t.Errorf("command output differs from the library's: %s", out.String())
	}

	// Carry out the counterfactual: with the victims gone, berth binds
	// the pod to the node explain named.
	for _, v := range preempt.Victims {
		if err := c.CoreV1().Pods(v.Namespace).Delete(ctx, v.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "trainer bound after evicting the named victims", func() (bool, string) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, "trainer", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return p.Spec.NodeName != "", "pending"
	})
	p, err := c.CoreV1().Pods(ns).Get(ctx, "trainer", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.NodeName != preempt.Nodes[0] {
		t.Errorf("trainer bound to %s, explain said evicting %v frees %s", p.Spec.NodeName, preempt.Victims, preempt.Nodes[0])
	}
}

func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		ok, msg := cond()
		last = msg
		return ok, nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v (last: %s)", what, err, last)
	}
}

// TestExplainNodeSelectorNobodyHas: a pod selecting a disk type no node
// has; explain counts the values nodes do have (read from the API server)
// and verifies that one of them fits.
func TestExplainNodeSelectorNobodyHas(t *testing.T) {
	env := testenv.Current()
	ctx := context.Background()
	c := env.Client
	opts := nodegen.Options{Count: 2, Profile: nodegen.ProfileBasic, Prefix: "selector-", Zones: 1}
	if _, err := nodegen.Create(ctx, c, opts); err != nil {
		t.Fatal(err)
	}
	ns := env.CreateNamespace(t, "selector")
	p := newPod("cache", "100m", "")
	p.Spec.NodeSelector = map[string]string{nodegen.LabelDiskType: "nvme"}
	if _, err := c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cl := berthtest.ExplainCluster(t, ctx, c)
	defer cl.Close()
	pod, err := cl.Pod(ns, "cache")
	if err != nil {
		t.Fatal(err)
	}
	e, err := cl.Explain(ctx, pod, explain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if e.Schedulable {
		t.Fatalf("pod selecting %s=nvme fits on %s", nodegen.LabelDiskType, e.ChosenNode)
	}
	var s *explain.Suggestion
	for i := range e.Suggestions {
		if e.Suggestions[i].Cause == explain.CauseNodeAffinity {
			s = &e.Suggestions[i]
		}
	}
	if s == nil || !s.Verified || s.FitNodes == 0 || !strings.HasPrefix(s.Message, "no node has "+nodegen.LabelDiskType+"=nvme; ") {
		t.Fatalf("node affinity suggestion = %+v, want a verified other disk type", s)
	}
}
