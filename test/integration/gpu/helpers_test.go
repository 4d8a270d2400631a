package gpu

import (
	"testing"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/gputest"
)

// The nodes, pods and card checks are gputest's, shared with the
// extender's test.
type (
	ask     = gputest.Ask
	cardKey = gputest.CardKey
)

var (
	newGroup             = gputest.NewGroup
	whole                = gputest.Whole
	share                = gputest.Share
	createPod            = gputest.CreatePod
	listPods             = gputest.ListPods
	getPod               = gputest.GetPod
	waitBound            = gputest.WaitBound
	checkAssignments     = gputest.CheckAssignments
	logCards             = gputest.LogCards
	waitFailedScheduling = gputest.WaitFailedScheduling
)

// startBerth runs `berth run` (no leader election, default profile) as a
// child process against the test cluster and returns once its /readyz
// answers, that is once its informers and event handlers have synced.
func startBerth(t *testing.T, name string) *berthtest.Process {
	t.Helper()
	return berthtest.StartRun(t, name)
}
