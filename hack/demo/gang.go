package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	v1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	schedv1beta1 "k8s.io/api/scheduling/v1beta1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/crds"
	"github.com/berthsched/berth/internal/nodegen"
	volcanov1beta1 "github.com/berthsched/berth/pkg/apis/volcano/v1beta1"
	xv1alpha1 "github.com/berthsched/berth/pkg/apis/xscheduling/v1alpha1"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/placement/gang"
)

// The gang part: berth places a pod group whole or not at all. Four
// identical nodes form a pool (labelled and tainted, so no other pod of
// the demo lands there), and every worker of every job takes most of a
// node, so a node holds one worker:
//
//  1. train-a (Kubernetes' own PodGroup) and train-b (scheduler-plugins')
//     have three workers each; each job fits the pool alone, both do not.
//     Their pods are created interleaved, the way two job controllers
//     would create them. berth binds one job whole and none of the other,
//     whose members wait instead of holding the fourth node;
//  2. the placed job finishes (its pods are deleted) and the other is
//     placed whole;
//  3. urgent (a Volcano PodGroup of a higher PriorityClass) needs two
//     nodes while the training job holds three of the four. One of its
//     workers fits as things are, the other only by preemption: berth
//     evicts the training job whole (a gang is useless in part) and
//     places urgent.
//
// In 1, GangScheduling holds each job's members until all of them exist,
// and train-a's last worker is created before train-b's, so train-a is
// normally the one placed; the demo takes either. The nodes each job gets
// among the pool's identical ones are berth's choice and may differ
// between runs. What the demo checks, and waits for, is the
// all-or-nothing outcome of each step (the pool label's key is the GPU
// part's, with a value of its own).
const (
	gangPoolValue = "training"
	// gangJobLabel names a gang pod's job (also its PodGroup's name).
	gangJobLabel = "demo.berth.dev/job"
	// A worker asks for 5 of a node's 7.8 allocatable CPUs: one per node.
	gangWorkerCPU  = "5"
	gangWorkerMem  = "20Gi"
	batchClass     = "demo-batch"
	batchPriority  = 100
	urgentClass    = "demo-urgent"
	urgentPriority = 10000
)

var (
	gangNodeOpts = nodegen.Options{Count: 4, Profile: nodegen.ProfileBasic, Prefix: "train-", Zones: 1}
	gangTaint    = v1.Taint{Key: gpuPoolLabel, Value: gangPoolValue, Effect: v1.TaintEffectNoSchedule}
)

// gangJob is a job whose workers form one gang: a PodGroup of one API and
// its member pods, all alike; the group's minimum is every worker.
type gangJob struct {
	name    string
	api     gang.API
	workers int
	class   string
	prio    int32
}

var (
	trainA    = &gangJob{name: "train-a", api: gang.Upstream, workers: 3, class: batchClass, prio: batchPriority}
	trainB    = &gangJob{name: "train-b", api: gang.SchedulerPlugins, workers: 3, class: batchClass, prio: batchPriority}
	urgentJob = &gangJob{name: "urgent", api: gang.Volcano, workers: 2, class: urgentClass, prio: urgentPriority}
	gangJobs  = []*gangJob{trainA, trainB, urgentJob}
)

func (j *gangJob) podName(i int) string { return fmt.Sprintf("%s-%d", j.name, i) }

// describe says how the job declares its gang.
func (j *gangJob) describe() string {
	switch j.api {
	case gang.Upstream:
		return fmt.Sprintf("%s PodGroup, gang minCount %d; pods set spec.schedulingGroup.podGroupName", schedv1beta1.SchemeGroupVersion, j.workers)
	case gang.SchedulerPlugins:
		return fmt.Sprintf("%s PodGroup, minMember %d; pods carry label %s", xv1alpha1.SchemeGroupVersion, j.workers, xv1alpha1.PodGroupLabel)
	}
	return fmt.Sprintf("%s PodGroup, minMember %d; pods carry annotation %s", volcanov1beta1.SchemeGroupVersion, j.workers, volcanov1beta1.GroupNameAnnotation)
}

