package gang

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/nodegen"
)

// partialGrace is how long a job may be seen partially bound while berth
// binds its members (see bindTracker). berth binds a placed group's members
// concurrently once all have passed PreBind; in the watch stream they land
// milliseconds apart, more when berth's client-side rate limit (50 qps,
// burst 100 by default) spreads them.
const partialGrace = 2 * time.Second

// shortBackoff caps berth's pod backoff at 2 s instead of 10. berth's
// queue pops only from activeQ, so once the waiting groups have failed a
// few times (every one fails while the GPUs are taken) they all sit out
// podMaxBackoffSeconds after each job completes, GPUs idle meanwhile:
// with the default 10 s the 60 jobs take 75 to 120 s here, the last ones
// starting 10 s apart. kube-scheduler v1.37 pops from backoffQ when
// activeQ is empty (SchedulerPopFromBackoffQ, on by default). The cap
// changes when groups are retried, not how one is placed.
const shortBackoff = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
podMaxBackoffSeconds: 2
`

// TestManyGPUJobsNeverDeadlock reproduces scheduler-plugins #117 (and
// #114): two 8-GPU nodes and 60 jobs of 1 to 8 GPUs each, far more than
// fits, created at once. With per-pod scheduling and a Permit wait, pods
// of many jobs grab GPUs and wait for siblings that never fit, until no
// job can start even after the running ones finish. The test runs every
// job whole as it gets bound (its pods are deleted shortly after, as
// completed), and checks that each of the 60 ran whole exactly once,
// with no job ever left partially bound and no node over its GPUs, within
// a bounded time.
func TestManyGPUJobsNeverDeadlock(t *testing.T) {
	const (
		test  = "sp117"
		njobs = 60
		// hold is how long a job "runs" once whole.
		hold = 300 * time.Millisecond
		// bound is the time all 60 jobs must have run in.
		bound = 3 * time.Minute
	)
	installCRDs(t)
	nodes := createNodes(t, test, nodegen.ProfileGPU, 1, 5)
	capacity := map[string]int64{}
	for name, n := range nodes {
		if nodeGPUs(n) != 8 {
			t.Fatalf("node %s has %d GPUs; nodegen's gpu profile should give 8 at indices 1 and 5", name, nodeGPUs(n))
		}
		capacity[name] = nodeGPUs(n)
	}
	ns := newTestNamespace(t, "gang-"+test)
	startBerth(t, "berth-"+test, "--config", berthtest.WriteConfig(t, shortBackoff))
	tr := newTracker(t, ns, partialGrace)
	tr.capacity = capacity
	runner := &jobRunner{tr: tr, ns: ns, hold: hold}
	tr.onWhole = runner.run

	// Jobs of 1..8 GPUs: mostly 1-GPU pods (a job of 8 spans both
	// nodes), every third job of an even size in 2-GPU pods.
	var jobs []*gangJob
	demand := 0
	for i := range njobs {
		g := 1 + (i*5+i/8)%8
		per := 1
		if i%3 == 2 && g%2 == 0 {
			per = 2
		}
		j := &gangJob{api: apiSchedulerPlugins, name: fmt.Sprintf("job-%02d", i), pods: g / per, req: gpuReq(per)}
		jobs = append(jobs, j)
		tr.expect(j)
		demand += g
	}
	t.Logf("%d jobs asking %d GPUs in all, on 2 nodes of 8", njobs, demand)

	start := time.Now()
	errs := make(chan error, njobs)
	for _, j := range jobs {
		go func() { errs <- j.createGroup(ns) }()
	}
	for range jobs {
		if err := <-errs; err != nil {
			t.Fatalf("creating a PodGroup: %v", err)
		}
	}
	// Pods interleaved across jobs (member 0 of every job, then member 1
	// …), the order in which per-pod scheduling strands every job.
	var pods []*v1.Pod
	for k := 0; k < 8; k++ {
		for _, j := range jobs {
			if k < j.pods {
				pods = append(pods, j.pod(ns, test, k))
			}
		}
	}
	if err := createPodsInOrder(pods, 16); err != nil {
		t.Fatal(err)
	}
	t.Logf("created %d PodGroups and %d pods in %v", njobs, len(pods), time.Since(start).Round(time.Millisecond))

	waitUntil(t, bound-time.Since(start), "every job to run whole", func() (bool, string) {
		done, pending := tr.progress()
		return done == njobs, fmt.Sprintf("%d of %d jobs ran; waiting: %s", done, njobs, pending)
	})
	t.Logf("all %d jobs ran whole in %v; %s", njobs, time.Since(start).Round(time.Millisecond), tr.summary())
	var starts []time.Time
	for _, j := range jobs {
		s := tr.state(j.name)
		if n := len(s.wholeAt); n != 1 {
			t.Errorf("job %s became whole %d times, want once", j.name, n)
			continue
		}
		starts = append(starts, s.wholeAt[0])
	}
	t.Logf("job starts: %s", startGaps(start, starts))
	tr.verify(t)
	runner.verify(t)
}

// TestTwoFullClusterJobsOneAfterTheOther reproduces Volcano #3373: 100
// nodes, two jobs of 100 pods that each need every node (one pod per
// node, of either job), created at the same time with their pods
// interleaved. Volcano gave each job part of the nodes and neither could
// ever start. berth must run one job whole, keep the other entirely
// pending, and run it whole once the first is deleted. One job is
// declared with Volcano's PodGroup, the other with Kubernetes' own, so
// the test also checks the APIs coexist in one berth.
func TestTwoFullClusterJobsOneAfterTheOther(t *testing.T) {
	const (
		test  = "vc3373"
		n     = 100
		hold  = time.Second
		grace = 5 * time.Second // 100 binds through berth's 50 qps limiter
	)
	installCRDs(t)
	indices := make([]int, n)
	for i := range indices {
		indices[i] = i
	}
	nodes := createNodes(t, test, nodegen.ProfileBasic, indices...)
	five, ten := resource.MustParse("5"), resource.MustParse("10")
	for name, node := range nodes {
		cpu := node.Status.Allocatable[v1.ResourceCPU]
		if cpu.Cmp(five) < 0 || cpu.Cmp(ten) >= 0 {
			t.Fatalf("node %s has %s CPUs allocatable; the test needs room for one 5-CPU pod and not two", name, cpu.String())
		}
	}
	ns := newTestNamespace(t, "gang-"+test)
	startBerth(t, "berth-"+test)
	tr := newTracker(t, ns, grace)
	tr.maxPodsPerNode = 1
	runner := &jobRunner{tr: tr, ns: ns, hold: hold}
	tr.onWhole = runner.run

	a := &gangJob{api: apiVolcano, name: "job-a", pods: n, req: cpuReq("5")}
	b := &gangJob{api: apiUpstream, name: "job-b", pods: n, req: cpuReq("5")}
	start := time.Now()
	for _, j := range []*gangJob{a, b} {
		tr.expect(j)
		if err := j.createGroup(ns); err != nil {
			t.Fatalf("creating the PodGroup of %s: %v", j.name, err)
		}
	}
	var pods []*v1.Pod
	for i := range n {
		pods = append(pods, a.pod(ns, test, i), b.pod(ns, test, i))
	}
	if err := createPodsInOrder(pods, 8); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Minute, "both jobs to run whole", func() (bool, string) {
		done, pending := tr.progress()
		return done == 2, fmt.Sprintf("%d of 2 jobs ran; waiting: %s", done, pending)
	})
	sa, sb := tr.state(a.name), tr.state(b.name)
	first, second := sa, sb
	if sb.wholeAt[0].Before(sa.wholeAt[0]) {
		first, second = sb, sa
	}
	t.Logf("%s ran whole %v after creation, %s %v after; %s", first.name, first.wholeAt[0].Sub(start).Round(time.Millisecond),
		second.name, second.wholeAt[0].Sub(start).Round(time.Millisecond), tr.summary())
	for _, s := range []trackedJob{sa, sb} {
		if len(s.wholeAt) != 1 {
			t.Errorf("job %s became whole %d times, want once", s.name, len(s.wholeAt))
		}
	}
	if !second.wholeAt[0].After(first.goneAt) {
		t.Errorf("%s became whole at %s, before %s's pods were gone at %s", second.name,
			second.wholeAt[0].Format("15:04:05.000"), first.name, first.goneAt.Format("15:04:05.000"))
	}
	tr.verify(t)
	runner.verify(t)
}

// TestFourGangsTwoFitAtATime follows Koordinator #872: gangs A, B, C, D
// arrive in the order A C B D and only two fit at a time. In Koordinator
// A+B and C+D were gang groups, and A and C took the whole cluster while
// each waited for its partner. berth has no groups of gangs, so the test
// keeps the part that deadlocks any per-pod gang scheduler: four gangs of
// 8 one-GPU pods on 16 GPUs, their pods created interleaved (A0 C0 B0 D0
// A1 …), so that per-pod scheduling gives each gang 4 GPUs and none can
// start. berth must run two gangs whole at once, then, after they finish,
// the other two. The gangs use all three APIs.
func TestFourGangsTwoFitAtATime(t *testing.T) {
	tr, gangs, start := startFourGangs(t, "ko872")
	waitUntil(t, 90*time.Second, "all four gangs to run whole", func() (bool, string) {
		done, pending := tr.progress()
		return done == len(gangs), fmt.Sprintf("%d of 4 gangs ran; waiting: %s", done, pending)
	})
	var states []trackedJob
	for _, g := range gangs {
		s := tr.state(g.name)
		if len(s.wholeAt) != 1 {
			t.Errorf("gang %s became whole %d times, want once", s.name, len(s.wholeAt))
			continue
		}
		states = append(states, s)
	}
	sort.Slice(states, func(i, j int) bool { return states[i].wholeAt[0].Before(states[j].wholeAt[0]) })
	var order []string
	for _, s := range states {
		order = append(order, fmt.Sprintf("%s at %v", s.name, s.wholeAt[0].Sub(start).Round(time.Millisecond)))
	}
	t.Logf("gangs ran whole in the order %s; %s", strings.Join(order, ", "), tr.summary())
	tr.mu.Lock()
	maxWhole := tr.maxWhole
	tr.mu.Unlock()
	if maxWhole != 2 {
		t.Errorf("at most %d gangs were whole at once, want 2 (16 GPUs, two gangs of 8 fit)", maxWhole)
	}
	tr.verify(t)
}

// startGaps describes when jobs started: the longest time the cluster went
// without a job starting, and the starts per 10 s.
func startGaps(start time.Time, starts []time.Time) string {
	sort.Slice(starts, func(i, j int) bool { return starts[i].Before(starts[j]) })
	var longest time.Duration
	prev := start
	buckets := map[int]int{}
	last := 0
	for _, s := range starts {
		longest = max(longest, s.Sub(prev))
		prev = s
		b := int(s.Sub(start) / (10 * time.Second))
		buckets[b]++
		last = max(last, b)
	}
	var per []string
	for b := 0; b <= last; b++ {
		per = append(per, fmt.Sprint(buckets[b]))
	}
	return fmt.Sprintf("longest gap between starts %v; starts per 10 s: %s", longest.Round(time.Millisecond), strings.Join(per, " "))
}

// noGangScheduling is berth's default profile without its gang plugin:
// every pod is scheduled alone, as by kube-scheduler without one.
const noGangScheduling = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: berth
  plugins:
    multiPoint:
      disabled:
      - name: GangScheduling
`

