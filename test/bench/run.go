package bench

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// RunResult holds one scheduler's figures on one workload.
type RunResult struct {
	Scheduler string `json:"scheduler"`
	// Measured pods created; ExpectedSchedulable of them should be bound.
	Created             int `json:"created"`
	ExpectedSchedulable int `json:"expectedSchedulable"`
	// Bound counts expected-schedulable measured pods seen bound;
	// Pending = ExpectedSchedulable - Bound.
	Bound   int `json:"bound"`
	Pending int `json:"pending"`
	// StopReason: all-bound, stalled (no bind for the stall timeout after
	// the last create) or timeout.
	StopReason string `json:"stopReason"`
	// DurationSeconds runs from the first create to the last observed bind
	// (or to the stop, when nothing was bound).
	DurationSeconds float64 `json:"durationSeconds"`
	// CreateSeconds is how long creating the measured pods took.
	CreateSeconds float64 `json:"createSeconds"`
	// ThroughputAvg is Bound / DurationSeconds (pods/s).
	ThroughputAvg float64 `json:"throughputAvg"`
	// ThroughputP50 is the median of the per-second bind counts between
	// the first and the last bind (pods/s).
	ThroughputP50 float64 `json:"throughputP50"`
	// Latency from the harness issuing the create to the bind appearing on
	// the watch, over the bound pods (milliseconds); nil if none bound.
	LatencyP50Ms *float64 `json:"latencyP50Ms"`
	LatencyP90Ms *float64 `json:"latencyP90Ms"`
	LatencyP99Ms *float64 `json:"latencyP99Ms"`
	// CPUSeconds (utime+stime) of the scheduler process during the
	// measurement and its peak RSS (VmHWM); nil for the ceiling, which
	// runs inside the harness. For berth-extender both are the sums over
	// its two processes (kube-scheduler and berth extender), whose own
	// figures are in Processes.
	CPUSeconds *float64 `json:"cpuSeconds"`
	PeakRSSMiB *float64 `json:"peakRSSMiB"`
	// Processes are the figures of each process of the run, so that a
	// summed CPUSeconds or PeakRSSMiB can be taken apart; empty for the
	// ceiling.
	Processes []ProcessUsage `json:"processes,omitempty"`
	// ExtenderVerbs are berth-extender's HTTP round trips per verb during
	// the measurement.
	ExtenderVerbs []ExtenderVerb `json:"extenderVerbs,omitempty"`
	// Quality is computed from the API objects after the run; nil for the
	// ceiling (it binds round-robin, ignoring constraints).
	Quality *Quality `json:"quality"`
	// InitialPodsEvicted counts initial pods that disappeared other than
	// by churn (preemption victims).
	InitialPodsEvicted int `json:"initialPodsEvicted"`
	// ChurnDeleted / ChurnCreated count churn operations.
	ChurnDeleted int `json:"churnDeleted"`
	ChurnCreated int `json:"churnCreated"`
	// Gang holds the gang figures of gang workloads.
	Gang *GangResult `json:"gang,omitempty"`
	// Error is set when the run failed.
	Error string `json:"error,omitempty"`
}

// ProcessUsage is one scheduler process's share of a run's CPUSeconds and
// PeakRSSMiB.
type ProcessUsage struct {
	// Name is the process: kube-scheduler, berth, berth extender,
	// plugin-mode.
	Name       string  `json:"name"`
	CPUSeconds float64 `json:"cpuSeconds"`
	PeakRSSMiB float64 `json:"peakRSSMiB"`
}

// runner runs one workload's schedulers on one control plane.
type runner struct {
	o          Options
	w          *Workload
	counts     Counts
	client     kubernetes.Interface
	kubeconfig string
	logDir     string
	logf       func(string, ...any)
	nodes      []v1.Node
	// nodeCapacity is the local provisioner's capacity of every node, by
	// hostname (workloads with storage).
	nodeCapacity map[string]int64
	// gpus is the number of cards of every GPU node, by name (workloads
	// with dra).
	gpus map[string]int
	// plan maps measured pods to PodGroups (gang workloads).
	plan *gangPlan
}

