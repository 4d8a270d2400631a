package gang

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	schedv1beta1 "k8s.io/api/scheduling/v1beta1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
	volcanov1beta1 "github.com/berthsched/berth/pkg/apis/volcano/v1beta1"
	xv1alpha1 "github.com/berthsched/berth/pkg/apis/xscheduling/v1alpha1"
)

const (
	schedulerName = "berth"
	// nodeTestLabel on a node names the test that created it; that test's
	// pods select it, so that no test places pods on another's nodes.
	nodeTestLabel = "gang-test.berth.io/test"
	// jobLabel on a pod names its job, which is also the name of the
	// job's PodGroup (whichever API declares it).
	jobLabel = "gang-test.berth.io/job"
	// pauseImage is never pulled: no kubelet runs.
	pauseImage = "registry.k8s.io/pause:3.10"
)

// startBerth runs `berth run` (no leader election) as a child process
// against the test cluster, with args added, and returns once its /readyz
// answers, that is once its informers, including the PodGroup informers
// of the APIs the server serves, have synced. The CRDs must be installed
// before: berth reads only the pod group APIs served when it starts.
func startBerth(t *testing.T, name string, args ...string) *berthtest.Process {
	t.Helper()
	return berthtest.StartRun(t, name, args...)
}

// createNodes creates the nodes of a nodegen profile with the given
// indices (nodegen's index picks the shape: in the gpu profile 1, 5, 9 …
// are 8-card nodes, the other indices 4-card ones), named
// gang-<test>-NNNNN and labelled nodeTestLabel=test, and deletes them when
// t ends. It returns the nodes as created, by name.
func createNodes(t *testing.T, test string, profile nodegen.Profile, indices ...int) map[string]*v1.Node {
	t.Helper()
	ctx := context.Background()
	c := testenv.Current().Client
	sort.Ints(indices)
	opts := nodegen.Options{Profile: profile, Prefix: "gang-" + test + "-", Zones: 1}
	// One Create per run of consecutive indices.
	for i := 0; i < len(indices); {
		j := i + 1
		for j < len(indices) && indices[j] == indices[j-1]+1 {
			j++
		}
		o := opts
		o.StartIndex, o.Count = indices[i], j-i
		if _, err := nodegen.Create(ctx, c, o); err != nil {
			t.Fatalf("creating nodes: %v", err)
		}
		i = j
	}
	nodes := map[string]*v1.Node{}
	t.Cleanup(func() {
		for name := range nodes {
			if err := c.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
				t.Errorf("deleting node %s: %v", name, err)
			}
		}
	})
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{nodeTestLabel: test}}})
	for _, i := range indices {
		name := nodegen.NodeName(opts, i)
		n, err := c.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
		if err != nil {
			t.Fatalf("labelling node %s: %v", name, err)
		}
		nodes[name] = n
	}
	return nodes
}

// nodeGPUs is the node's allocatable nvidia.com/gpu.
func nodeGPUs(n *v1.Node) int64 {
	q := n.Status.Allocatable[nodegen.ResourceGPU]
	return q.Value()
}

// groupAPI is one of the three APIs a gang can be declared with.
type groupAPI int

const (
	// apiUpstream: Kubernetes' scheduling.k8s.io/v1beta1 PodGroup; members
	// set spec.schedulingGroup.podGroupName.
	apiUpstream groupAPI = iota
	// apiSchedulerPlugins: scheduling.x-k8s.io/v1alpha1; members carry the
	// label scheduling.x-k8s.io/pod-group.
	apiSchedulerPlugins
	// apiVolcano: scheduling.volcano.sh/v1beta1; members carry the
	// annotation scheduling.k8s.io/group-name.
	apiVolcano
)

func (a groupAPI) String() string {
	switch a {
	case apiUpstream:
		return "scheduling.k8s.io"
	case apiSchedulerPlugins:
		return "scheduling.x-k8s.io"
	case apiVolcano:
		return "scheduling.volcano.sh"
	}
	return "unknown"
}