// TestFourGangsDeadlockWithoutGangScheduling is the control of
// TestFourGangsTwoFitAtATime: the same gangs, arriving the same way, with
// berth's GangScheduling plugin disabled, so that every pod is scheduled
// alone. It checks that the tracker sees what the reports describe (every
// GPU held by members of gangs none of which can start) and flags it, so
// that the gang tests' invariant does catch a deadlock.
func TestFourGangsDeadlockWithoutGangScheduling(t *testing.T) {
	tr, gangs, _ := startFourGangs(t, "ko872-ctl", "--config", berthtest.WriteConfig(t, noGangScheduling))
	waitUntil(t, 30*time.Second, "every gang to be flagged as stuck partially bound", func() (bool, string) {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		var not []string
		for _, g := range gangs {
			if js := tr.jobs[g.name]; !js.flagged {
				not = append(not, fmt.Sprintf("%s (%d/%d bound)", g.name, js.bound, js.min))
			}
		}
		return len(not) == 0, "not flagged: " + strings.Join(not, ", ")
	})
	held := 0
	var per []string
	for _, g := range gangs {
		s := tr.state(g.name)
		if len(s.wholeAt) > 0 {
			t.Errorf("gang %s ran whole without gang scheduling; the control shows nothing", g.name)
		}
		held += s.bound
		per = append(per, fmt.Sprintf("%s %d", g.name, s.bound))
	}
	if held != 16 {
		t.Errorf("%d GPUs held by gang members, want all 16", held)
	}
	t.Logf("without gang scheduling: members bound per gang: %s; no gang can start", strings.Join(per, ", "))
}

