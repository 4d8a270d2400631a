package pluginmode

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }

const (
	// binary is kube-scheduler-berth's name in the bin directory.
	binary = "kube-scheduler-berth"
	// schedulerName is the profile that enables berth's plugins.
	schedulerName = "berth-plugins"
	// groupLabel on a node names the test that created it; the test's
	// pods select it.
	groupLabel = "pluginmode.berth.io/group"
	// bindTimeout bounds how long a test waits for its pods.
	bindTimeout = 90 * time.Second
)

// profile is the berth-plugins profile: every berth-only plugin through
// multiPoint, their args in pluginConfig. loads is LoadAware's file
// source.
func profile(kubeconfig, loads string) string {
	return fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %s
leaderElection:
  leaderElect: false
profiles:
- schedulerName: %s
  plugins:
    multiPoint:
      enabled:
      - name: GPUShare
        weight: 5
      - name: NodePreference
        weight: 10
      - name: LoadAware
        weight: 10
      - name: NetworkAware
      - name: StorageLocality
  pluginConfig:
  - name: GPUShare
    args:
      policy: FGD
  - name: NodePreference
    args:
      ruleSets:
      - name: fast-disk
        selector:
          labelSelector:
            matchLabels: {app: pref-db}
        preferred:
        - weight: 1
          labelValues:
            key: disk-type
            values: {nvme: 100, ssd: 50, hdd: 0}
  - name: LoadAware
    args:
      source:
        type: file
        file: {path: %s}
`, kubeconfig, schedulerName, loads)
}

// startScheduler runs kube-scheduler-berth with the configuration (no
// serving port: the test watches pods, not health endpoints).
func startScheduler(t *testing.T, cfg string) *berthtest.Process {
	t.Helper()
	return berthtest.StartBinary(t, binary, binary, "--config", berthtest.WriteConfig(t, cfg), "--secure-port=0", "-v=2")
}

// newNodes creates count nodes of the profile named <test>-NNNNN,
// labelled groupLabel=group (plus labels), and a namespace; both go when
// t ends.
func newNodes(t *testing.T, group string, profile nodegen.Profile, count int, labels map[int]map[string]string) (names []string, ns string) {
	t.Helper()
	env := testenv.Current()
	ctx := context.Background()
	opts := nodegen.Options{Count: count, Profile: profile, Prefix: group + "-", Zones: 1}
	if _, err := nodegen.Create(ctx, env.Client, opts); err != nil {
		t.Fatalf("creating nodes: %v", err)
	}
	for i := range count {
		name := nodegen.NodeName(opts, i)
		l := map[string]string{groupLabel: group}
		for k, v := range labels[i] {
			l[k] = v
		}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": l}})
		if _, err := env.Client.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatalf("labelling node %s: %v", name, err)
		}
		names = append(names, name)
	}
	t.Cleanup(func() {
		for _, n := range names {
			if err := env.Client.CoreV1().Nodes().Delete(context.Background(), n, metav1.DeleteOptions{}); err != nil {
				t.Errorf("deleting node %s: %v", n, err)
			}
		}
	})
	ns = env.CreateNamespace(t, group)
	t.Cleanup(func() {
		err := env.Client.CoreV1().Pods(ns).DeleteCollection(context.Background(),
			metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{})
		if err != nil {
			t.Errorf("deleting the pods of %s: %v", ns, err)
		}
	})
	return names, ns
}

func createPod(t *testing.T, p *v1.Pod) {
	t.Helper()
	if _, err := testenv.Current().Client.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating pod %s: %v", p.Name, err)
	}
}

// waitBound waits until every named pod of ns is bound and returns the
// namespace's pods by name.
func waitBound(t *testing.T, ns string, names ...string) map[string]v1.Pod {
	t.Helper()
	var byName map[string]v1.Pod
	berthtest.WaitFor(t, bindTimeout, fmt.Sprintf("%d pods to be bound", len(names)), func() (bool, string) {
		l, err := testenv.Current().Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		byName = map[string]v1.Pod{}
		for _, p := range l.Items {
			byName[p.Name] = p
		}
		var missing []string
		for _, n := range names {
			if byName[n].Spec.NodeName == "" {
				missing = append(missing, n)
			}
		}
		return len(missing) == 0, "not bound: " + strings.Join(missing, ", ")
	})
	return byName
}
