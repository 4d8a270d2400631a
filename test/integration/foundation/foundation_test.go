package foundation

import (
	"context"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
)

const nodeCount = 1000

func TestNodesAndBinding(t *testing.T) {
	env := testenv.Current()
	ctx := context.Background()

	start := time.Now()
	res, err := nodegen.Create(ctx, env.Client, nodegen.Options{Count: nodeCount, Profile: nodegen.ProfileMixed, Prefix: "fnd-"})
	if err != nil {
		t.Fatalf("generate nodes: %v", err)
	}
	t.Logf("created %d nodes in %s", res.Created, time.Since(start).Round(time.Millisecond))

	nodes, err := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != nodeCount {
		t.Fatalf("listed %d nodes, want %d", len(nodes.Items), nodeCount)
	}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if nodegen.HasNotReadyTaint(n) {
			t.Fatalf("node %s still has the not-ready taint: %v", n.Name, n.Spec.Taints)
		}
		if !nodegen.IsReady(n) {
			t.Fatalf("node %s has no Ready=True condition: %v", n.Name, n.Status.Conditions)
		}
		if n.Status.Allocatable.Pods().Value() != 110 || n.Status.Allocatable.Cpu().IsZero() {
			t.Fatalf("node %s has unexpected allocatable %v", n.Name, n.Status.Allocatable)
		}
		if n.Labels[v1.LabelTopologyZone] == "" || n.Labels[v1.LabelHostname] != n.Name {
			t.Fatalf("node %s has unexpected labels %v", n.Name, n.Labels)
		}
	}

	ns := env.CreateNamespace(t, "foundation")
	pod, err := env.Client.CoreV1().Pods(ns).Create(ctx, &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: v1.PodSpec{
			SchedulerName: "berth",
			Containers: []v1.Container{{
				Name:  "c",
				Image: "registry.k8s.io/pause:3.10",
				Resources: v1.ResourceRequirements{Requests: v1.ResourceList{
					v1.ResourceCPU:    resource.MustParse("100m"),
					v1.ResourceMemory: resource.MustParse("64Mi"),
				}},
			}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod: %v", err)
	}
	target := nodes.Items[nodeCount/2].Name
	err = env.Client.CoreV1().Pods(ns).Bind(ctx, &v1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, UID: pod.UID},
		Target:     v1.ObjectReference{Kind: "Node", Name: target},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("bind pod: %v", err)
	}
	got, err := env.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.NodeName != target {
		t.Fatalf("pod bound to %q, want %q", got.Spec.NodeName, target)
	}
	// A second binding must be rejected: the API server enforces bind-once.
	err = env.Client.CoreV1().Pods(ns).Bind(ctx, &v1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name},
		Target:     v1.ObjectReference{Kind: "Node", Name: nodes.Items[0].Name},
	}, metav1.CreateOptions{})
	if err == nil {
		t.Fatal("second binding succeeded, want conflict")
	}
}

func TestNamespaceHasDefaultServiceAccount(t *testing.T) {
	env := testenv.Current()
	ns := env.CreateNamespace(t, "sa")
	if _, err := env.Client.CoreV1().ServiceAccounts(ns).Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("default service account: %v", err)
	}
}
