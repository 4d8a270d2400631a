package spread

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/wait"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/cmd/berth/app"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins"
	"github.com/berthsched/berth/pkg/plugins/podtopologyspread"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }

// registry is the in-tree registry plus PodTopologySpread, which the
// default profile then enables.
func registry() framework.Registry {
	reg := plugins.NewInTreeRegistry()
	reg[podtopologyspread.Name] = framework.Registration{Factory: podtopologyspread.New, Args: &framework.ArgsSpec{
		New: func() runtime.Object { return &configv1.PodTopologySpreadArgs{} },
		Default: func(o runtime.Object) {
			podtopologyspread.SetDefaultArgs(o.(*configv1.PodTopologySpreadArgs))
		},
		Validate: func(o runtime.Object, p *field.Path) field.ErrorList {
			return podtopologyspread.ValidateArgs(o.(*configv1.PodTopologySpreadArgs), p)
		},
	}}
	return reg
}

// startBerth runs berth in-process, without leader election, until the
// test ends.
func startBerth(t *testing.T) {
	t.Helper()
	off := false
	o := &app.RunOptions{
		Kubeconfig:    testenv.Current().Kubeconfig,
		HealthAddress: "0",
		Ready:         make(chan struct{}),
		LeaderElect:   &off,
		Registry:      registry(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, o, io.Discard) }()
	select {
	case <-o.Ready:
	case err := <-done:
		cancel()
		t.Fatalf("berth exited before becoming ready: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("berth did not become ready within 60s")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("berth returned an error: %v", err)
		}
	})
}

// createPods creates the pods with a few concurrent clients, in the order
// given, so workloads listed interleaved are created interleaved.
func createPods(t *testing.T, ns string, pods []*v1.Pod) {
	t.Helper()
	c := testenv.Current().Client
	var wg sync.WaitGroup
	errs := make(chan error, len(pods))
	work := make(chan *v1.Pod)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				if _, err := c.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
					errs <- fmt.Errorf("create %s: %w", p.Name, err)
				}
			}
		}()
	}
	for _, p := range pods {
		work <- p
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// waitAllBound polls until every pod of ns is bound and returns them.
func waitAllBound(t *testing.T, ns string, want int, timeout time.Duration) []v1.Pod {
	t.Helper()
	c := testenv.Current().Client
	var pods []v1.Pod
	var bound int
	err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		pods, bound = list.Items, 0
		for _, p := range pods {
			if p.Spec.NodeName != "" {
				bound++
			}
		}
		return bound == want && len(pods) == want, nil
	})
	if err != nil {
		t.Fatalf("waiting for %d pods to be bound: %v (%d/%d bound)", want, err, bound, len(pods))
	}
	return pods
}
