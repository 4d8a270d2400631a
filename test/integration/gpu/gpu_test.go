package gpu

import (
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
)

// TestMixedSharesAndWholeCards: on four GPU nodes (4, 8, 4 and 4 cards;
// 40 GB cards on the 4-card nodes, 80 GB on the other), malformed
// requests stay pending with a FailedScheduling event that says what is
// wrong; then a burst of whole-card pods (4, 2, 2, 1, 1 cards) and
// sixteen shares of 50 to 900 milli, some with card memory (three of 30Gi,
// which no 40 GB card can hold twice), is all bound with assignments that
// match what each pod asked for and oversubscribe no card.
func TestMixedSharesAndWholeCards(t *testing.T) {
	g := newGroup(t, "mix", 0, 4)
	startBerth(t, "berth")
	c := testenv.Current().Client

	// The malformed requests go first, onto empty nodes, so that what
	// their messages say depends only on the request.
	bad := []struct {
		name        string
		annotations map[string]string
		want        []string
	}{
		{"milli-1500", map[string]string{gpushare.AnnotationMilli: "1500"},
			[]string{gpushare.AnnotationMilli + "=1500 is outside 1..1000"}},
		{"milli-0", map[string]string{gpushare.AnnotationMilli: "0"},
			[]string{gpushare.AnnotationMilli + "=0 is outside 1..1000"}},
		{"milli-abc", map[string]string{gpushare.AnnotationMilli: "abc"},
			[]string{gpushare.AnnotationMilli + `="abc" is not an integer`}},
		// 100Gi is more than any card has: every node is rejected for
		// that, and the closest node's cards are named with their memory.
		{"memory-100gi", map[string]string{gpushare.AnnotationMilli: "500", gpushare.AnnotationMemory: "100Gi"},
			[]string{"pod asks 102400 MiB of GPU memory, more than any card has",
				"card 0 has ", " MiB memory free; card 1 has ", "pod asks 500 milli and 102400 MiB"}},
		{"model-b200", map[string]string{gpushare.AnnotationMilli: "250", gpushare.AnnotationModel: "NVIDIA-B200"},
			[]string{"GPU model NVIDIA-", " not accepted by the pod"}},
	}
	for _, b := range bad {
		p := g.Pod(b.name, share(100, ""))
		p.Annotations = b.annotations
		createPod(t, p)
	}
	for _, b := range bad {
		note := waitFailedScheduling(t, c, g.NS, b.name, b.want...)
		t.Logf("%s: %s", b.name, note)
	}

	asks := map[string]ask{}
	var order []string
	add := func(name string, a ask) {
		asks[name] = a
		order = append(order, name)
	}
	// Whole cards first: they need untouched cards (the 4-card pod a
	// whole node), and they teach berth's learner that whole-card pods
	// are part of the typical workload, against which the shares are
	// then packed.
	add("whole-4", whole(4))
	add("whole-2a", whole(2))
	add("whole-2b", whole(2))
	add("whole-1a", whole(1))
	add("whole-1b", whole(1))
	for i, s := range []ask{
		share(100, ""), share(250, ""), share(300, "30Gi"), share(300, "30Gi"),
		share(300, "30Gi"), share(460, "8Gi"), share(500, ""), share(500, ""),
		share(700, "16Gi"), share(200, "20480Mi"), share(200, "20480Mi"), share(150, ""),
		share(900, ""), share(50, ""), share(250, "8Gi"), share(400, ""),
	} {
		add(fmt.Sprintf("share-%02d-%dm", i, s.Milli), s)
	}
	for _, name := range order {
		createPod(t, g.Pod(name, asks[name]))
	}
	pods := waitBound(t, g.NS, 60*time.Second, order)
	use := checkAssignments(t, g, pods, asks)
	if t.Failed() {
		logCards(t, use)
	}

	// The malformed pods are still pending: nothing that happened since
	// made them schedulable.
	for _, b := range bad {
		if p := getPod(t, g.NS, b.name); p.Spec.NodeName != "" {
			t.Errorf("%s was bound to %s", b.name, p.Spec.NodeName)
		}
	}
}

