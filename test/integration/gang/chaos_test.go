package gang

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
)

// slowBinds is a configuration whose API clients send at most 10 requests
// a second with no burst, as against a throttled API server: a group's
// 40 binds then take about 4 s, long enough to kill berth between the
// first and the last. Nothing else differs from the defaults.
const slowBinds = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  qps: 10
  burst: 1
`

// TestKilledWhileBindingGroupEndsWhole kills berth with SIGKILL while a
// 40-member group (Kubernetes' PodGroup) is half-way through binding: as
// soon as the test's watch sees the first member bound. A new berth must
// bind the rest, so that the group ends with every member bound, and no
// pod may ever change node (bound twice). The first berth's API clients
// are rate limited (slowBinds) so that its binds are spread over seconds;
// if the whole group got bound before the kill landed anyway, the test
// tries again with a new group, and fails only if it never caught one
// half-way.
func TestKilledWhileBindingGroupEndsWhole(t *testing.T) {
	const (
		test     = "chaos"
		size     = 40
		attempts = 3
	)
	installCRDs(t)
	createNodes(t, test, nodegen.ProfileBasic, 0, 1, 2, 3)
	ns := newTestNamespace(t, "gang-"+test)
	// No grace: the group is partial while no berth runs, by design; the
	// test checks the end state and that no pod changed node.
	tr := newTracker(t, ns, 0)
	slow := berthtest.WriteConfig(t, slowBinds)

	var caught *gangJob
	var atKill int
	for attempt := 1; attempt <= attempts && caught == nil; attempt++ {
		j := &gangJob{api: apiUpstream, name: fmt.Sprintf("gang-%d", attempt), pods: size, req: cpuReq("100m")}
		tr.expect(j)
		p := startBerth(t, fmt.Sprintf("berth-%s-%d", test, attempt), "--config", slow)
		killed := make(chan int, 1)
		var once sync.Once
		tr.mu.Lock()
		tr.onBind = func(name string, bound int) {
			if name != j.name {
				return
			}
			once.Do(func() {
				_ = p.Cmd.Process.Kill()
				killed <- bound
			})
		}
		tr.mu.Unlock()

		if err := j.createGroup(ns); err != nil {
			t.Fatalf("creating PodGroup %s: %v", j.name, err)
		}
		if err := createPodsInOrder(j.allPods(ns, test), 8); err != nil {
			t.Fatal(err)
		}
		var seen int
		select {
		case seen = <-killed:
		case <-time.After(60 * time.Second):
			t.Fatalf("no member of %s was bound within 60s", j.name)
		}
		<-p.Done
		// Let a bind the dead process had already sent land, and the
		// watch catch up with it.
		time.Sleep(time.Second)
		n := tr.boundOf(j.name)
		t.Logf("attempt %d: killed %s on seeing member %d of %d bound; %d bound once it was dead", attempt, p.Name, seen, size, n)
		switch {
		case n == size:
			t.Logf("attempt %d: the whole group was bound before the kill landed; trying a new group", attempt)
			if err := tr.finish(ns, j.name); err != nil {
				t.Fatal(err)
			}
		case n == 0:
			t.Fatalf("attempt %d: saw a member of %s bound, then none", attempt, j.name)
		default:
			caught, atKill = j, n
		}
	}
	if caught == nil {
		t.Fatalf("in %d attempts berth bound every member of the group before SIGKILL landed", attempts)
	}
	tr.mu.Lock()
	tr.onBind = nil
	tr.mu.Unlock()

	// A group left partial by a crash is not a deadlock as long as the
	// next berth completes it: its bound members count toward the minimum
	// and the rest are placed as a group of the remainder.
	start := time.Now()
	startBerth(t, "berth-"+test+"-restarted")
	waitUntil(t, 60*time.Second, "every member of "+caught.name+" to be bound", func() (bool, string) {
		n := tr.boundOf(caught.name)
		return n == size, fmt.Sprintf("%d of %d bound", n, size)
	})
	t.Logf("the restarted berth bound the other %d members in %v (from its start)", size-atKill, time.Since(start).Round(time.Millisecond))

	// Read every pod back: all bound, and to the node the watch first saw.
	time.Sleep(time.Second)
	pl, err := testenv.Current().Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: jobLabel + "=" + caught.name})
	if err != nil {
		t.Fatal(err)
	}
	if len(pl.Items) != size {
		t.Errorf("%d pods of %s, want %d", len(pl.Items), caught.name, size)
	}
	tr.mu.Lock()
	for _, p := range pl.Items {
		ps := tr.pods[p.UID]
		switch {
		case p.Spec.NodeName == "":
			t.Errorf("pod %s is not bound", p.Name)
		case ps == nil || ps.node != p.Spec.NodeName:
			t.Errorf("pod %s is bound to %s; the watch saw it bound to %v", p.Name, p.Spec.NodeName, ps)
		}
	}
	tr.mu.Unlock()
	tr.verify(t)
}
