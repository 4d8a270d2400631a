package scheduler

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestErrorSeriesExistBeforeAnyError: every bind error reason and drift
// kind is exported at 0 by a scheduler that never failed, so that the
// first error is an increase the alerts see.
func TestErrorSeriesExistBeforeAnyError(t *testing.T) {
	env := newTestEnv(t, envOptions{}, node("n1", "4").Obj())
	if n := testutil.CollectAndCount(env.metrics.BindErrors); n != 4 {
		t.Errorf("bind error series = %d, want 4 (conflict, not_found, transient, error)", n)
	}
	if n := testutil.CollectAndCount(env.metrics.CacheDrift); n != 9 {
		t.Errorf("cache drift series = %d, want one per drift kind (9)", n)
	}
	if v := counterValue(env.metrics.BindErrors.WithLabelValues(string(bindTransient))); v != 0 {
		t.Errorf("bind errors{transient} = %v before any bind", v)
	}
}

// TestCreationToBindIncludesTheWaitBeforeTheFirstAttempt: a pod created
// 90 s before berth first tries it is observed at 90 s, not at the
// attempt's own latency.
func TestCreationToBindIncludesTheWaitBeforeTheFirstAttempt(t *testing.T) {
	env := newTestEnv(t, envOptions{}, node("n1", "4").Obj())
	pod := pendingPod("p").Req("cpu", "1").Obj()
	pod.CreationTimestamp = metav1.NewTime(env.clock.Now().Add(-90 * time.Second))
	env.createPods(pod)

	env.scheduleOne()
	env.waitFor("the bind", func() bool { return env.boundTo()["p"] == "n1" })
	env.waitFor("the observation", func() bool {
		var m dto.Metric
		_ = env.metrics.PodCreationToBindDuration.Write(&m)
		return m.GetHistogram().GetSampleCount() == 1
	})
	var m dto.Metric
	if err := env.metrics.PodCreationToBindDuration.Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetHistogram().GetSampleSum(); got < 90 || got > 91 {
		t.Errorf("creation to bind = %vs, want 90s (the fake clock does not move)", got)
	}
}