// createGroup creates the job's PodGroup in its API.
func (j *gangJob) createGroup(ctx context.Context, client kubernetes.Interface, dyn dynamic.Interface) error {
	min := int32(j.workers)
	var obj runtime.Object
	switch j.api {
	case gang.Upstream:
		pg := &schedv1beta1.PodGroup{
			ObjectMeta: metav1.ObjectMeta{Name: j.name},
			Spec: schedv1beta1.PodGroupSpec{SchedulingPolicy: schedv1beta1.PodGroupSchedulingPolicy{
				Gang: &schedv1beta1.GangSchedulingPolicy{MinCount: min},
			}},
		}
		_, err := client.SchedulingV1beta1().PodGroups(namespace).Create(ctx, pg, metav1.CreateOptions{})
		return err
	case gang.SchedulerPlugins:
		obj = &xv1alpha1.PodGroup{
			TypeMeta:   metav1.TypeMeta{APIVersion: xv1alpha1.SchemeGroupVersion.String(), Kind: xv1alpha1.PodGroupKind.Kind},
			ObjectMeta: metav1.ObjectMeta{Name: j.name},
			Spec:       xv1alpha1.PodGroupSpec{MinMember: min},
		}
	case gang.Volcano:
		obj = &volcanov1beta1.PodGroup{
			TypeMeta:   metav1.TypeMeta{APIVersion: volcanov1beta1.SchemeGroupVersion.String(), Kind: volcanov1beta1.PodGroupKind.Kind},
			ObjectMeta: metav1.ObjectMeta{Name: j.name},
			Spec:       volcanov1beta1.PodGroupSpec{MinMember: min, PriorityClassName: j.class},
		}
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	_, err = dyn.Resource(j.api.Resource()).Namespace(namespace).Create(ctx, &unstructured.Unstructured{Object: m}, metav1.CreateOptions{})
	return err
}

// pod builds worker i: it selects and tolerates the pool, names the job's
// group the way its API does, and has no grace period (no kubelet runs
// to finish a graceful deletion, and preemption deletes with the pod's
// own grace period).
func (j *gangJob) pod(i int) *v1.Pod {
	p := newPod(gangWorkerCPU, gangWorkerMem, 0)
	p.Name = j.podName(i)
	p.Labels[gangJobLabel] = j.name
	p.Spec.NodeSelector = map[string]string{gpuPoolLabel: gangPoolValue}
	p.Spec.Tolerations = []v1.Toleration{{Key: gangTaint.Key, Operator: v1.TolerationOpEqual, Value: gangTaint.Value, Effect: gangTaint.Effect}}
	p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](0)
	p.Spec.PriorityClassName = j.class
	switch j.api {
	case gang.Upstream:
		p.Spec.SchedulingGroup = &v1.PodSchedulingGroup{PodGroupName: ptr.To(j.name)}
	case gang.SchedulerPlugins:
		p.Labels[xv1alpha1.PodGroupLabel] = j.name
	case gang.Volcano:
		p.Annotations = map[string]string{volcanov1beta1.GroupNameAnnotation: j.name}
	}
	return p
}

// installCRDs applies deploy/crds (kustomize, as the integration tests
// do) and waits until the API server serves both PodGroup CRDs, and checks
// that it serves Kubernetes' own PodGroup. berth reads only the pod group
// APIs served when it starts, so this runs before berth does.
func installCRDs(ctx context.Context, u *ui, client kubernetes.Interface, cfg *rest.Config) error {
	u.step("Installing the PodGroup CRDs of scheduler-plugins and Volcano from deploy/crds (berth reads only the pod group APIs served when it starts)")
	t := time.Now()
	root, err := repoRoot()
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	names, err := crds.ApplyCRDs(ctx, dyn, root, "berth-demo")
	if err != nil {
		return err
	}
	// Established, and listed by discovery (which is what berth asks).
	served := func(gvr schema.GroupVersionResource) bool {
		l, err := client.Discovery().ServerResourcesForGroupVersion(gvr.GroupVersion().String())
		return err == nil && slices.ContainsFunc(l.APIResources, func(r metav1.APIResource) bool { return r.Name == gvr.Resource })
	}
	for {
		var missing []string
		for _, api := range []gang.API{gang.SchedulerPlugins, gang.Volcano} {
			if !served(api.Resource()) {
				missing = append(missing, api.Resource().GroupResource().String())
			}
		}
		if len(missing) == 0 {
			break
		}
		u.progress("%4.1fs  waiting for the API server to serve %s", time.Since(t).Seconds(), strings.Join(missing, ", "))
		if time.Since(t) > 30*time.Second {
			u.abort()
			return fmt.Errorf("the API server does not serve %s 30s after the CRDs were applied", strings.Join(missing, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !served(gang.UpstreamPodGroups) {
		return fmt.Errorf("the API server does not serve %s (devcluster enables it with the GenericWorkload feature gate)", gang.UpstreamPodGroups)
	}
	u.done("Applied %s; served in %s, with Kubernetes' own %s", strings.Join(names, " and "), since(t), gang.UpstreamPodGroups.GroupResource())
	return nil
}

// repoRoot is the nearest parent of the working directory whose go.mod
// declares berth's module.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if f, err := os.Open(filepath.Join(dir, "go.mod")); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if fields := strings.Fields(sc.Text()); len(fields) == 2 && fields[0] == "module" && strings.Trim(fields[1], `"`) == "github.com/berthsched/berth" {
					f.Close()
					return dir, nil
				}
			}
			f.Close()
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("cannot find the berth repository root above %s (deploy/crds is read from it)", wd)
		}
	}
}

