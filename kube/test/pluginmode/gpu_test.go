package pluginmode

import (
	"fmt"
	"testing"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/gputest"
	"github.com/berthsched/berth/internal/testenv"
)

// TestGPUShare fills a group's cards through kube-scheduler-berth: whole
// cards first, then a burst of shares of 450 milli, twice as many as
// there are free cards, created at once, so that kube-scheduler assumes
// pods faster than their annotations come back and only the cards the
// assumed pods hold keep a third share off a card. Every pod must be
// bound with an assignment annotation for its node, the cards it asked
// for and its share; no card may hold more than 1000 milli nor a whole
// card be shared; and one share more must stay pending, refused by
// GPUShare in its own words.
func TestGPUShare(t *testing.T) {
	env := testenv.Current()
	startScheduler(t, profile(env.Kubeconfig, berthtest.WriteConfig(t, "nodes: {}\n")))
	g := gputest.NewGroup(t, "plugins", 0, 4)
	g.SchedulerName = schedulerName
	total := 0
	for _, n := range g.Nodes {
		total += n.Cards
	}

	asks := map[string]gputest.Ask{}
	var whole, all []string
	for i, c := range []int{2, 2, 1, 1, 1, 1, 1, 1} {
		name := fmt.Sprintf("whole-%d", i)
		asks[name] = gputest.Whole(c)
		whole = append(whole, name)
		gputest.CreatePod(t, g.Pod(name, asks[name]))
	}
	gputest.WaitBound(t, g.NS, bindTimeout, whole)
	all = append(all, whole...)
	for i := range 2 * (total - 10) {
		name := fmt.Sprintf("share-%02d", i)
		asks[name] = gputest.Share(450, "")
		all = append(all, name)
		gputest.CreatePod(t, g.Pod(name, asks[name]))
	}
	pods := gputest.WaitBound(t, g.NS, bindTimeout, all)
	use := gputest.CheckAssignments(t, g, pods, asks)
	if t.Failed() {
		gputest.LogCards(t, use)
		return
	}
	if len(use) != total {
		gputest.LogCards(t, use)
		t.Fatalf("%d cards in use; want all %d", len(use), total)
	}

	// Every card is now whole or holds 900 milli: one share more fits
	// nowhere, and the failure says so in GPUShare's words.
	gputest.CreatePod(t, g.Pod("one-too-many", gputest.Share(450, "")))
	gputest.WaitFailedScheduling(t, env.Client, g.NS, "one-too-many", "no card has 450 milli GPU free")
}