func (r *runner) loadNodes(ctx context.Context) error {
	list, err := r.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list nodes: %v", err)
	}
	r.nodes = list.Items
	// By name, which is by nodegen index: storage patterns follow it.
	sort.Slice(r.nodes, func(i, j int) bool { return r.nodes[i].Name < r.nodes[j].Name })
	if len(r.nodes) == 0 {
		return errors.New("no nodes")
	}
	return nil
}

const (
	measuredPrefix = "m-"
	initialPrefix  = "init-"
	churnPrefix    = "churn-"
	warmupNS       = "bench-warmup"
)

func podIndex(name, prefix string) (int, bool) {
	s, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil
}

// buildPod instantiates a template.
func buildPod(tmpl *v1.Pod, ns, name, schedulerName string) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if tmpl != nil {
		p.Labels = make(map[string]string, len(tmpl.Labels))
		for k, v := range tmpl.Labels {
			p.Labels[k] = v
		}
		p.Annotations = tmpl.Annotations
		tmpl.Spec.DeepCopyInto(&p.Spec)
	}
	if len(p.Spec.Containers) == 0 {
		p.Spec.Containers = []v1.Container{{Name: "c", Image: "pause"}}
	}
	p.Spec.SchedulerName = schedulerName
	// No kubelet runs: a zero grace period makes deletes (churn,
	// preemption, cleanup) immediate.
	p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](0)
	p.Spec.AutomountServiceAccountToken = ptr.To(false)
	return p
}

func (r *runner) ensureNamespace(ctx context.Context, ns string) error {
	_, err := r.client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %v", ns, err)
	}
	// No controller manager: create the default service account the
	// ServiceAccount admission plugin wants.
	_, err = r.client.CoreV1().ServiceAccounts(ns).Create(ctx, &v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create service account in %s: %v", ns, err)
	}
	return nil
}

// retry retries transient API errors a few times.
func retry(ctx context.Context, f func() error) error {
	var err error
	for attempt := 0; attempt < 8; attempt++ {
		if err = f(); err == nil || ctx.Err() != nil {
			return err
		}
		if apierrors.IsAlreadyExists(err) || apierrors.IsNotFound(err) || apierrors.IsInvalid(err) || apierrors.IsForbidden(err) || apierrors.IsConflict(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(50<<attempt) * time.Millisecond):
		}
	}
	return err
}