// gangJob is a gang: a PodGroup of one API and its member pods, all alike.
type gangJob struct {
	api  groupAPI
	name string
	// pods is how many members the job has; min is the group's minimum
	// (minMember or gang.minCount); 0 means pods.
	pods, min int
	// req is each member's requests (GPUs are set as limits too).
	req v1.ResourceList
	// minResources, if set, goes into the group's spec
	// (scheduler-plugins and Volcano only).
	minResources v1.ResourceList
}

func (j *gangJob) minMember() int {
	if j.min > 0 {
		return j.min
	}
	return j.pods
}

// podName is the name of member i.
func (j *gangJob) podName(i int) string { return fmt.Sprintf("%s-%03d", j.name, i) }

// createGroup creates the job's PodGroup in ns.
func (j *gangJob) createGroup(ns string) error {
	min := int32(j.minMember())
	switch j.api {
	case apiUpstream:
		pg := &schedv1beta1.PodGroup{
			ObjectMeta: metav1.ObjectMeta{Name: j.name},
			Spec: schedv1beta1.PodGroupSpec{SchedulingPolicy: schedv1beta1.PodGroupSchedulingPolicy{
				Gang: &schedv1beta1.GangSchedulingPolicy{MinCount: min},
			}},
		}
		_, err := testenv.Current().Client.SchedulingV1beta1().PodGroups(ns).Create(context.Background(), pg, metav1.CreateOptions{})
		return err
	case apiSchedulerPlugins:
		pg := &xv1alpha1.PodGroup{
			TypeMeta:   typeMeta(xv1alpha1.PodGroupKind),
			ObjectMeta: metav1.ObjectMeta{Name: j.name},
			Spec:       xv1alpha1.PodGroupSpec{MinMember: min, MinResources: j.minResources},
		}
		u, err := objectToUnstructured(pg)
		if err != nil {
			return err
		}
		return create(dynamicClientOf().Resource(xv1alpha1.PodGroupResource).Namespace(ns), u)
	case apiVolcano:
		pg := &volcanov1beta1.PodGroup{
			TypeMeta:   typeMeta(volcanov1beta1.PodGroupKind),
			ObjectMeta: metav1.ObjectMeta{Name: j.name},
			Spec:       volcanov1beta1.PodGroupSpec{MinMember: min},
		}
		if j.minResources != nil {
			pg.Spec.MinResources = &j.minResources
		}
		u, err := objectToUnstructured(pg)
		if err != nil {
			return err
		}
		return create(dynamicClientOf().Resource(volcanov1beta1.PodGroupResource).Namespace(ns), u)
	}
	return fmt.Errorf("unknown API %d", j.api)
}

// pod builds member i: a berth pod in ns, selecting the test's nodes,
// labelled jobLabel and naming the job's group the way its API does.
func (j *gangJob) pod(ns, test string, i int) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: j.podName(i), Namespace: ns, Labels: map[string]string{jobLabel: j.name}},
		Spec: v1.PodSpec{
			SchedulerName:                 schedulerName,
			NodeSelector:                  map[string]string{nodeTestLabel: test},
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers: []v1.Container{{
				Name: "c", Image: pauseImage,
				Resources: v1.ResourceRequirements{Requests: j.req.DeepCopy()},
			}},
		},
	}
	if q, ok := j.req[nodegen.ResourceGPU]; ok {
		p.Spec.Containers[0].Resources.Limits = v1.ResourceList{nodegen.ResourceGPU: q}
	}
	switch j.api {
	case apiUpstream:
		p.Spec.SchedulingGroup = &v1.PodSchedulingGroup{PodGroupName: ptr.To(j.name)}
	case apiSchedulerPlugins:
		p.Labels[xv1alpha1.PodGroupLabel] = j.name
	case apiVolcano:
		p.Annotations = map[string]string{volcanov1beta1.GroupNameAnnotation: j.name}
	}
	return p
}

// objectToUnstructured converts a typed object for the dynamic client.
func objectToUnstructured(obj runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: m}, nil
}

var (
	dynOnce   sync.Once
	dynShared dynamic.Interface
)

// dynamicClientOf is the dynamic client of the test cluster, usable from
// any goroutine.
func dynamicClientOf() dynamic.Interface {
	dynOnce.Do(func() { dynShared = dynamic.NewForConfigOrDie(testenv.Current().Config) })
	return dynShared
}

