package spread

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }

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

// startBerth runs berth in-process (default plugins) until the test ends.
func startBerth(t *testing.T) { berthtest.Start(t, nil) }