// parallel runs f(i) for i in [0,n) on workers goroutines and returns the
// first error.
func parallel(ctx context.Context, n, workers int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range min(workers, max(n, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(ctx, i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return firstErr
}

// createInitialPods creates the initial pods and binds them round-robin
// with Binding calls.
func (r *runner) createInitialPods(ctx context.Context, ns string) error {
	n := r.counts.InitialPods
	if n == 0 {
		return nil
	}
	pods := r.client.CoreV1().Pods(ns)
	start := time.Now()
	err := parallel(ctx, n, r.o.CreateWorkers, func(ctx context.Context, i int) error {
		g := groupFor(r.w.InitialPods, i)
		p := buildPod(&g.Template, ns, fmt.Sprintf("%s%06d", initialPrefix, i), "bench-none")
		if err := retry(ctx, func() error { _, err := pods.Create(ctx, p, metav1.CreateOptions{}); return err }); err != nil {
			return fmt.Errorf("create initial pod: %v", err)
		}
		b := &v1.Binding{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: ns},
			Target: v1.ObjectReference{Kind: "Node", Name: r.nodes[i%len(r.nodes)].Name}}
		if err := retry(ctx, func() error { return pods.Bind(ctx, b, metav1.CreateOptions{}) }); err != nil {
			return fmt.Errorf("bind initial pod: %v", err)
		}
		return nil
	})
	if err == nil {
		r.logf("created and bound %d initial pods in %s", n, time.Since(start).Round(time.Millisecond))
	}
	return err
}

// ceilingBinder binds pods it is handed to nodes chosen round-robin; pods
// with volume claims go through vol (the volume handshake) first, pods
// with resource claims through dev (device allocation).
type ceilingBinder struct {
	client kubernetes.Interface
	nodes  []v1.Node
	vol    *ceilingVolumes
	dev    *ceilingDevices
	ch     chan bindItem
	next   atomic.Int64
	wg     sync.WaitGroup
	cancel context.CancelFunc
}

// bindItem is a pod for the ceiling binder.
type bindItem struct {
	ns, name string
	uid      types.UID
	// claims are the pod's PersistentVolumeClaims.
	claims []*v1.PersistentVolumeClaim
	// resourceClaims are the pod's spec.resourceClaims.
	resourceClaims []v1.PodResourceClaim
}

func newCeilingBinder(ctx context.Context, client kubernetes.Interface, nodes []v1.Node, vol *ceilingVolumes, dev *ceilingDevices, workers, capacity int) *ceilingBinder {
	ctx, cancel := context.WithCancel(ctx)
	b := &ceilingBinder{client: client, nodes: nodes, vol: vol, dev: dev, ch: make(chan bindItem, capacity), cancel: cancel}
	bind := func(item bindItem, node string) {
		bd := &v1.Binding{ObjectMeta: metav1.ObjectMeta{Name: item.name, Namespace: item.ns},
			Target: v1.ObjectReference{Kind: "Node", Name: node}}
		_ = retry(ctx, func() error { return b.client.CoreV1().Pods(item.ns).Bind(ctx, bd, metav1.CreateOptions{}) })
	}
	for range workers {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			for item := range b.ch {
				if len(item.resourceClaims) > 0 && b.dev != nil {
					// Wait for the resourceclaim controller without
					// holding a worker.
					b.wg.Add(1)
					go func() {
						defer b.wg.Done()
						node, err := b.dev.allocate(ctx, item.ns, item.uid, item.name, item.resourceClaims)
						if err != nil {
							if ctx.Err() == nil {
								klog.ErrorS(err, "Ceiling: device allocation failed; pod left unbound", "pod", klog.KRef(item.ns, item.name))
							}
							return
						}
						bind(item, node)
					}()
					continue
				}
				if len(item.claims) == 0 || b.vol == nil {
					bind(item, b.nodes[int(b.next.Add(1)-1)%len(b.nodes)].Name)
					continue
				}
				node, err := b.vol.prepare(ctx, item.claims)
				if err != nil {
					klog.ErrorS(err, "Ceiling: volume handshake failed; pod left unbound", "pod", klog.KRef(item.ns, item.name))
					continue
				}
				// Wait for the PV controller without holding a worker.
				b.wg.Add(1)
				go func() {
					defer b.wg.Done()
					for _, c := range item.claims {
						if b.vol.waiter.wait(ctx, c.Name) != nil {
							return
						}
					}
					bind(item, node)
				}()
			}
		}()
	}
	return b
}

func (b *ceilingBinder) push(item bindItem) { b.ch <- item }

// close ends the binder once the run is over: queued items and volume
// waits still outstanding are abandoned.
func (b *ceilingBinder) close() { close(b.ch); b.cancel(); b.wg.Wait() }

// warmUp creates a pod for the scheduler under test and waits until it is
// bound: the scheduler's informers are synced and it is scheduling.
func (r *runner) warmUp(ctx context.Context, sched string, procs procGroup, binder *ceilingBinder) error {
	if err := r.ensureNamespace(ctx, warmupNS); err != nil {
		return err
	}
	name := "warmup-" + sched
	pods := r.client.CoreV1().Pods(warmupNS)
	p := buildPod(nil, warmupNS, name, schedulerNameFor(sched))
	if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create warm-up pod: %v", err)
	}
	if binder != nil {
		binder.push(bindItem{ns: warmupNS, name: name})
	}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := procs.alive(); err != nil {
			return false, err
		}
		got, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return got.Spec.NodeName != "", nil
	})
	_ = pods.Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	if err != nil {
		msg := ""
		if len(procs) > 0 {
			msg = "; log tail:\n" + procs.logTail(15)
		}
		return fmt.Errorf("warm-up pod not bound: %v%s", err, msg)
	}
	return nil
}

