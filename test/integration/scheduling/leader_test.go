package scheduling

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/internal/testenv"
)

// leaderConfig keeps the default lease timing (15s lease, 10s renew
// deadline, 2s retry), so the measured takeover gap is what an operator
// gets out of the box.
const leaderConfig = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  qps: 2000
  burst: 4000
leaderElection:
  leaderElect: true
  resourceNamespace: default
  resourceName: berth-leader-test
`

// startBerthProcess runs bin/berth as its own process, so that it can be
// killed like a crashed replica.
func startBerthProcess(t *testing.T, id, configPath string) *berthtest.Process {
	t.Helper()
	return berthtest.StartProcess(t, id, "run", "--config", configPath, "--leader-elect-identity", id,
		"--health-address", "0", "-v=2", "--logtostderr")
}

var boundLine = regexp.MustCompile(`^I\d{4} (\d\d:\d\d:\d\d\.\d{6}).*"Successfully bound pod to node".*pod="([^"]+)"`)

// binds parses a berth log for the pods it bound and when.
func binds(t *testing.T, path string) map[string]time.Time {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]time.Time{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := boundLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		ts, err := time.Parse("15:04:05.000000", m[1])
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := out[m[2]]; dup {
			t.Errorf("%s bound %s twice", path, m[2])
		}
		out[m[2]] = ts
	}
	return out
}

// TestLeaderFailover runs two berth processes with leader election, kills
// the leader (SIGKILL, no lease release) in the middle of a burst of 5,000
// pods, and checks that the standby takes over, every pod ends bound, and no
// pod was bound by both replicas. It logs the gap between the old leader's
// last bind and the new leader's first.
func TestLeaderFailover(t *testing.T) {
	ensureNodes(t)
	env := testenv.Current()
	ctx := context.Background()
	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(leaderConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	procs := map[string]*berthtest.Process{
		"replica-a": startBerthProcess(t, "replica-a", cfgPath),
		"replica-b": startBerthProcess(t, "replica-b", cfgPath),
	}
	var leader string
	deadline := time.Now().Add(60 * time.Second)
	for leader == "" {
		lease, err := env.Client.CoordinationV1().Leases("default").Get(ctx, "berth-leader-test", metav1.GetOptions{})
		if err == nil && lease.Spec.HolderIdentity != nil {
			leader = *lease.Spec.HolderIdentity
		}
		if time.Now().After(deadline) {
			t.Fatal("no replica acquired the lease within 60s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	standby := "replica-a"
	if leader == "replica-a" {
		standby = "replica-b"
	}
	t.Logf("leader %s, standby %s", leader, standby)

	ns := env.CreateNamespace(t, "failover")
	const total = 5000
	var pods []*v1.Pod
	for i := 0; i < total; i++ {
		pods = append(pods, st.MakePod().Name(fmt.Sprintf("p-%d", i)).Namespace(ns).SchedulerName("berth").Req("cpu", "10m", "memory", "16Mi").Obj())
	}
	createErr := make(chan error, 1)
	go func() { createErr <- createPodsE(ns, pods) }()
	waitForPods(t, env.Client, ns, 2*time.Minute, "the leader to bind some pods", func(ps []v1.Pod) (bool, string) {
		return berthtest.BoundCount(ps) >= 500, progress(ps)
	})
	// Mid-burst: pods are still being created while the leader dies.
	procs[leader].Kill(t)
	killedAt := time.Now()
	if err := <-createErr; err != nil {
		t.Fatal(err)
	}
	final := waitForPods(t, env.Client, ns, 4*time.Minute, "all pods to be bound after failover", func(ps []v1.Pod) (bool, string) {
		return len(ps) == total && berthtest.BoundCount(ps) == total, progress(ps)
	})
	t.Logf("all %d pods bound %.1fs after the leader was killed", len(final), time.Since(killedAt).Seconds())

	a, b := binds(t, procs[leader].Log), binds(t, procs[standby].Log)
	if len(b) == 0 {
		t.Fatalf("the standby bound nothing; its log is %s", procs[standby].Log)
	}
	var lastOld, firstNew time.Time
	first := true
	for pod, ts := range a {
		if _, both := b[pod]; both {
			t.Errorf("pod %s was bound by both replicas", pod)
		}
		if first || ts.After(lastOld) {
			lastOld, first = ts, false
		}
	}
	first = true
	for _, ts := range b {
		if first || ts.Before(firstNew) {
			firstNew, first = ts, false
		}
	}
	if len(a) > 0 && firstNew.Before(lastOld) {
		t.Errorf("the standby bound a pod at %s, before the old leader's last bind at %s", firstNew.Format("15:04:05.000"), lastOld.Format("15:04:05.000"))
	}
	// A bind the API server accepted just before the leader was killed may
	// have no log line; at most the binds that can be in flight at once.
	if n := len(a) + len(b); n > total || n < total-64 {
		t.Errorf("the logs account for %d binds, want between %d and %d", n, total-64, total)
	}
	t.Logf("old leader bound %d pods, new leader %d; gap between the last old and the first new bind: %v", len(a), len(b), firstNew.Sub(lastOld).Round(time.Millisecond))
}