// gangScene reads and waits on the gang part's objects.
type gangScene struct {
	u       *ui
	client  kubernetes.Interface
	dyn     dynamic.Interface
	timeout time.Duration
	// pods are the jobs' pods at the last read, by job, in name order.
	pods map[string][]v1.Pod
	// created are the jobs created so far.
	created []*gangJob
}

// read lists the gang pods.
func (s *gangScene) read(ctx context.Context) error {
	l, err := s.client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: gangJobLabel})
	if err != nil {
		return err
	}
	s.pods = map[string][]v1.Pod{}
	for _, p := range l.Items {
		s.pods[p.Labels[gangJobLabel]] = append(s.pods[p.Labels[gangJobLabel]], p)
	}
	for _, ps := range s.pods {
		slices.SortFunc(ps, func(a, b v1.Pod) int { return strings.Compare(a.Name, b.Name) })
	}
	return nil
}

// bound counts the job's bound pods and the pods that exist.
func (s *gangScene) bound(j *gangJob) (bound, exist int) {
	for _, p := range s.pods[j.name] {
		if p.Spec.NodeName != "" {
			bound++
		}
	}
	return bound, len(s.pods[j.name])
}

// whole: every worker bound; none: workers exist, none bound, each
// marked unschedulable.
func (s *gangScene) whole(j *gangJob) bool {
	b, n := s.bound(j)
	return n == j.workers && b == n
}

func (s *gangScene) noneBoundAllPending(j *gangJob) bool {
	ps := s.pods[j.name]
	if len(ps) != j.workers {
		return false
	}
	for i := range ps {
		if ps[i].Spec.NodeName != "" || !isUnschedulable(&ps[i]) {
			return false
		}
	}
	return true
}

// status is the job's PodGroup status as berth wrote it, in short, and
// whether it agrees with the job's pods (berth writes it off its
// scheduling loop, a moment after the decision).
func (s *gangScene) status(ctx context.Context, j *gangJob) (string, bool, error) {
	b, n := s.bound(j)
	all := n > 0 && b == n
	switch j.api {
	case gang.Upstream:
		pg, err := s.client.SchedulingV1beta1().PodGroups(namespace).Get(ctx, j.name, metav1.GetOptions{})
		if err != nil {
			return "", false, err
		}
		c := apimeta.FindStatusCondition(pg.Status.Conditions, schedv1beta1.PodGroupInitiallyScheduled)
		if c == nil {
			return "(none yet)", n == 0, nil
		}
		return fmt.Sprintf("%s=%s (%s)", c.Type, c.Status, c.Reason), !all || c.Status == metav1.ConditionTrue, nil
	case gang.SchedulerPlugins:
		var pg xv1alpha1.PodGroup
		if err := s.get(ctx, j, &pg); err != nil {
			return "", false, err
		}
		if pg.Status.Phase == "" {
			return "(none yet)", n == 0, nil
		}
		st := "phase " + string(pg.Status.Phase)
		if !pg.Status.ScheduleStartTime.IsZero() {
			st += ", scheduleStartTime set"
		}
		return st, true, nil
	default:
		var pg volcanov1beta1.PodGroup
		if err := s.get(ctx, j, &pg); err != nil {
			return "", false, err
		}
		if pg.Status.Phase == "" {
			return "(none yet)", n == 0, nil
		}
		st := "phase " + string(pg.Status.Phase)
		for _, c := range pg.Status.Conditions {
			if c.Status == v1.ConditionTrue {
				st += ", " + string(c.Type)
			}
		}
		return st, !all || pg.Status.Phase == volcanov1beta1.PodGroupRunning, nil
	}
}