// startFourGangs sets up the Koordinator #872 scenario: two 8-GPU nodes,
// a berth started with args, a tracker whose job runner runs every whole
// gang for 2 s, and gangs A, C, B, D of 8 one-GPU pods (minimum 8),
// created in that order, their pods interleaved (A0 C0 B0 D0 A1 …). The
// gangs use all three APIs.
func startFourGangs(t *testing.T, test string, args ...string) (*bindTracker, []*gangJob, time.Time) {
	t.Helper()
	const (
		size = 8
		hold = 2 * time.Second
	)
	installCRDs(t)
	nodes := createNodes(t, test, nodegen.ProfileGPU, 1, 5)
	capacity := map[string]int64{}
	for name, n := range nodes {
		capacity[name] = nodeGPUs(n)
	}
	ns := newTestNamespace(t, "gang-"+test)
	startBerth(t, "berth-"+test, args...)
	tr := newTracker(t, ns, partialGrace)
	tr.capacity = capacity
	runner := &jobRunner{tr: tr, ns: ns, hold: hold}
	tr.onWhole = runner.run
	t.Cleanup(func() { runner.verify(t) })

	gangs := []*gangJob{
		{api: apiSchedulerPlugins, name: "gang-a", pods: size, req: gpuReq(1)},
		{api: apiUpstream, name: "gang-c", pods: size, req: gpuReq(1)},
		{api: apiVolcano, name: "gang-b", pods: size, req: gpuReq(1)},
		{api: apiSchedulerPlugins, name: "gang-d", pods: size, req: gpuReq(1)},
	}
	start := time.Now()
	for _, g := range gangs {
		tr.expect(g)
		if err := g.createGroup(ns); err != nil {
			t.Fatalf("creating the PodGroup of %s: %v", g.name, err)
		}
	}
	var pods []*v1.Pod
	for i := range size {
		for _, g := range gangs {
			pods = append(pods, g.pod(ns, test, i))
		}
	}
	if err := createPodsInOrder(pods, 1); err != nil {
		t.Fatal(err)
	}
	return tr, gangs, start
}