// allPods builds every member.
func (j *gangJob) allPods(ns, test string) []*v1.Pod {
	out := make([]*v1.Pod, j.pods)
	for i := range out {
		out[i] = j.pod(ns, test, i)
	}
	return out
}

// gpuReq is a request for n whole GPUs and a little CPU and memory.
func gpuReq(n int) v1.ResourceList {
	return v1.ResourceList{
		v1.ResourceCPU:      resource.MustParse("100m"),
		v1.ResourceMemory:   resource.MustParse("128Mi"),
		nodegen.ResourceGPU: *resource.NewQuantity(int64(n), resource.DecimalSI),
	}
}

// cpuReq is a request for cpu and 256Mi.
func cpuReq(cpu string) v1.ResourceList {
	return v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse("256Mi")}
}

// createPodsInOrder creates the pods with workers goroutines, in the order given
// as far as the workers keep it, and returns the first error.
func createPodsInOrder(pods []*v1.Pod, workers int) error {
	c := testenv.Current().Client
	ch := make(chan *v1.Pod)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range ch {
				if _, err := c.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("creating pod %s: %w", p.Name, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, p := range pods {
		ch <- p
	}
	close(ch)
	wg.Wait()
	return firstErr
}

// deletePodsAtCleanup deletes every pod of ns at once when t ends: no
// kubelet runs to finish a graceful deletion, and the next test's berth
// must not see them.
func deletePodsAtCleanup(t *testing.T, ns string) {
	t.Cleanup(func() {
		err := testenv.Current().Client.CoreV1().Pods(ns).DeleteCollection(context.Background(),
			metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{})
		if err != nil {
			t.Errorf("deleting the pods of %s: %v", ns, err)
		}
	})
}

// deleteJobPods deletes a job's pods at once (grace period 0).
func deleteJobPods(ns, name string) error {
	return testenv.Current().Client.CoreV1().Pods(ns).DeleteCollection(context.Background(),
		metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{LabelSelector: jobLabel + "=" + name})
}

// newTestNamespace creates a namespace whose pods are deleted when t ends.
func newTestNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := testenv.Current().CreateNamespace(t, prefix)
	deletePodsAtCleanup(t, ns)
	return ns
}

// bindTracker watches a namespace's pods through an informer and judges, at
// every event it sees, each job's bound members. It keeps the invariants
// the tests are about:
//
//   - No job stays partially bound (some but fewer than its minimum of
//     members bound) for longer than grace. A group's members are bound by
//     separate Binding calls after berth's barrier, so in the watch stream
//     a group that berth commits as one transaction still shows a few
//     members bound before the rest for a moment (milliseconds, or as long
//     as berth's client-side rate limit spreads the calls). What a gang
//     deadlock looks like instead is a group that stays partial: members
//     holding resources while their siblings never come. So a partial
//     state is allowed to last at most grace; the tests also check at the
//     end that no job is partial at all.
//   - A bound pod's node never changes (a pod is bound once).
//   - With capacity set, the GPUs of the pods bound to a node never exceed
//     the node's.
//
// Once a job's pods are being deleted (finish), its partial states are
// expected and not judged.
type bindTracker struct {
	ns    string
	grace time.Duration
	// capacity is each node's GPUs; nil: not checked.
	capacity map[string]int64
	// maxPodsPerNode, if set, is how many of the tracked pods a node may
	// hold at once.
	maxPodsPerNode int
	// onWhole, if set, runs in a goroutine of its own each time a job's
	// bound members reach its minimum.
	onWhole func(job string)
	// onBind, if set, runs in the informer's goroutine after each bind
	// seen, with the job's bound count.
	onBind func(job string, bound int)

	mu         sync.Mutex
	jobs       map[string]*trackedJob
	pods       map[types.UID]*trackedPod
	gpuOn      map[string]int64
	podsOn     map[string]int
	whole      int // jobs whole right now
	maxWhole   int
	violations []string
	events     int
}

type trackedPod struct {
	job, name, node string
	gpus            int64
}

type trackedJob struct {
	name string
	min  int
	// exist counts the job's pods seen and not deleted; bound those bound.
	exist, bound   int
	partialSince   time.Time
	longestPartial time.Duration
	isWhole        bool
	wholeAt        []time.Time
	finishing      bool
	goneAt         time.Time
	flagged        bool
}

// newTracker starts the informer over ns and the partial-state checker;
// both stop when t ends. Jobs must be registered with expect before their
// pods are created.
func newTracker(t *testing.T, ns string, grace time.Duration) *bindTracker {
	t.Helper()
	tr := &bindTracker{ns: ns, grace: grace, jobs: map[string]*trackedJob{}, pods: map[types.UID]*trackedPod{}, gpuOn: map[string]int64{}, podsOn: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactoryWithOptions(testenv.Current().Client, 0, informers.WithNamespace(ns))
	inf := factory.Core().V1().Pods().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { tr.observe(obj, false) },
		UpdateFunc: func(_, obj any) { tr.observe(obj, false) },
		DeleteFunc: func(obj any) { tr.observe(obj, true) },
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	t.Cleanup(func() { cancel(); factory.Shutdown() })
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("pod informer %v did not sync", typ)
		}
	}
	if grace > 0 {
		go func() {
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case now := <-tick.C:
					tr.checkPartial(now)
				}
			}
		}()
	}
	return tr
}

