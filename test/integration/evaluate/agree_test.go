package evaluate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"

	"github.com/berthsched/berth/cmd/berth/app"
	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/explain"
	"github.com/berthsched/berth/pkg/scheduler"
	"github.com/berthsched/berth/pkg/scheduler/core"
)

const (
	numNodes = 60
	numPods  = 200
)

// TestEvaluationAgreesWithScheduler creates random pods one at a time,
// waits for berth to bind each or report it unschedulable, and evaluates
// the same pod on the cluster state read back from the API server (the
// pod itself left out). The pods only use constraints that more pods can
// never lift (requests, selectors, taints, required anti-affinity), so a
// pod left pending stays pending and the state berth decided on is the
// state read back.
func TestEvaluationAgreesWithScheduler(t *testing.T) {
	env := testenv.Current()
	c := env.Client
	ctx := context.Background()
	if _, err := nodegen.Create(ctx, c, nodegen.Options{Count: numNodes, Profile: nodegen.ProfileMixed, Zones: 3}); err != nil {
		t.Fatal(err)
	}
	taintSome(t, c)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	berthtest.Start(t, &app.RunOptions{Listener: ln})
	debugURL := "http://" + ln.Addr().String() + "/debug/explain"
	ns := env.CreateNamespace(t, "agree")

	rng := rand.New(rand.NewPCG(12, 1))
	bound, pending := 0, 0
	for i := range numPods {
		pod := randomPod(rng, ns, i)
		if _, err := c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		got := waitDecided(t, c, ns, pod.Name)
		eval := evaluate(t, c, got)
		if got.Spec.NodeName != "" {
			bound++
			if !feasible(eval.Result, got.Spec.NodeName) {
				t.Errorf("pod %s: berth bound it to %s, which the evaluation does not count feasible (%d feasible, error %v)", got.Name, got.Spec.NodeName, eval.Result.FeasibleNodes, eval.Err)
			}
			continue
		}
		pending++
		var fitErr *core.FitError
		if !errors.As(eval.Err, &fitErr) {
			t.Errorf("pod %s: berth left it pending (%q), the evaluation found it a node: %q (err %v)", got.Name, condition(got).Message, eval.Result.SuggestedHost, eval.Err)
			continue
		}
		// Evaluations never preempt; compare what precedes berth's
		// preemption report.
		want, _, _ := strings.Cut(condition(got).Message, " preemption: ")
		if gotMsg := fitErr.Diagnosis.Message(); gotMsg != want {
			t.Errorf("pod %s: FailedScheduling says\n  %q\nthe evaluation says\n  %q", got.Name, want, gotMsg)
		}
		// The running scheduler's own view, from its cache, says the same.
		if live := debugExplain(t, debugURL, got); live.Schedulable || live.Message != want {
			t.Errorf("pod %s: /debug/explain says schedulable=%v\n  %q\nFailedScheduling says\n  %q", got.Name, live.Schedulable, live.Message, want)
		}
	}
	t.Logf("%d pods bound, %d left pending; every decision agreed with its evaluation", bound, pending)
	// Both outcomes must be exercised, or the test proves half of what it
	// claims.
	if bound < numPods/4 || pending < numPods/10 {
		t.Fatalf("bound %d, pending %d: the random pods no longer exercise both outcomes", bound, pending)
	}
}

// taintSome taints every seventh node; some pods tolerate it.
func taintSome(t *testing.T, c kubernetes.Interface) {
	t.Helper()
	ctx := context.Background()
	nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range nodes.Items {
		if i%7 != 0 {
			continue
		}
		n := &nodes.Items[i]
		n.Spec.Taints = append(n.Spec.Taints, v1.Taint{Key: "dedicated", Value: "infra", Effect: v1.TaintEffectNoSchedule})
		if _, err := c.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// randomPod mixes requests (some larger than any node), zone selectors
// (some naming no zone), tolerations and self anti-affinity per host.
func randomPod(rng *rand.Rand, ns string, i int) *v1.Pod {
	cpu := fmt.Sprintf("%dm", 250*(1+rng.IntN(12)))
	mem := fmt.Sprintf("%dMi", 256*(1+rng.IntN(16)))
	if rng.IntN(15) == 0 {
		cpu = "200" // larger than every node
	}
	w := st.MakePod().Name(fmt.Sprintf("p-%03d", i)).Namespace(ns).SchedulerName(config.DefaultSchedulerName).Req("cpu", cpu, "memory", mem)
	switch rng.IntN(6) {
	case 0:
		w.NodeSelector(map[string]string{v1.LabelTopologyZone: fmt.Sprintf("zone-%c", 'a'+rng.IntN(3))})
	case 1:
		w.NodeSelector(map[string]string{v1.LabelTopologyZone: "zone-x"})
	case 2:
		w.NodeSelector(map[string]string{nodegen.LabelDiskType: "ssd"})
	}
	if rng.IntN(3) == 0 {
		w.EqualToleration("dedicated", "infra", v1.TaintEffectNoSchedule)
	}
	if rng.IntN(4) == 0 {
		app := fmt.Sprintf("web-%d", rng.IntN(3))
		w.Label("app", app).PodAntiAffinity(v1.LabelHostname, &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}})
	}
	return w.Obj()
}

func condition(p *v1.Pod) v1.PodCondition {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodScheduled {
			return c
		}
	}
	return v1.PodCondition{}
}

// waitDecided polls until the pod is bound or marked unschedulable.
func waitDecided(t *testing.T, c kubernetes.Interface, ns, name string) *v1.Pod {
	t.Helper()
	var pod *v1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		pod = p
		cond := condition(p)
		return p.Spec.NodeName != "" || (cond.Status == v1.ConditionFalse && cond.Reason == v1.PodReasonUnschedulable), nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s was neither bound nor reported unschedulable: %v", ns, name, err)
	}
	return pod
}

// evaluate runs the core for pod on the cluster as the API server has it
// now (loaded the way `berth explain` loads it), without the pod itself.
func evaluate(t *testing.T, c kubernetes.Interface, pod *v1.Pod) *scheduler.Evaluation {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	cl := berthtest.ExplainCluster(t, ctx, c)
	defer cl.Close()
	ev := cl.Evaluator()
	if pod.Spec.NodeName != "" {
		if err := ev.Cache().RemovePod(klog.FromContext(ctx), pod); err != nil {
			t.Fatal(err)
		}
	}
	pending := pod.DeepCopy()
	pending.Spec.NodeName = ""
	eval, err := ev.Evaluate(ctx, pending, scheduler.EvaluateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return eval
}

// debugExplain asks berth's /debug/explain about pod.
func debugExplain(t *testing.T, base string, pod *v1.Pod) *explain.Explanation {
	t.Helper()
	resp, err := http.Get(base + "?pod=" + pod.Namespace + "/" + pod.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /debug/explain for %s: %d %s", pod.Name, resp.StatusCode, body)
	}
	var e explain.Explanation
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("decoding /debug/explain: %v: %.300s", err, body)
	}
	return &e
}

func feasible(r core.Result, node string) bool {
	for _, ni := range r.Feasible {
		if ni.Node().Name == node {
			return true
		}
	}
	return false
}
