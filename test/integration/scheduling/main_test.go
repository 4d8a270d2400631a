package scheduling

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/berthsched/berth/cmd/berth/app"
	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }

const numNodes = 1000

var (
	nodesOnce sync.Once
	nodesErr  error
)

// ensureNodes creates the shared fleet once: numNodes mixed nodes over three
// zones.
func ensureNodes(t *testing.T) {
	t.Helper()
	nodesOnce.Do(func() {
		_, nodesErr = nodegen.Create(context.Background(), testenv.Current().Client, nodegen.Options{
			Count: numNodes, Profile: nodegen.ProfileMixed, Zones: 3,
		})
	})
	if nodesErr != nil {
		t.Fatalf("creating nodes: %v", nodesErr)
	}
}

// startBerth runs berth in-process until the test ends, with the given
// config file contents (leader election off when there is none).
func startBerth(t *testing.T, configYAML string) {
	t.Helper()
	o := &app.RunOptions{}
	if configYAML != "" {
		path := t.TempDir() + "/config.yaml"
		if err := os.WriteFile(path, []byte(configYAML), 0o644); err != nil {
			t.Fatal(err)
		}
		o.ConfigFile = path
	}
	berthtest.Start(t, o)
}

// waitForPods polls until cond holds for the pods of ns.
func waitForPods(t *testing.T, c kubernetes.Interface, ns string, timeout time.Duration, what string, cond func([]v1.Pod) (bool, string)) []v1.Pod {
	t.Helper()
	var pods []v1.Pod
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		pods = list.Items
		ok, msg := cond(pods)
		last = msg
		return ok, nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v (last: %s)", what, err, last)
	}
	return pods
}

func progress(pods []v1.Pod) string {
	return fmt.Sprintf("%d/%d bound", berthtest.BoundCount(pods), len(pods))
}
