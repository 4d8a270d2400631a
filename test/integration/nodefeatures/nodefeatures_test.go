package nodefeatures

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/plugins/nodedeclaredfeatures"
)

// restartAll is the feature a RestartAllContainers restart rule needs.
const restartAll = "RestartAllContainersOnContainerExits"

// TestPodWaitsForDeclaredFeature: a pod with a RestartAllContainers restart
// rule stays pending, with NodeDeclaredFeatures' reason for every node, while
// no node declares the feature (a node declaring only names the scheduler
// does not know does not count); a plain pod schedules meanwhile. When one
// node starts declaring the feature, the status update alone requeues the
// pod (well before the unschedulable pool's periodic flush), and it lands on
// that node.
func TestPodWaitsForDeclaredFeature(t *testing.T) {
	env := testenv.Current()
	ctx := context.Background()
	c := env.Client
	opts := nodegen.Options{Count: 3}
	if _, err := nodegen.Create(ctx, c, opts); err != nil {
		t.Fatalf("creating nodes: %v", err)
	}
	setDeclaredFeatures(t, c, nodegen.NodeName(opts, 1), "AFutureFeature", "Vendor/fastPath")
	berthtest.Start(t, nil)

	ns := env.CreateNamespace(t, "features")
	needs := st.MakePod().Name("needs-feature").Namespace(ns).SchedulerName("berth").Req("cpu", "100m").Obj()
	needs.Spec.Containers[0].RestartPolicy = ptr.To(v1.ContainerRestartPolicyNever)
	needs.Spec.Containers[0].RestartPolicyRules = []v1.ContainerRestartRule{{
		Action:    v1.ContainerRestartRuleActionRestartAllContainers,
		ExitCodes: &v1.ContainerRestartRuleOnExitCodes{Operator: v1.ContainerRestartRuleOnExitCodesOpIn, Values: []int32{42}},
	}}
	plain := st.MakePod().Name("plain").Namespace(ns).SchedulerName("berth").Req("cpu", "100m").Obj()
	for _, p := range []*v1.Pod{needs, plain} {
		if _, err := c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	waitForPod(t, c, ns, "plain", "the plain pod to be bound", func(p *v1.Pod) (bool, string) {
		return p.Spec.NodeName != "", "not bound"
	})
	waitForPod(t, c, ns, "needs-feature", "the pod needing a feature to be unschedulable", func(p *v1.Pod) (bool, string) {
		if p.Spec.NodeName != "" {
			t.Fatalf("pod needing %s bound to %s, which does not declare it", restartAll, p.Spec.NodeName)
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == v1.PodScheduled && cond.Status == v1.ConditionFalse && cond.Reason == v1.PodReasonUnschedulable {
				return strings.Contains(cond.Message, "3 "+nodedeclaredfeatures.ErrReasonUnsatisfiedRequirements), cond.Message
			}
		}
		return false, "no PodScheduled=False condition"
	})

	target := nodegen.NodeName(opts, 2)
	setDeclaredFeatures(t, c, target, restartAll)
	got := waitForPod(t, c, ns, "needs-feature", "the pod needing a feature to be bound", func(p *v1.Pod) (bool, string) {
		return p.Spec.NodeName != "", "not bound"
	})
	if got.Spec.NodeName != target {
		t.Errorf("pod bound to %s, want %s, the only node declaring %s", got.Spec.NodeName, target, restartAll)
	}
}

// setDeclaredFeatures replaces a node's status.declaredFeatures (sorted, as
// the API server requires).
func setDeclaredFeatures(t *testing.T, c kubernetes.Interface, node string, features ...string) {
	t.Helper()
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"declaredFeatures": features}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Nodes().Patch(context.Background(), node, types.MergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		t.Fatalf("declaring features on %s: %v", node, err)
	}
}

// waitForPod polls the pod for up to 30 seconds until cond holds.
func waitForPod(t *testing.T, c kubernetes.Interface, ns, name, what string, cond func(*v1.Pod) (bool, string)) *v1.Pod {
	t.Helper()
	var pod *v1.Pod
	last := ""
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		pod = p
		ok, msg := cond(p)
		last = msg
		return ok, nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v (last: %s)", what, err, last)
	}
	return pod
}