// TestSharesPackOntoOneCard: with one whole-card pod on a two-node
// cluster of 4-card nodes, two 500-milli shares arriving one after the
// other end up on the same card.
//
// That is what FGD should do, and why it does it needs the whole-card
// pod. FGD measures a node's fragmentation against the typical workload
// that berth learns from the pods it sees: for each typical pod shape,
// the free GPU capacity that a pod of that shape could not use. Were the
// workload only 500-milli shares, a card with 500 milli free would be no
// fragment at all (a typical pod fits it), so the second share beside the
// first or on a fresh card would leave fragmentation at zero either way:
// FGD scores every choice alike, and the other scorers and the rule that
// takes the lowest-indexed card among equals decide (on these nodes they
// happen to keep the shares together by one point of
// NodeResourcesBalancedAllocation, nothing to rely on). Once whole-card
// pods are typical, a half-used card is a fragment for them: the second
// share filling the first one's card removes that fragment (a positive
// fragmentation gradient), while opening a card on either node makes a
// new one (a negative gradient), and GPUShare's score, weighted 5 in the
// default profile, outweighs the spreading scorers. The first share, by
// the same reasoning, is indifferent between the two nodes.
//
// TestShareFillsHalfUsedCard checks the same rule where the other
// scorers and the tie rule would choose differently.
func TestSharesPackOntoOneCard(t *testing.T) {
	g := newGroup(t, "pack", 2, 2)
	startBerth(t, "berth")

	asks := map[string]ask{"whole-1": whole(1), "half-a": share(500, ""), "half-b": share(500, "")}
	// One at a time, so that each decision sees the previous one.
	var pods []v1.Pod
	for _, name := range []string{"whole-1", "half-a", "half-b"} {
		createPod(t, g.Pod(name, asks[name]))
		pods = waitBound(t, g.NS, 30*time.Second, []string{name})
	}
	use := checkAssignments(t, g, pods, asks)
	logCards(t, use)
	cardOf := map[string]cardKey{}
	for k, u := range use {
		for _, p := range u.Pods {
			cardOf[p] = k
		}
	}
	if a, b := cardOf["half-a"], cardOf["half-b"]; a != b {
		t.Errorf("half-a is on %s and half-b on %s; two 500-milli shares should fill one card and leave the others whole", a, b)
	}
	if len(use) != 2 {
		t.Errorf("%d cards in use, want 2 (the whole card and one card with both shares)", len(use))
	}
}

// TestShareFillsHalfUsedCard: card 2 of one node already holds a
// 500-milli share that berth did not place (a pod created bound, with its
// assignment annotation, as a previous berth would have left it). After a
// whole-card pod has shown berth's learner that whole cards are typical,
// a 500-milli share goes to card 2, not to a lower-indexed free card of
// either node, which the tie rule or the spreading scorers would pick:
// only there does it remove a fragment instead of making one (see
// TestSharesPackOntoOneCard). It also shows that cards taken by pods
// berth never scheduled are known from their annotations.
func TestShareFillsHalfUsedCard(t *testing.T) {
	g := newGroup(t, "half", 2, 2)
	target := cardKey{Node: g.NodeNames()[0], Card: 2}
	placed := g.Pod("placed", share(500, ""))
	placed.Spec.NodeName = target.Node
	placed.Annotations[gpushare.AnnotationAssignment] = gpushare.Assignment{Node: target.Node, Cards: []int{target.Card}, Milli: 500}.Encode()
	createPod(t, placed)
	startBerth(t, "berth")

	asks := map[string]ask{"placed": share(500, ""), "whole-1": whole(1), "half": share(500, "")}
	var pods []v1.Pod
	for _, name := range []string{"whole-1", "half"} {
		createPod(t, g.Pod(name, asks[name]))
		pods = waitBound(t, g.NS, 30*time.Second, []string{name})
	}
	use := checkAssignments(t, g, pods, asks)
	logCards(t, use)
	var on []string
	if u := use[target]; u != nil {
		on = u.Pods
	}
	if len(on) != 2 {
		t.Errorf("%s should hold placed and half; it holds %v", target, on)
	}
}

