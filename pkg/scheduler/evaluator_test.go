package scheduler

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/plugins"
	"github.com/berthsched/berth/pkg/scheduler/core"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ instead of comparing")

// evalCase is one evaluation pinned by a golden file: the cluster, the pod
// and what to ask the evaluator.
type evalCase struct {
	name      string
	nodes     []*v1.Node
	pods      []*v1.Pod
	nominated []*v1.Pod
	pod       *v1.Pod
	opts      EvaluateOptions
}

func smallNode(name, cpu string) *st.NodeWrapper {
	return st.MakeNode().Name(name).Capacity("cpu", cpu, "memory", "8Gi", "pods", "110")
}

func evalCases() []evalCase {
	pod := func(name string) *st.PodWrapper {
		return st.MakePod().Name(name).UID(name).Namespace("default").SchedulerName(config.DefaultSchedulerName)
	}
	return []evalCase{{
		name: "fits-one-node-with-scores",
		nodes: []*v1.Node{
			smallNode("small-1", "1").Obj(), smallNode("small-2", "1").Obj(),
			smallNode("big-1", "8").Obj(), smallNode("big-2", "8").Obj(),
		},
		pods: []*v1.Pod{pod("running").Node("big-2").Req("cpu", "4").Obj()},
		pod:  pod("p").Req("cpu", "2").Obj(),
		opts: EvaluateOptions{TopK: 3},
	}, {
		name: "unschedulable-mixed-reasons",
		nodes: []*v1.Node{
			smallNode("a-1", "1").Label("zone", "a").Obj(),
			smallNode("a-2", "8").Label("zone", "a").Taint("dedicated", "infra", v1.TaintEffectNoSchedule).Obj(),
			smallNode("a-3", "8").Label("zone", "a").Unschedulable(true).Obj(),
			smallNode("b-1", "8").Label("zone", "b").Obj(),
		},
		pod:  pod("p").Req("cpu", "2").NodeSelector(map[string]string{"zone": "a"}).Obj(),
		opts: EvaluateOptions{TopK: 3},
	}, {
		name:  "prefilter-narrows-to-named-nodes",
		nodes: []*v1.Node{smallNode("n1", "1").Obj(), smallNode("n2", "1").Obj(), smallNode("n3", "8").Obj()},
		pod:   pod("p").Req("cpu", "2").NodeAffinityNameIn("n1", "n2").Obj(),
	}, {
		name: "trace-every-filter-on-one-node",
		nodes: []*v1.Node{
			smallNode("n1", "1").Label("zone", "a").Taint("gpu", "true", v1.TaintEffectNoSchedule).Obj(),
			smallNode("n2", "8").Label("zone", "b").Obj(),
		},
		pod:  pod("p").Req("cpu", "2").NodeSelector(map[string]string{"zone": "b"}).Obj(),
		opts: EvaluateOptions{TopK: 1, TraceNode: "n1"},
	}, {
		name:      "nominated-pod-keeps-its-room",
		nodes:     []*v1.Node{smallNode("n1", "4").Obj()},
		pods:      []*v1.Pod{pod("running").Node("n1").Req("cpu", "2").Obj()},
		nominated: []*v1.Pod{pod("nominee").Priority(100).Req("cpu", "2").NominatedNode("n1").Obj()},
		pod:       pod("p").Priority(10).Req("cpu", "2").Obj(),
	}}
}

