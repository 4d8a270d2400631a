package extender

import (
	"fmt"
	"testing"
	"time"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/gputest"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
)

const bindSuccess = `berth_extender_requests_total{result="success",verb="bind"}`

// TestGPUSharesThroughStockKubeScheduler: the stock kube-scheduler, with
// berth as its extender, keeps a malformed GPU share pending with berth's
// reason in its FailedScheduling event (the filter verb's
// FailedAndUnresolvableNodes), and binds whole-card pods and shares, one
// after the other, through berth's bind verb: every pod gets an
// assignment annotation that matches its ask, no card is oversubscribed,
// and every binding was made by the extender.
func TestGPUSharesThroughStockKubeScheduler(t *testing.T) {
	g := gputest.NewGroup(t, "ext", 2, 2)
	g.SchedulerName = kubeSchedulerName
	s := startShells(t, nil)

	bad := g.Pod("milli-1500", gputest.Share(100, ""))
	bad.Annotations[gpushare.AnnotationMilli] = "1500"
	gputest.CreatePod(t, bad)
	note := gputest.WaitFailedScheduling(t, testenv.Current().Client, g.NS, bad.Name, gpushare.AnnotationMilli+"=1500 is outside 1..1000")
	t.Logf("kube-scheduler's event for %s: %s", bad.Name, note)

	asks := map[string]gputest.Ask{}
	var order []string
	for i, a := range []gputest.Ask{
		gputest.Whole(2), gputest.Whole(1), gputest.Share(500, ""), gputest.Share(300, "16Gi"),
		gputest.Share(500, ""), gputest.Whole(1), gputest.Share(250, "8Gi"), gputest.Share(700, ""),
	} {
		name := fmt.Sprintf("p%d-%dx%dm", i, a.Cards, a.Milli)
		asks[name] = a
		order = append(order, name)
	}
	// One at a time, so each decision is made on the previous one's
	// cards: the extender's cache must already hold them.
	var pods = gputest.ListPods(t, g.NS)
	for _, name := range order {
		gputest.CreatePod(t, g.Pod(name, asks[name]))
		pods = gputest.WaitBound(t, g.NS, 60*time.Second, []string{name})
		s.alive(t)
	}
	use := gputest.CheckAssignments(t, g, pods, asks)
	gputest.LogCards(t, use)
	if got := s.metric(t, bindSuccess); got != float64(len(order)) {
		t.Errorf("the extender bound %v pods, want all %d: kube-scheduler must delegate binding to it", got, len(order))
	}
	if p := gputest.GetPod(t, g.NS, bad.Name); p.Spec.NodeName != "" {
		t.Errorf("%s was bound to %s", bad.Name, p.Spec.NodeName)
	}
}

// TestBurstDoesNotOversubscribe: four whole-card pods, then thirty shares
// created at once on three 4-card nodes. kube-scheduler filters the next
// pod while earlier binds are still in flight, so berth's filter answers
// without knowing their cards; the bind verb, which evaluates again under
// the lock and assumes the pod in berth's cache before answering, is what
// must keep every card within its capacity. The shares (100, 200 and 250
// milli, 5,500 in all) fit the eight free cards however they are spread:
// a 250 could only fail once every card had more than 750 taken, 6,008
// in all. Every pod must be bound, by the extender, with a correct
// assignment, and once the informer has caught up no pod stays assumed.
func TestBurstDoesNotOversubscribe(t *testing.T) {
	g := gputest.NewGroup(t, "burst", 2, 3)
	g.SchedulerName = kubeSchedulerName
	s := startShells(t, nil)

	asks := map[string]gputest.Ask{}
	var wholes, shares []string
	for i := range 4 {
		name := fmt.Sprintf("whole-%d", i)
		asks[name] = gputest.Whole(1)
		wholes = append(wholes, name)
	}
	for i := range 30 {
		milli := []int64{100, 200, 250}[i%3]
		name := fmt.Sprintf("share-%02d-%dm", i, milli)
		asks[name] = gputest.Share(milli, "")
		shares = append(shares, name)
	}
	for _, name := range wholes {
		gputest.CreatePod(t, g.Pod(name, asks[name]))
	}
	gputest.WaitBound(t, g.NS, 60*time.Second, wholes)
	for _, name := range shares {
		gputest.CreatePod(t, g.Pod(name, asks[name]))
	}
	pods := gputest.WaitBound(t, g.NS, 180*time.Second, append(append([]string{}, wholes...), shares...))
	s.alive(t)
	use := gputest.CheckAssignments(t, g, pods, asks)
	if t.Failed() {
		gputest.LogCards(t, use)
	}
	if got := s.metric(t, bindSuccess); got != float64(len(asks)) {
		t.Errorf("the extender bound %v pods, want all %d", got, len(asks))
	}
	t.Logf("binds refused by berth's re-check (filter raced with a bind): %v",
		s.metric(t, `berth_extender_requests_total{result="error",verb="bind"}`))
	berthtest.WaitFor(t, 30*time.Second, "the informer to confirm every bound pod", func() (bool, string) {
		n := s.metric(t, "berth_extender_assumed_pods")
		return n == 0, fmt.Sprintf("%v pods still assumed", n)
	})
}