func (s *gangScene) get(ctx context.Context, j *gangJob, into any) error {
	obj, err := s.dyn.Resource(j.api.Resource()).Namespace(namespace).Get(ctx, j.name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	return runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, into)
}

// settled reports whether every created job's status agrees with its pods.
func (s *gangScene) settled(ctx context.Context) (bool, error) {
	for _, j := range s.created {
		_, ok, err := s.status(ctx, j)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// counts describes the jobs' bound members for the progress line.
func (s *gangScene) counts() string {
	var parts []string
	for _, j := range s.created {
		b, n := s.bound(j)
		parts = append(parts, fmt.Sprintf("%s %d/%d bound", j.name, b, n))
	}
	return strings.Join(parts, ", ")
}

// waitFor reads the scene every 100 ms until done holds or the timeout
// passes. A job seen partly bound (some but not all of its workers) for
// more than a second fails at once: berth binds a gang's members by
// separate calls after its barrier, so a whole gang shows up member by
// member for a moment, but never stays in part.
func (s *gangScene) waitFor(ctx context.Context, what string, done func() (bool, error)) error {
	t := time.Now()
	partialSince := map[string]time.Time{}
	for {
		if err := s.read(ctx); err != nil {
			return err
		}
		for _, j := range s.created {
			if b, n := s.bound(j); b == 0 || b == j.workers {
				delete(partialSince, j.name)
			} else if from, ok := partialSince[j.name]; !ok {
				partialSince[j.name] = time.Now()
			} else if time.Since(from) > time.Second {
				s.u.abort()
				return fmt.Errorf("job %s is partly bound: %d of its %d workers (%d pods)", j.name, b, j.workers, n)
			}
		}
		ok, err := done()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		s.u.progress("%4.1fs  waiting for %s: %s", time.Since(t).Seconds(), what, s.counts())
		if time.Since(t) > s.timeout {
			s.u.abort()
			return fmt.Errorf("%s: not done within %s (%s)", what, s.timeout, s.counts())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// createJobs creates the jobs' PodGroups, then their pods interleaved.
func (s *gangScene) createJobs(ctx context.Context, jobs ...*gangJob) error {
	for _, j := range jobs {
		if err := j.createGroup(ctx, s.client, s.dyn); err != nil {
			return fmt.Errorf("create PodGroup %s (%s): %v", j.name, j.api, err)
		}
		s.created = append(s.created, j)
	}
	// Interleaved: worker 0 of each job, then worker 1 of each, …
	for i := 0; ; i++ {
		more := false
		for _, j := range jobs {
			if i >= j.workers {
				continue
			}
			more = true
			if _, err := s.client.CoreV1().Pods(namespace).Create(ctx, j.pod(i), metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("create pod %s: %v", j.podName(i), err)
			}
		}
		if !more {
			return nil
		}
	}
}

// runGang runs the gang part.
func runGang(ctx context.Context, u *ui, client kubernetes.Interface, cfg *rest.Config, bin, kubeconfig string, timeout time.Duration) error {
	start := time.Now()
	u.step("Gang scheduling: PodGroups of three APIs, each placed whole or not at all")
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	s := &gangScene{u: u, client: client, dyn: dyn, timeout: timeout}
	if _, err := nodegen.Create(ctx, client, gangNodeOpts); err != nil {
		return fmt.Errorf("create the gang pool's nodes: %v", err)
	}
	var pool []string
	for i := range gangNodeOpts.Count {
		pool = append(pool, nodegen.NodeName(gangNodeOpts, i))
	}
	if err := taint(ctx, client, pool, gangTaint, map[string]string{gpuPoolLabel: gangPoolValue}); err != nil {
		return err
	}
	for _, pc := range []*schedulingv1.PriorityClass{
		{ObjectMeta: metav1.ObjectMeta{Name: batchClass}, Value: batchPriority, Description: "the demo's training jobs"},
		{ObjectMeta: metav1.ObjectMeta{Name: urgentClass}, Value: urgentPriority, Description: "the demo's urgent job"},
	} {
		if _, err := client.SchedulingV1().PriorityClasses().Create(ctx, pc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create PriorityClass %s: %v", pc.Name, err)
		}
	}
	u.done("Created %s .. %s (8 CPUs each); tainted %s=%s:NoSchedule and labelled them %s=%s; PriorityClasses %s (%d) and %s (%d)",
		pool[0], pool[len(pool)-1], gangTaint.Key, gangTaint.Value, gpuPoolLabel, gangPoolValue, batchClass, batchPriority, urgentClass, urgentPriority)
	u.plain("    Every worker asks %s CPU and %s (one per node), selects and tolerates the pool:", gangWorkerCPU, gangWorkerMem)
	for _, j := range gangJobs {
		u.plain("    Job %-8s %d workers, class %-11s %s", j.name, j.workers, j.class+",", j.describe())
	}

	// 1. Two jobs that fit alone but not together.
	u.step("Gang 1/3: %s and %s (%d workers each) created interleaved on %d nodes: each fits alone, not both", trainA.name, trainB.name, trainA.workers, len(pool))
	t := time.Now()
	if err := s.createJobs(ctx, trainA, trainB); err != nil {
		return err
	}
	var placed, waiting *gangJob
	err = s.waitFor(ctx, "one job bound whole and the other not at all", func() (bool, error) {
		placed, waiting = nil, nil
		for _, pair := range [][2]*gangJob{{trainA, trainB}, {trainB, trainA}} {
			if s.whole(pair[0]) && s.noneBoundAllPending(pair[1]) {
				placed, waiting = pair[0], pair[1]
			}
		}
		if placed == nil {
			return false, nil
		}
		return s.settled(ctx)
	})
	if err != nil {
		return err
	}
	u.done("%s bound whole and none of %s's workers, in %s", placed.name, waiting.name, since(t))
	if err := s.printJobs(ctx, pool); err != nil {
		return err
	}
	if err := explainPending(ctx, u, bin, kubeconfig, []string{waiting.podName(0)}); err != nil {
		return err
	}

	// 2. The placed job finishes.
	u.step("Gang 2/3: %s finishes (its pods are deleted); %s gets the nodes", placed.name, waiting.name)
	t = time.Now()
	err = client.CoreV1().Pods(namespace).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)},
		metav1.ListOptions{LabelSelector: gangJobLabel + "=" + placed.name})
	if err != nil {
		return fmt.Errorf("delete the pods of %s: %v", placed.name, err)
	}
	err = s.waitFor(ctx, waiting.name+" bound whole", func() (bool, error) {
		if _, n := s.bound(placed); n > 0 || !s.whole(waiting) {
			return false, nil
		}
		return s.settled(ctx)
	})
	if err != nil {
		return err
	}
	u.done("%s bound whole %s after %s's pods were deleted", waiting.name, since(t), placed.name)
	if err := s.printJobs(ctx, pool); err != nil {
		return err
	}

	// 3. A higher-priority gang preempts the training job, whole.
	victims := slices.Clone(s.pods[waiting.name])
	held := map[string]bool{}
	for _, p := range victims {
		held[p.Spec.NodeName] = true
	}
	free := len(pool) - len(held)
	u.step("Gang 3/3: %s (priority %d, %d workers) arrives; %s (priority %d) holds %d of the %d nodes",
		urgentJob.name, urgentJob.prio, urgentJob.workers, waiting.name, waiting.prio, len(held), len(pool))
	t = time.Now()
	if err := s.createJobs(ctx, urgentJob); err != nil {
		return err
	}
	var events []eventsv1.Event
	err = s.waitFor(ctx, urgentJob.name+" bound whole and "+waiting.name+"'s pods evicted", func() (bool, error) {
		if _, n := s.bound(waiting); n > 0 || !s.whole(urgentJob) {
			return false, nil
		}
		// The evictions' and the group's events, written asynchronously.
		l, err := client.EventsV1().Events(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		events = l.Items
		for _, p := range victims {
			if findEvent(events, "Pod", p.Name, "Preempted") == nil {
				return false, nil
			}
		}
		if findEvent(events, "PodGroup", urgentJob.name, string(framework.GroupBound)) == nil {
			return false, nil
		}
		return s.settled(ctx)
	})
	if err != nil {
		return err
	}
	u.done("%s bound whole and all %d of %s's workers evicted, in %s", urgentJob.name, len(victims), waiting.name, since(t))
	if err := s.printJobs(ctx, pool); err != nil {
		return err
	}
	printVictims(victims, waiting, events, s.pods[urgentJob.name], urgentJob.workers-free)
	printGroupEvents(events, urgentJob.name)
	u.info("The gang part took %s.", since(start))
	return nil
}

// findEvent returns the first event about kind/name with the reason.
func findEvent(events []eventsv1.Event, kind, name, reason string) *eventsv1.Event {
	for i := range events {
		e := &events[i]
		if e.Regarding.Kind == kind && e.Regarding.Name == name && e.Reason == reason {
			return e
		}
	}
	return nil
}

// printJobs prints each job's bound workers, nodes and PodGroup status, and
// why the members of a job with none bound wait.
func (s *gangScene) printJobs(ctx context.Context, pool []string) error {
	fmt.Println()
	fmt.Printf("  Jobs on the pool (%s):\n", strings.Join(pool, ", "))
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  JOB\tPODGROUP API\tPRIORITY\tBOUND\tNODES\tPODGROUP STATUS (as berth last wrote it)")
	var pending *v1.Pod
	for _, j := range s.created {
		b, n := s.bound(j)
		st, _, err := s.status(ctx, j)
		if err != nil {
			return err
		}
		var nodes []string
		for i := range s.pods[j.name] {
			p := &s.pods[j.name][i]
			if p.Spec.NodeName != "" {
				nodes = append(nodes, p.Spec.NodeName)
			} else if pending == nil {
				pending = p
			}
		}
		slices.Sort(nodes)
		where := strings.Join(nodes, ", ")
		if where == "" {
			where = "-"
		}
		count := fmt.Sprintf("%d/%d", b, n)
		if n == 0 {
			count = fmt.Sprintf("0/%d (no pods left)", j.workers)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%s\n", j.name, j.api, j.prio, count, where, st)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if pending != nil {
		if c := scheduledCondition(pending); c != nil {
			fmt.Printf("  %s pending: %s\n", pending.Name, c.Message)
		}
	}
	fmt.Println()
	return nil
}

// printVictims lists the evicted workers from their Preempted events.
func printVictims(victims []v1.Pod, job *gangJob, events []eventsv1.Event, preemptors []v1.Pod, needed int) {
	byUID := map[string]string{}
	for _, p := range preemptors {
		byUID[string(p.UID)] = p.Name
	}
	workers := "workers"
	if needed == 1 {
		workers = "worker"
	}
	fmt.Printf("  Victims: %s needed the room of %d more %s; berth evicted %s whole (all %d workers; no pod of it is left):\n",
		urgentJob.name, needed, workers, job.name, len(victims))
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  POD\tPRIORITY\tNODE\tEVENT")
	for _, p := range victims {
		e := findEvent(events, "Pod", p.Name, "Preempted")
		note := e.Note
		if e.Related != nil && e.Related.Name != "" {
			note = fmt.Sprintf("%s: preempted by pod %s", e.Reason, e.Related.Name)
		} else {
			for uid, name := range byUID {
				note = strings.ReplaceAll(note, uid, name)
			}
			note = e.Reason + ": " + note
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\n", p.Name, job.prio, p.Spec.NodeName, note)
	}
	tw.Flush()
	fmt.Println()
}

// printGroupEvents prints the events on a PodGroup and on its pods'
// preemption, oldest first, the way kubectl get events lists them.
func printGroupEvents(events []eventsv1.Event, group string) {
	var out []eventsv1.Event
	for _, e := range events {
		if (e.Regarding.Kind == "PodGroup" && e.Regarding.Name == group) ||
			(e.Regarding.Kind == "Pod" && strings.HasPrefix(e.Regarding.Name, group+"-") && e.Reason == "Preempting") {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b eventsv1.Event) int { return eventTime(a).Compare(eventTime(b)) })
	fmt.Printf("  Events of PodGroup %s and its preemption, oldest first:\n", group)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  TYPE\tREASON\tOBJECT\tMESSAGE")
	for _, e := range out {
		fmt.Fprintf(tw, "  %s\t%s\t%s/%s\t%s\n", e.Type, e.Reason, strings.ToLower(e.Regarding.Kind), e.Regarding.Name, e.Note)
	}
	tw.Flush()
	fmt.Println()
}

func eventTime(e eventsv1.Event) time.Time {
	if !e.EventTime.IsZero() {
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}