// expect registers a job.
func (tr *bindTracker) expect(j *gangJob) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.jobs[j.name] = &trackedJob{name: j.name, min: j.minMember()}
}

func (tr *bindTracker) violate(format string, args ...any) {
	tr.violations = append(tr.violations, fmt.Sprintf("%s: ", time.Now().Format("15:04:05.000"))+fmt.Sprintf(format, args...))
}

func (tr *bindTracker) observe(obj any, deleted bool) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	now := time.Now()
	tr.mu.Lock()
	tr.events++
	js := tr.jobs[pod.Labels[jobLabel]]
	if js == nil {
		tr.mu.Unlock()
		return
	}
	ps := tr.pods[pod.UID]
	if ps == nil {
		if deleted {
			tr.mu.Unlock()
			return
		}
		q := pod.Spec.Containers[0].Resources.Requests[nodegen.ResourceGPU]
		ps = &trackedPod{job: js.name, name: pod.Name, gpus: q.Value()}
		tr.pods[pod.UID] = ps
		js.exist++
	}
	newBind := false
	switch {
	case deleted:
		if ps.node != "" {
			js.bound--
			tr.gpuOn[ps.node] -= ps.gpus
			tr.podsOn[ps.node]--
		}
		js.exist--
		delete(tr.pods, pod.UID)
		if js.finishing && js.exist == 0 {
			js.goneAt = now
		}
	case ps.node != "" && pod.Spec.NodeName != ps.node:
		tr.violate("pod %s was bound to %s, now its node is %q", pod.Name, ps.node, pod.Spec.NodeName)
	case ps.node == "" && pod.Spec.NodeName != "":
		ps.node = pod.Spec.NodeName
		js.bound++
		newBind = true
		tr.gpuOn[ps.node] += ps.gpus
		tr.podsOn[ps.node]++
		if m := tr.maxPodsPerNode; m > 0 && tr.podsOn[ps.node] > m {
			tr.violate("node %s holds %d pods, at most %d fit (pod %s just bound)", ps.node, tr.podsOn[ps.node], m, pod.Name)
		}
		if c, ok := tr.capacity[ps.node]; ok && tr.gpuOn[ps.node] > c {
			tr.violate("node %s has %d GPUs but its pods ask %d (pod %s just bound)", ps.node, c, tr.gpuOn[ps.node], pod.Name)
		} else if tr.capacity != nil && !ok {
			tr.violate("pod %s bound to %s, which is not one of the test's nodes", pod.Name, ps.node)
		}
	}
	tr.judge(js, now)
	bound, onBind := js.bound, tr.onBind
	tr.mu.Unlock()
	if newBind && onBind != nil {
		onBind(js.name, bound)
	}
}