// newTestEvaluator builds the default profile over a fake clientset.
func newTestEvaluator(t *testing.T, ctx context.Context, c evalCase) *Evaluator {
	t.Helper()
	reg := plugins.NewInTreeRegistry()
	cfg, err := config.Load(nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	ev, err := NewEvaluator(ctx, EvaluatorOptions{Config: cfg, Registry: reg, InformerFactory: factory, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	factory.Start(stop)
	factory.WaitForCacheSync(stop)
	t.Cleanup(func() { close(stop); factory.Shutdown() })
	logger := klog.FromContext(ctx)
	for _, n := range c.nodes {
		ev.Cache().AddNode(logger, n)
	}
	for _, p := range c.pods {
		if err := ev.Cache().AddPod(logger, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range c.nominated {
		ev.Nominate(logger, p)
	}
	return ev
}

// TestEvaluatorGolden pins what an evaluation reports — the choice, the
// FailedScheduling message, the counts per plugin and reason, the top
// nodes' scores by plugin, a node's full trace — in testdata/evaluate.
// Run with -update to rewrite the files after an intended change.
func TestEvaluatorGolden(t *testing.T) {
	for _, c := range evalCases() {
		t.Run(c.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			ev := newTestEvaluator(t, ctx, c)
			got, err := ev.Evaluate(ctx, c.pod, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			text := renderEvaluation(c.pod, got)
			path := filepath.Join("testdata", "evaluate", c.name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), text); diff != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
			}
		})
	}
}

// renderEvaluation is a stable, reviewable text form of an evaluation.
func renderEvaluation(pod *v1.Pod, e *Evaluation) string {
	var b strings.Builder
	r := e.Result
	fmt.Fprintf(&b, "pod: %s/%s\n", pod.Namespace, pod.Name)
	var fitErr *core.FitError
	switch {
	case errors.As(e.Err, &fitErr):
		fmt.Fprintf(&b, "result: unschedulable\n")
	case e.Err != nil:
		fmt.Fprintf(&b, "result: error: %v\n", e.Err)
	default:
		fmt.Fprintf(&b, "result: %s\n", r.SuggestedHost)
	}
	d := r.Diagnosis
	fmt.Fprintf(&b, "nodes: %d evaluated: %d feasible: %d\n", d.NumAllNodes, r.EvaluatedNodes, r.FeasibleNodes)
	if fitErr != nil {
		fmt.Fprintf(&b, "message: %s\n", d.Message())
		fmt.Fprintf(&b, "unschedulable plugins: %s\n", strings.Join(sets.List(d.UnschedulablePlugins), ", "))
	}
	if rc := d.ReasonCounts(); len(rc) > 0 {
		b.WriteString("rejections:\n")
		for _, c := range rc {
			plugin := c.Plugin
			if plugin == "" {
				plugin = "-"
			}
			fmt.Fprintf(&b, "  %d × %s (%s): %s\n", c.Nodes, plugin, c.Code, c.Reason)
		}
	}
	if len(d.TopNodes) > 0 {
		b.WriteString("top nodes:\n")
		for _, n := range d.TopNodes {
			parts := make([]string, 0, len(n.Scores))
			for _, s := range n.Scores {
				parts = append(parts, fmt.Sprintf("%s %d", s.Name, s.Score))
			}
			fmt.Fprintf(&b, "  %s %d = %s\n", n.Name, n.TotalScore, strings.Join(parts, " + "))
		}
	}
	if r.Trace != nil {
		b.WriteString("trace:\n")
		for _, ps := range r.Trace {
			fmt.Fprintf(&b, "  %s: %s\n", ps.Plugin, ps.Status)
		}
	}
	return b.String()
}

// TestEvaluatorMatchesSchedulingCycle: the live loop and an evaluation of
// the same state agree on the FailedScheduling message (before the
// preemption part, which an evaluation never runs).
func TestEvaluatorMatchesSchedulingCycle(t *testing.T) {
	c := evalCases()[1]
	env := newTestEnv(t, envOptions{}, nodesAsObjects(c.nodes)...)
	p := c.pod.DeepCopy()
	env.createPods(p)
	env.scheduleOne()
	rep, ok := env.lastReport(p)
	if !ok {
		t.Fatal("no failure report")
	}
	_, ctx := ktesting.NewTestContext(t)
	ev := newTestEvaluator(t, ctx, c)
	got, err := ev.Evaluate(ctx, c.pod, EvaluateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	loop, _, _ := strings.Cut(rep.msg, " preemption: ")
	if diff := cmp.Diff(loop, got.Result.Diagnosis.Message()); diff != "" {
		t.Errorf("evaluation's message differs from the loop's (-loop +evaluation):\n%s", diff)
	}
}

func nodesAsObjects(nodes []*v1.Node) []runtime.Object {
	out := make([]runtime.Object, len(nodes))
	for i, n := range nodes {
		out[i] = n.DeepCopy()
	}
	return out
}