// TestRestartRebuildsCardState: berth is killed (SIGKILL) in the middle of
// a burst of GPU pods on two 4-card nodes, while the pods are still being
// created; a new berth process, which knows the cards only from the
// assignment annotations on the bound pods, binds the pods left pending
// and more created after the restart. Over all pods no card holds more
// than it can, no whole card is shared, the assignments of the pods bound
// before the kill are unchanged, and every pod is bound.
//
// The pods fill 81% of the cards, so a berth that did not rebuild the
// state would put new shares on cards already taken. They are sized so
// that any placement that respects the cards fits them all: the whole
// cards come first, onto an empty cluster, and the shares (at most 250
// milli) sum to 4500 milli, less than the 6 × 751 the six other cards
// hold before none of them has 250 milli free.
func TestRestartRebuildsCardState(t *testing.T) {
	g := newGroup(t, "restart", 2, 2)
	first := startBerth(t, "berth-1")

	asks := map[string]ask{}
	var before []string
	add := func(list *[]string, name string, a ask) {
		asks[name] = a
		*list = append(*list, name)
	}
	add(&before, "whole-0", whole(1))
	add(&before, "whole-1", whole(1))
	for i := range 20 {
		milli := []int64{100, 150, 200, 250}[i%4]
		mem := ""
		if i%5 == 0 {
			mem = "4Gi"
		}
		add(&before, fmt.Sprintf("pre-%02d", i), share(milli, mem))
	}
	var after []string
	for i := range 8 {
		add(&after, fmt.Sprintf("post-%02d", i), share([]int64{100, 150}[i%2], ""))
	}

	// The creator announces each pod it created and waits until the test
	// has heard of it. Once ten pods are created and six bound, two more
	// are created and berth is killed: the kill lands among pods berth is
	// scheduling, annotating and binding, with ten more still to be
	// created (while berth is down).
	const killAfterBound = 6
	created := make(chan string)
	createErr := make(chan error, 1)
	go func() {
		defer close(created)
		c := testenv.Current().Client
		for _, name := range before {
			if _, err := c.CoreV1().Pods(g.NS).Create(t.Context(), g.Pod(name, asks[name]), metav1.CreateOptions{}); err != nil {
				createErr <- fmt.Errorf("creating pod %s: %v", name, err)
				return
			}
			created <- name
		}
		createErr <- nil
	}()
	nCreated := 0
	next := func() {
		if _, ok := <-created; !ok {
			t.Fatalf("the creator stopped after %d pods: %v", nCreated, <-createErr)
		}
		nCreated++
	}
	for nCreated < 10 {
		next()
	}
	berthtest.WaitFor(t, 30*time.Second, fmt.Sprintf("%d pods to be bound", killAfterBound), func() (bool, string) {
		n := berthtest.BoundCount(listPods(t, g.NS))
		return n >= killAfterBound, fmt.Sprintf("%d bound", n)
	})
	next()
	next()
	first.Kill(t)
	createdBeforeKill := before[:nCreated]
	for range created {
	}
	if err := <-createErr; err != nil {
		t.Fatal(err)
	}

	atKill := listPods(t, g.NS)
	boundBefore := map[string]string{}
	var annotatedPending []string
	for _, p := range atKill {
		switch {
		case p.Spec.NodeName != "":
			boundBefore[p.Name] = p.Annotations[gpushare.AnnotationAssignment]
		case p.Annotations[gpushare.AnnotationAssignment] != "":
			annotatedPending = append(annotatedPending, p.Name)
		}
	}
	var leftByFirst []string
	for _, name := range createdBeforeKill {
		if _, ok := boundBefore[name]; !ok {
			leftByFirst = append(leftByFirst, name)
		}
	}
	t.Logf("berth-1 was killed when %d of %d pods had been created and %d bound; it left %v pending, of which %v with an assignment but not bound",
		nCreated, len(before), len(boundBefore), leftByFirst, annotatedPending)
	if len(boundBefore) < killAfterBound {
		t.Fatalf("%d pods bound when berth was killed, want at least %d", len(boundBefore), killAfterBound)
	}
	checkAssignments(t, g, atKill, asks)

	startBerth(t, "berth-2")
	for _, name := range after {
		createPod(t, g.Pod(name, asks[name]))
	}
	pods := waitBound(t, g.NS, 60*time.Second, append(append([]string{}, before...), after...))
	use := checkAssignments(t, g, pods, asks)
	if t.Failed() {
		logCards(t, use)
	}
	for _, p := range pods {
		if was, ok := boundBefore[p.Name]; ok && p.Annotations[gpushare.AnnotationAssignment] != was {
			t.Errorf("pod %s was bound before the restart with assignment %s; now %s", p.Name, was, p.Annotations[gpushare.AnnotationAssignment])
		}
	}
	var used int64
	for _, u := range use {
		used += u.Milli
	}
	if want := int64(2*1000 + 5*(100+150+200+250) + 4*(100+150)); used != want {
		t.Errorf("the cards hold %d milli in all, want %d", used, want)
	}
}