// judge updates a job's partial and whole states after a change.
func (tr *bindTracker) judge(js *trackedJob, now time.Time) {
	partial := !js.finishing && js.bound > 0 && js.bound < js.min
	switch {
	case partial && js.partialSince.IsZero():
		js.partialSince = now
	case !partial && !js.partialSince.IsZero():
		js.longestPartial = max(js.longestPartial, now.Sub(js.partialSince))
		js.partialSince = time.Time{}
	}
	switch whole := js.bound >= js.min; {
	case whole && !js.isWhole:
		js.isWhole = true
		tr.whole++
		tr.maxWhole = max(tr.maxWhole, tr.whole)
		if !js.finishing {
			js.wholeAt = append(js.wholeAt, now)
			if tr.onWhole != nil {
				go tr.onWhole(js.name)
			}
		}
	case !whole && js.isWhole:
		js.isWhole = false
		tr.whole--
	}
}

func (tr *bindTracker) checkPartial(now time.Time) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, js := range tr.jobs {
		if !js.partialSince.IsZero() && !js.flagged && now.Sub(js.partialSince) > tr.grace {
			js.flagged = true
			tr.violate("job %s partially bound (%d of minimum %d, %d pods) for more than %v", js.name, js.bound, js.min, js.exist, tr.grace)
		}
	}
}

// finish marks the job's pods as going away and deletes them, as a job
// that completed.
func (tr *bindTracker) finish(ns, name string) error {
	tr.mu.Lock()
	js := tr.jobs[name]
	js.finishing = true
	tr.judge(js, time.Now())
	tr.mu.Unlock()
	return deleteJobPods(ns, name)
}

// state returns a copy of a job's state.
func (tr *bindTracker) state(name string) trackedJob {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	js := *tr.jobs[name]
	js.wholeAt = append([]time.Time(nil), js.wholeAt...)
	return js
}

// boundOf is a job's bound member count.
func (tr *bindTracker) boundOf(name string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.jobs[name].bound
}

// verify fails t for every violation seen and for every job partially
// bound now.
func (tr *bindTracker) verify(t *testing.T) {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, v := range tr.violations {
		t.Error(v)
	}
	names := make([]string, 0, len(tr.jobs))
	for name := range tr.jobs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		js := tr.jobs[name]
		if js.bound > 0 && js.bound < js.min {
			t.Errorf("job %s is partially bound at the end: %d of minimum %d", name, js.bound, js.min)
		}
	}
}

// summary is the jobs' longest partial window and how many jobs were
// whole at once at most, for the log.
func (tr *bindTracker) summary() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var longest time.Duration
	var who string
	for _, js := range tr.jobs {
		if js.longestPartial > longest {
			longest, who = js.longestPartial, js.name
		}
	}
	return fmt.Sprintf("%d pod events seen; longest transient partial bind window %v (job %s); at most %d jobs whole at once",
		tr.events, longest.Round(time.Millisecond), who, tr.maxWhole)
}

// jobRunner runs each job that becomes whole for hold, then deletes its
// pods as if it completed. Errors are kept for the test goroutine.
type jobRunner struct {
	tr   *bindTracker
	ns   string
	hold time.Duration

	mu   sync.Mutex
	errs []string
}

func (r *jobRunner) run(name string) {
	time.Sleep(r.hold)
	if err := r.tr.finish(r.ns, name); err != nil {
		r.mu.Lock()
		r.errs = append(r.errs, fmt.Sprintf("deleting the pods of job %s: %v", name, err))
		r.mu.Unlock()
	}
}

func (r *jobRunner) verify(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.errs {
		t.Error(e)
	}
}

// waitUntil polls cond every 50 ms until it holds, failing t after timeout
// with what and cond's last explanation.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not done after %v (last: %s)", what, timeout, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// progress counts the jobs that ran whole and are gone, and describes the
// others.
func (tr *bindTracker) progress() (done int, pending string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var rest []string
	for _, js := range tr.jobs {
		if len(js.wholeAt) > 0 && js.exist == 0 {
			done++
			continue
		}
		rest = append(rest, fmt.Sprintf("%s(%d/%d bound, %d pods)", js.name, js.bound, js.min, js.exist))
	}
	sort.Strings(rest)
	if len(rest) > 10 {
		rest = append(rest[:10], fmt.Sprintf("… %d more", len(rest)-10))
	}
	return done, strings.Join(rest, " ")
}