// bindWatcher records, from a watch on the measured namespace, when each
// measured pod is first seen bound.
type bindWatcher struct {
	base      time.Time
	bindAt    []int64 // ns since base, 0 = not bound
	bound     atomic.Int64
	lastBind  atomic.Int64
	expected  []bool
	boundExp  atomic.Int64
	done      chan struct{}
	cancel    context.CancelFunc
	evictedMu sync.Mutex
	deleted   map[string]bool
	// groupOf maps measured pods to PodGroups and contestBound counts the
	// bound members of ContestA and ContestB (gang workloads).
	groupOf      []int
	contestBound [2]atomic.Int64
}

func (r *runner) startWatch(ctx context.Context, ns string, base time.Time, expected []bool, plan *gangPlan) (*bindWatcher, error) {
	pods := r.client.CoreV1().Pods(ns)
	list, err := pods.List(ctx, metav1.ListOptions{ResourceVersion: "", Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("list pods: %v", err)
	}
	bw := &bindWatcher{base: base, bindAt: make([]int64, len(expected)), expected: expected, done: make(chan struct{}), deleted: map[string]bool{}}
	if plan != nil {
		bw.groupOf = plan.of
	}
	wctx, cancel := context.WithCancel(ctx)
	bw.cancel = cancel
	rv := list.ResourceVersion
	w, err := pods.Watch(wctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watch pods: %v", err)
	}
	go func() {
		defer close(bw.done)
		for {
			for ev := range w.ResultChan() {
				switch ev.Type {
				case watch.Error:
					if st, ok := ev.Object.(*metav1.Status); ok && st.Code == 410 {
						rv = "" // expired: relist below
					}
					continue
				case watch.Bookmark:
					if p, ok := ev.Object.(*v1.Pod); ok {
						rv = p.ResourceVersion
					}
					continue
				}
				p, ok := ev.Object.(*v1.Pod)
				if !ok {
					continue
				}
				rv = p.ResourceVersion
				if ev.Type == watch.Deleted {
					if strings.HasPrefix(p.Name, initialPrefix) {
						bw.evictedMu.Lock()
						bw.deleted[p.Name] = true
						bw.evictedMu.Unlock()
					}
					continue
				}
				bw.observe(p)
			}
			w.Stop()
			if wctx.Err() != nil {
				return
			}
			// The watch closed (timeout or expiry): resume, relisting if
			// the resource version is gone.
			if rv == "" {
				l, err := pods.List(wctx, metav1.ListOptions{})
				if err != nil {
					if wctx.Err() != nil {
						return
					}
					time.Sleep(100 * time.Millisecond)
					continue
				}
				for i := range l.Items {
					bw.observe(&l.Items[i])
				}
				rv = l.ResourceVersion
			}
			var err error
			w, err = pods.Watch(wctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
			if err != nil {
				if wctx.Err() != nil {
					return
				}
				if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
					rv = ""
				}
				w = watch.NewEmptyWatch()
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
	return bw, nil
}

func (bw *bindWatcher) observe(p *v1.Pod) {
	if p.Spec.NodeName == "" {
		return
	}
	i, ok := podIndex(p.Name, measuredPrefix)
	if !ok || i < 0 || i >= len(bw.bindAt) || bw.bindAt[i] != 0 {
		return
	}
	t := int64(time.Since(bw.base))
	if t <= 0 {
		t = 1
	}
	bw.bindAt[i] = t
	bw.bound.Add(1)
	if bw.expected[i] {
		bw.boundExp.Add(1)
	}
	if bw.groupOf != nil && bw.groupOf[i] < len(bw.contestBound) {
		bw.contestBound[bw.groupOf[i]].Add(1)
	}
	bw.lastBind.Store(t)
}

// contestSettled reports whether one of the two contest gangs is complete
// and no measured pod was bound for a second: a scheduler still binding
// members of the other gang has time to show it.
func (bw *bindWatcher) contestSettled(plan *gangPlan, now time.Duration) bool {
	complete := false
	for k := range bw.contestBound {
		if bw.contestBound[k].Load() >= int64(plan.groups[k].minCount) {
			complete = true
		}
	}
	return complete && now-time.Duration(bw.lastBind.Load()) >= time.Second
}

func (bw *bindWatcher) stop() {
	bw.cancel()
	<-bw.done
}

// run measures one scheduler on the workload.
func (r *runner) run(ctx context.Context, sched string) (*RunResult, error) {
	res := &RunResult{Scheduler: sched}
	ns := strings.ToLower(fmt.Sprintf("bench-%s-%s", r.w.Name, sched))
	prefix := fmt.Sprintf("%s/%s", r.w.Name, sched)
	say := func(format string, args ...any) { r.logf("%s: %s", sched, fmt.Sprintf(format, args...)) }

	if err := r.ensureNamespace(ctx, ns); err != nil {
		return res, err
	}
	defer r.cleanup(ns, sched, say)
	if r.w.DRA != nil {
		if err := r.createClaimTemplates(ctx, ns); err != nil {
			return res, err
		}
	}
	if r.plan != nil {
		if err := r.createPodGroups(ctx, ns, r.plan); err != nil {
			return res, err
		}
	}
	if err := r.createInitialPods(ctx, ns); err != nil {
		return res, err
	}
	var static []staticPV
	if r.w.Storage != nil {
		var err error
		if static, err = r.createStaticVolumes(ctx, sched); err != nil {
			return res, err
		}
		if err := r.waitCapacities(ctx); err != nil {
			return res, err
		}
	}

	n := r.counts.MeasuredPods
	churnMax := 0
	if r.w.Churn != nil && r.counts.ChurnPerSecond > 0 {
		churnMax = r.counts.InitialPods
	}

	// Start the scheduler under test (or the ceiling binder).
	var procs procGroup
	var binder *ceilingBinder
	switch sched {
	case Ceiling:
		var vol *ceilingVolumes
		if r.w.Storage != nil {
			// The claim informer must stop with the run: an open watch
			// holds the API server's shutdown up.
			vctx, vcancel := context.WithCancel(ctx)
			defer vcancel()
			var err error
			if vol, err = newCeilingVolumes(vctx, r.client, r.w, ns, r.nodes, r.nodeCapacity, static); err != nil {
				return res, err
			}
		}
		var dev *ceilingDevices
		if r.w.DRA != nil {
			dctx, dcancel := context.WithCancel(ctx)
			defer dcancel()
			var err error
			if dev, err = newCeilingDevices(dctx, r.client, ns, r.gpus); err != nil {
				return res, err
			}
		}
		binder = newCeilingBinder(ctx, r.client, r.nodes, vol, dev, r.o.BindWorkers, n+churnMax+2)
	default:
		var err error
		procs, err = startScheduler(sched, r.o.BinDir, r.kubeconfig, r.logDir, strings.ToLower(r.w.Name)+"-"+sched, r.o.QPS, r.o.Burst, r.w.kubeSchedulerFeatureGates())
		if err != nil {
			return res, err
		}
		defer procs.stop(15 * time.Second)
	}
	defer func() {
		if binder != nil {
			binder.close()
		}
	}()
	say("waiting for the scheduler to bind a warm-up pod")
	if err := r.warmUp(ctx, sched, procs, binder); err != nil {
		return res, err
	}

	// Watch, then create.
	expected := make([]bool, n)
	groups := r.w.measuredTemplates(r.counts)
	for i := range n {
		// Gang contenders are not expected: only one of the two gangs
		// can place (see Gang).
		expected[i] = !groups[i].Unschedulable && (r.plan == nil || !r.plan.groups[r.plan.of[i]].contest)
	}
	res.ExpectedSchedulable = r.w.expectedMeasured(r.counts)
	base := time.Now()
	bw, err := r.startWatch(ctx, ns, base, expected, r.plan)
	if err != nil {
		return res, err
	}
	defer bw.stop()
	cpu0 := procs.cpuSeconds()
	verbs0 := procs.extenderVerbs()
	profiles := r.startProfiles(ctx, sched, procs, say)
	defer profiles.Wait()

	createAt := make([]int64, n)
	var created atomic.Int64
	var createErr error
	createDone := make(chan struct{})
	var createEnd atomic.Int64
	mctx, mcancel := context.WithCancel(ctx)
	defer mcancel()
	schedName := schedulerNameFor(sched)
	pods := r.client.CoreV1().Pods(ns)
	go func() {
		defer close(createDone)
		createErr = parallel(mctx, n, r.o.CreateWorkers, func(ctx context.Context, i int) error {
			p := buildPod(&groups[i].Template, ns, fmt.Sprintf("%s%06d", measuredPrefix, i), schedName)
			if r.plan != nil {
				joinGroup(p, r.plan.groups[r.plan.of[i]].name)
			}
			// Claims first, as the StatefulSet controller does; the pod's
			// latency starts at its own create.
			claims, err := createClaims(ctx, r.client, groups[i], p)
			if err != nil {
				return err
			}
			createAt[i] = int64(time.Since(base))
			var uid types.UID
			if err := retry(ctx, func() error {
				c, err := pods.Create(ctx, p, metav1.CreateOptions{})
				if err == nil {
					uid = c.UID
				}
				return err
			}); err != nil {
				return fmt.Errorf("create measured pod %s: %v", p.Name, err)
			}
			created.Add(1)
			if binder != nil && expected[i] {
				binder.push(bindItem{ns: ns, name: p.Name, uid: uid, claims: claims, resourceClaims: p.Spec.ResourceClaims})
			}
			return nil
		})
		createEnd.Store(int64(time.Since(base)))
	}()

	// Churn: delete initial pods, create churn pods.
	var churnDeleted, churnCreated atomic.Int64
	churnDone := make(chan struct{})
	go func() {
		defer close(churnDone)
		if churnMax == 0 {
			return
		}
		per := r.counts.ChurnPerSecond
		const ticksPerSecond = 10
		tick := time.NewTicker(time.Second / ticksPerSecond)
		defer tick.Stop()
		next, carry := 0, 0
		sem := make(chan struct{}, 16)
		var wg sync.WaitGroup
		defer wg.Wait()
		for {
			select {
			case <-mctx.Done():
				return
			case <-tick.C:
			}
			carry += per
			k := carry / ticksPerSecond
			carry -= k * ticksPerSecond
			for ; k > 0 && next < churnMax; k-- {
				i := next
				next++
				sem <- struct{}{}
				wg.Add(1)
				go func() {
					defer func() { <-sem; wg.Done() }()
					err := pods.Delete(mctx, fmt.Sprintf("%s%06d", initialPrefix, i), metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
					if err == nil {
						churnDeleted.Add(1)
					}
					p := buildPod(&r.w.Churn.Template, ns, fmt.Sprintf("%s%06d", churnPrefix, i), schedName)
					if _, err := pods.Create(mctx, p, metav1.CreateOptions{}); err == nil {
						churnCreated.Add(1)
						if binder != nil {
							binder.push(bindItem{ns: ns, name: p.Name})
						}
					}
				}()
			}
		}
	}()

	// Wait for all expected binds, a stall, or the timeout.
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	lastReport := time.Now()
	lastCount, lastT := int64(0), time.Now()
	creating := true
	for res.StopReason == "" {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-tick.C:
		}
		if creating {
			select {
			case <-createDone:
				creating = false
				if createErr != nil {
					return res, createErr
				}
			default:
			}
		}
		if err := procs.alive(); err != nil {
			return res, err
		}
		now := time.Since(base)
		boundExp := bw.boundExp.Load()
		switch {
		case !creating && int(boundExp) >= res.ExpectedSchedulable && (r.plan == nil || sched == Ceiling || bw.contestSettled(r.plan, now)):
			res.StopReason = "all-bound"
		case !creating && now-time.Duration(max(bw.lastBind.Load(), createEnd.Load())) > r.o.StallTimeout:
			res.StopReason = "stalled"
		case now > r.o.RunTimeout:
			res.StopReason = "timeout"
		}
		if time.Since(lastReport) >= 2*time.Second || res.StopReason != "" {
			b := bw.bound.Load()
			rate := float64(b-lastCount) / time.Since(lastT).Seconds()
			fmt.Fprintf(r.o.Progress, "[%s] created %d/%d, bound %d/%d (%.0f pods/s now, %.0f avg) t=%.1fs\n",
				prefix, created.Load(), n, boundExp, res.ExpectedSchedulable, rate, float64(boundExp)/now.Seconds(), now.Seconds())
			lastReport, lastCount, lastT = time.Now(), b, time.Now()
		}
	}
	mcancel()
	<-churnDone
	<-createDone
	if len(procs) > 0 {
		res.Processes, res.CPUSeconds, res.PeakRSSMiB = procs.usage(cpu0)
		res.ExtenderVerbs = extenderVerbsBetween(verbs0, procs.extenderVerbs())
		procs.stop(15 * time.Second)
	}
	bw.stop()
	end := int64(time.Since(base))
	res.ChurnDeleted, res.ChurnCreated = int(churnDeleted.Load()), int(churnCreated.Load())
	res.Created = int(created.Load())
	res.CreateSeconds = round3(time.Duration(createEnd.Load()).Seconds())

	// Figures from the watch.
	var first int64 = -1
	for i := range n {
		if createAt[i] > 0 && (first < 0 || createAt[i] < first) {
			first = createAt[i]
		}
	}
	if first < 0 {
		first = 0
	}
	var lat []float64
	var last int64
	var binds []int64
	for i := range n {
		if !expected[i] || bw.bindAt[i] == 0 {
			continue
		}
		res.Bound++
		lat = append(lat, float64(max(bw.bindAt[i]-createAt[i], 0))/1e6)
		last = max(last, bw.bindAt[i])
		binds = append(binds, bw.bindAt[i]-first)
	}
	res.Pending = res.ExpectedSchedulable - res.Bound
	if res.Bound > 0 {
		res.DurationSeconds = round3(time.Duration(last - first).Seconds())
		res.ThroughputAvg = round3(float64(res.Bound) / time.Duration(last-first).Seconds())
		res.ThroughputP50 = perSecondP50(binds, res.ThroughputAvg)
		res.LatencyP50Ms = ptr.To(round3(percentile(lat, 50)))
		res.LatencyP90Ms = ptr.To(round3(percentile(lat, 90)))
		res.LatencyP99Ms = ptr.To(round3(percentile(lat, 99)))
	} else {
		res.DurationSeconds = round3(time.Since(base).Seconds())
	}

	// Placement quality from the API.
	list, err := pods.List(ctx, metav1.ListOptions{})
	if err != nil {
		return res, fmt.Errorf("list pods: %v", err)
	}
	remainingInitial := 0
	for i := range list.Items {
		if strings.HasPrefix(list.Items[i].Name, initialPrefix) && list.Items[i].DeletionTimestamp == nil {
			remainingInitial++
		}
	}
	res.InitialPodsEvicted = max(r.counts.InitialPods-remainingInitial-res.ChurnDeleted, 0)
	if sched != Ceiling {
		var st *storageState
		if r.w.Storage != nil {
			if st, err = r.storageState(ctx, ns); err != nil {
				return res, err
			}
		}
		var ds *draState
		if r.w.DRA != nil {
			if ds, err = r.draState(ctx, ns); err != nil {
				return res, err
			}
		}
		q := evaluateQuality(r.nodes, list.Items, func(p *v1.Pod) bool {
			i, ok := podIndex(p.Name, measuredPrefix)
			return ok && i < n && groups[i].Unschedulable
		}, st, ds)
		res.Quality = &q
	}
	if r.plan != nil {
		boundAtEnd := make([]bool, n)
		for i := range list.Items {
			p := &list.Items[i]
			if j, ok := podIndex(p.Name, measuredPrefix); ok && j < n && p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
				boundAtEnd[j] = true
			}
		}
		res.Gang = gangAccount(r.plan, createAt, bw.bindAt, boundAtEnd, end)
		say("gangs: %d/%d placed, group time p50/p99 %s/%s, partial at end %d, max partial %d; contest %s placed (%s)",
			res.Gang.GroupsPlaced, res.Gang.Groups, fmtMs(res.Gang.GroupTimeP50Ms), fmtMs(res.Gang.GroupTimeP99Ms),
			res.Gang.PartialAtEnd, res.Gang.PartialMax, res.Gang.ContestPlaced, res.Gang.contestString())
	}
	say("%s: %d/%d bound, %.1f pods/s avg, %.0f pods/s p50, p99 %s", res.StopReason, res.Bound, res.ExpectedSchedulable,
		res.ThroughputAvg, res.ThroughputP50, fmtMs(res.LatencyP99Ms))
	return res, nil
}

// perSecondP50 is the median of per-second bind counts over the complete
// seconds from the first bind on (the trailing partial second is left
// out); runs shorter than a second fall back to avg.
func perSecondP50(binds []int64, avg float64) float64 {
	if len(binds) == 0 {
		return 0
	}
	lo, hi := binds[0], binds[0]
	for _, b := range binds {
		lo, hi = min(lo, b), max(hi, b)
	}
	full := (hi - lo) / int64(time.Second)
	if full == 0 {
		return avg
	}
	buckets := make([]float64, full)
	for _, b := range binds {
		if k := (b - lo) / int64(time.Second); k < full {
			buckets[k]++
		}
	}
	return percentile(buckets, 50)
}

// cleanup deletes every pod of the run's namespace (immediately: zero grace
// period) and waits until they are gone, so the next run starts with empty
// nodes; then, for workloads with storage, the run's claims and volumes,
// and for workloads with dra, the run's resource claims.
func (r *runner) cleanup(ns, sched string, say func(string, ...any)) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if r.w.Storage != nil {
		defer func() {
			sctx, scancel := context.WithTimeout(context.Background(), storageSettleTimeout+time.Minute)
			defer scancel()
			r.cleanupStorage(sctx, ns, sched, say)
		}()
	}
	if r.w.DRA != nil {
		defer func() {
			dctx, dcancel := context.WithTimeout(context.Background(), draSettleTimeout+time.Minute)
			defer dcancel()
			r.cleanupDRA(dctx, ns, say)
		}()
	}
	pods := r.client.CoreV1().Pods(ns)
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := pods.DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{}); err != nil {
			return false, nil
		}
		l, err := pods.List(ctx, metav1.ListOptions{Limit: 1})
		return err == nil && len(l.Items) == 0, nil
	})
	if err != nil {
		say("cleanup of namespace %s: %v", ns, err)
	}
}

func round3(x float64) float64 { return float64(int64(x*1000+0.5)) / 1000 }

func fmtMs(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.0fms", *p)
}

func execOutput(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	return string(out), err
}
