package defaultpreemption

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	policy "k8s.io/api/policy/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"

	"github.com/berthsched/berth/pkg/framework"
)

// maxDryRunWorkers bounds the goroutines of one dry run.
const maxDryRunWorkers = 16

// candidate is a node where preemption makes the pod fit, with the pods to
// evict (most important first) and how many of them a PDB protects.
type candidate struct {
	node          string
	victims       []*v1.Pod
	pdbViolations int
	// seq is the order the dry run found it in, the last tie-breaker.
	seq int
}

// candidateList collects at most cap candidates from parallel workers.
type candidateList struct {
	mu    sync.Mutex
	items []*candidate
	cap   int
}

func (l *candidateList) add(c *candidate) {
	l.mu.Lock()
	if len(l.items) < l.cap {
		l.items = append(l.items, c)
	}
	l.mu.Unlock()
}

func (l *candidateList) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.items)
}

// dryRun evaluates the potential nodes from offset (wrapping around) in
// parallel until it holds num candidates of which at least one violates
// no PDB, or every node was tried. It returns the candidates (those
// without PDB violations first) and the status of each rejected node.
func (pl *DefaultPreemption) dryRun(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo,
	pdbs []*policy.PodDisruptionBudget, offset, num int) ([]*candidate, map[string]*framework.Status, error) {
	fr := pl.preemption().FilterRunner()
	nonViolating := &candidateList{cap: num}
	violating := &candidateList{cap: num}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		statuses = map[string]*framework.Status{}
		errs     []error
		seq      atomic.Int64
		next     atomic.Int64
	)
	check := func(i int) {
		ni := nodes[(offset+i)%len(nodes)]
		victims, violations, st := pl.selectVictimsOnNode(ctx, fr, state.Clone(), pod, ni.Clone(), pdbs)
		if st.IsSuccess() && len(victims) > 0 {
			// A victim in a gang takes its whole gang along (bound
			// members on other nodes too), or the node is no candidate.
			expanded, ok := expandGangs(pl.preemption(), victims, corev1helpers.PodPriority(pod))
			if !ok {
				victims, st = nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonGangNotBreakable)
			} else {
				victims = expanded
			}
		}
		if st.IsSuccess() && len(victims) > 0 {
			c := &candidate{node: ni.Node().Name, victims: victims, pdbViolations: violations, seq: int(seq.Add(1))}
			if violations == 0 {
				nonViolating.add(c)
			} else {
				violating.add(c)
			}
			if nv, v := nonViolating.size(), violating.size(); nv > 0 && nv+v >= num {
				cancel()
			}
			return
		}
		if st.IsSuccess() {
			st = framework.AsStatus(fmt.Errorf("expected at least one victim pod on node %q", ni.Node().Name))
		}
		mu.Lock()
		if st.Code() == framework.Error {
			errs = append(errs, st.AsError())
		}
		statuses[ni.Node().Name] = st
		mu.Unlock()
	}
	workers := min(runtime.GOMAXPROCS(0), maxDryRunWorkers, len(nodes))
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(nodes) {
					return
				}
				check(i)
			}
		}()
	}
	wg.Wait()
	out := append(nonViolating.items, violating.items...)
	return out, statuses, errors.Join(errs...)
}

