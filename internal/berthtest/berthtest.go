package berthtest

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/cmd/berth/app"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/explain"
	"github.com/berthsched/berth/pkg/plugins"
)

// ReadyTimeout bounds how long Start waits for berth's informers to sync.
const ReadyTimeout = 60 * time.Second

// Start runs berth with o until t ends. Unset fields get test defaults:
// the kubeconfig of testenv.Current(), no health endpoint, and leader
// election off unless a config file or o.LeaderElect says otherwise. It
// returns once berth's caches are synced.
func Start(t testing.TB, o *app.RunOptions) {
	t.Helper()
	if o == nil {
		o = &app.RunOptions{}
	}
	if o.Kubeconfig == "" {
		o.Kubeconfig = testenv.Current().Kubeconfig
	}
	if o.HealthAddress == "" {
		o.HealthAddress = "0"
	}
	if o.LeaderElect == nil && o.ConfigFile == "" {
		o.LeaderElect = ptr.To(false)
	}
	o.Ready = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, o, io.Discard) }()
	select {
	case <-o.Ready:
	case err := <-done:
		cancel()
		t.Fatalf("berth exited before becoming ready: %v", err)
	case <-time.After(ReadyTimeout):
		cancel()
		t.Fatalf("berth did not become ready within %v", ReadyTimeout)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("berth returned an error: %v", err)
		}
	})
}

// ExplainCluster loads the cluster c serves into an explain.Cluster with
// the default configuration and the in-tree plugins, as `berth explain`
// without --config does. The caller closes it.
func ExplainCluster(t testing.TB, ctx context.Context, c kubernetes.Interface) *explain.Cluster {
	t.Helper()
	reg := plugins.NewInTreeRegistry()
	cfg, err := config.Load(nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := explain.FromCluster(ctx, explain.ClusterOptions{Client: c, Config: cfg, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// WaitFor polls cond every 250ms until it holds, failing the test after
// timeout with what and cond's last explanation.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		ok, msg := cond()
		last = msg
		return ok, nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v (last: %s)", what, err, last)
	}
}

// FindEvent looks for an event of reason about the object name in ns
// whose note holds every one of want. It returns the note when found;
// otherwise why not (the last such event's note, or that there is none),
// for a WaitFor message.
func FindEvent(ctx context.Context, c kubernetes.Interface, ns, name, reason string, want ...string) (note, why string, found bool) {
	evs, err := c.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err.Error(), false
	}
	why = "no " + reason + " event"
	for _, e := range evs.Items {
		if e.Regarding.Name != name || e.Reason != reason {
			continue
		}
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(e.Note, w)
		}
		if ok {
			return e.Note, "", true
		}
		why = fmt.Sprintf("event %q lacks one of %q", e.Note, want)
	}
	return "", why, false
}

// ExtenderConfig is a KubeSchedulerConfiguration for the stock
// kube-scheduler: one profile, schedulerName, whose extender stanza calls
// berth extender at url with every verb, nodeCacheCapable and not
// ignorable, with the given weight; extra (YAML lines of the stanza, such
// as enableHTTPS) is appended to it.
func ExtenderConfig(kubeconfig, schedulerName, url string, weight int, extra string) string {
	return fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %s
leaderElection:
  leaderElect: false
profiles:
- schedulerName: %s
extenders:
- urlPrefix: %s
  filterVerb: filter
  prioritizeVerb: prioritize
  preemptVerb: preempt
  bindVerb: bind
  weight: %d
  nodeCacheCapable: true
  ignorable: false
  httpTimeout: 30s
%s`, kubeconfig, schedulerName, url, weight, extra)
}