// selectVictimsOnNode finds the smallest set of lower-priority pods whose
// removal lets pod pass the filters on ni (a clone, as state is). It
// removes every lower-priority pod, checks the pod fits, then puts pods
// back one by one, most important first: PDB-protected pods first, then
// the others; a pod stays evicted only if the pod no longer fits with it.
// It returns the victims (most important first) and how many of them
// violate a PDB.
func (pl *DefaultPreemption) selectVictimsOnNode(ctx context.Context, fr framework.FilterRunner, state *framework.CycleState, pod *v1.Pod,
	ni *framework.NodeInfo, pdbs []*policy.PodDisruptionBudget) ([]*v1.Pod, int, *framework.Status) {
	prio := corev1helpers.PodPriority(pod)
	var potential []*framework.PodInfo
	for _, pi := range ni.Pods {
		if corev1helpers.PodPriority(pi.Pod) < prio {
			potential = append(potential, pi)
		}
	}
	if len(potential) == 0 {
		return nil, 0, framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonNoVictims)
	}
	remove := func(pi *framework.PodInfo) error {
		if err := ni.RemovePod(pi.Pod); err != nil {
			return err
		}
		if st := fr.RunPreFilterExtensionRemovePod(ctx, state, pod, pi, ni); !st.IsSuccess() {
			return st.AsError()
		}
		return nil
	}
	add := func(pi *framework.PodInfo) error {
		ni.AddPodInfo(pi)
		if st := fr.RunPreFilterExtensionAddPod(ctx, state, pod, pi, ni); !st.IsSuccess() {
			return st.AsError()
		}
		return nil
	}
	for _, pi := range potential {
		if err := remove(pi); err != nil {
			return nil, 0, framework.AsStatus(err)
		}
	}
	// Preemption does not try to satisfy affinity to a victim; if the pod
	// does not fit with every candidate victim gone, the node is out.
	if st := fr.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni); !st.IsSuccess() {
		return nil, 0, st
	}
	now := pl.now()
	sort.SliceStable(potential, func(i, j int) bool { return moreImportant(potential[i].Pod, potential[j].Pod, now) })
	violatingPods, otherPods := splitByPDBViolation(potential, pdbs)

	var victims []*v1.Pod
	reprieve := func(pi *framework.PodInfo) (bool, error) {
		if err := add(pi); err != nil {
			return false, err
		}
		if fr.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni).IsSuccess() {
			return true, nil
		}
		if err := remove(pi); err != nil {
			return false, err
		}
		victims = append(victims, pi.Pod)
		return false, nil
	}
	violations := 0
	for _, pi := range violatingPods {
		fits, err := reprieve(pi)
		if err != nil {
			return nil, 0, framework.AsStatus(err)
		}
		if !fits {
			violations++
		}
	}
	for _, pi := range otherPods {
		if _, err := reprieve(pi); err != nil {
			return nil, 0, framework.AsStatus(err)
		}
	}
	if len(violatingPods) > 0 && len(otherPods) > 0 {
		sort.SliceStable(victims, func(i, j int) bool { return moreImportant(victims[i], victims[j], now) })
	}
	return victims, violations, nil
}

// moreImportant orders pods by priority, then the longer-running first.
func moreImportant(a, b *v1.Pod, now time.Time) bool {
	pa, pb := corev1helpers.PodPriority(a), corev1helpers.PodPriority(b)
	if pa != pb {
		return pa > pb
	}
	return startTime(a, now).Before(startTime(b, now))
}

// startTime is when the pod started, or now for pods not started yet.
func startTime(p *v1.Pod, now time.Time) time.Time {
	if p.Status.StartTime != nil {
		return p.Status.StartTime.Time
	}
	return now
}

// pickCandidate is kube-scheduler's choice among the candidates, each
// criterion breaking the ties of the previous one: fewest PDB violations,
// lowest priority of the most important victim, smallest sum of victim
// priorities, fewest victims, latest start among the most important
// victims; then the first found.
func (pl *DefaultPreemption) pickCandidate(cands []*candidate) *candidate {
	if len(cands) == 1 {
		return cands[0]
	}
	now := pl.now()
	scores := []func(c *candidate) int64{
		func(c *candidate) int64 { return -int64(c.pdbViolations) },
		func(c *candidate) int64 { return -int64(corev1helpers.PodPriority(c.victims[0])) },
		func(c *candidate) int64 {
			var sum int64
			for _, p := range c.victims {
				// Shift so negative priorities still add up to a
				// positive amount per pod: fewer pods win ties.
				sum += int64(corev1helpers.PodPriority(p)) + int64(math.MaxInt32) + 1
			}
			return -sum
		},
		func(c *candidate) int64 { return -int64(len(c.victims)) },
		func(c *candidate) int64 { return earliestTopStart(c.victims, now).UnixNano() },
	}
	left := cands
	for _, score := range scores {
		best := int64(math.MinInt64)
		var kept []*candidate
		for _, c := range left {
			switch s := score(c); {
			case s > best:
				best, kept = s, append(kept[:0], c)
			case s == best:
				kept = append(kept, c)
			}
		}
		if len(kept) == 1 {
			return kept[0]
		}
		left = kept
	}
	sort.Slice(left, func(i, j int) bool { return left[i].seq < left[j].seq })
	return left[0]
}

// earliestTopStart is the earliest start among the victims of the highest
// priority.
func earliestTopStart(victims []*v1.Pod, now time.Time) time.Time {
	top := corev1helpers.PodPriority(victims[0])
	earliest := startTime(victims[0], now)
	for _, p := range victims[1:] {
		switch pr := corev1helpers.PodPriority(p); {
		case pr == top:
			if t := startTime(p, now); t.Before(earliest) {
				earliest = t
			}
		case pr > top:
			top, earliest = pr, startTime(p, now)
		}
	}
	return earliest
}
