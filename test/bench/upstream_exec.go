package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/test/bench/upstream"
)

// upstreamExec runs one upstream workload's ops with one scheduler on a
// fresh control plane, as scheduler_perf runs each workload on a fresh API
// server: the scheduler under test schedules every pod the ops create
// (initial pods included), and the pods of collectMetrics ops are timed.
type upstreamExec struct {
	o      UpstreamOptions
	tc     *upstream.TestCase
	w      *upstream.Workload
	ops    []upstream.Op
	gates  map[string]bool
	sched  string
	logDir string
	logf   func(string, ...any)

	client  kubernetes.Interface
	dyn     dynamic.Interface
	mapper  *restmapper.DeferredDiscoveryRESTMapper
	r       *runner
	procs   procGroup
	warm    bool
	nodes   int
	nsCount int
	// collecting is set between start/stopCollectingMetrics.
	collecting bool
	prio       map[int32]string

	mu       sync.Mutex
	bindAt   map[string]time.Time // ns/name -> first seen bound
	deleted  map[string]bool
	measured []measuredPod
}

type measuredPod struct {
	key      string
	createAt time.Time
}

func (ex *upstreamExec) run(ctx context.Context) (res *UpstreamRun) {
	res = &UpstreamRun{Scheduler: ex.sched}
	t0 := time.Now()
	defer func() { res.WallSeconds = round3(time.Since(t0).Seconds()) }()
	ex.bindAt, ex.deleted, ex.prio = map[string]time.Time{}, map[string]bool{}, map[int32]string{}
	needCM := false
	for _, op := range ex.ops {
		if strings.Contains(strings.ToLower(op.TemplatePath), "resourceclaimtemplate") {
			needCM = true // its resourceclaim controller makes the pods' claims
		}
	}
	ex.logf("starting a fresh control plane (controller manager: %v)", needCM)
	env, err := testenv.Start(testenv.Options{ControllerManager: needCM})
	if err != nil {
		res.Error = fmt.Sprintf("start control plane: %v", err)
		return res
	}
	defer func() {
		if err := env.Stop(); err != nil {
			ex.logf("stop control plane: %v", err)
		}
	}()
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = ex.o.QPS, int(ex.o.Burst)
	cfg.UserAgent = "berth-bench-upstream"
	if ex.client, err = kubernetes.NewForConfig(cfg); err != nil {
		res.Error = err.Error()
		return res
	}
	if ex.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		res.Error = err.Error()
		return res
	}
	ex.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(ex.client.Discovery()))
	ex.r = &runner{o: ex.o.Options, w: &Workload{Name: ex.tc.Name}, client: ex.client, kubeconfig: env.Kubeconfig, logDir: ex.logDir, logf: ex.logf}

	logName := strings.ToLower("upstream-" + ex.tc.Name + "-" + ex.sched)
	gates := ""
	if ex.sched != Berth {
		var gs []string
		for k, v := range ex.gates {
			gs = append(gs, fmt.Sprintf("%s=%t", k, v))
		}
		gates = strings.Join(gs, ",")
	}
	ex.procs, err = startScheduler(ex.sched, ex.o.BinDir, env.Kubeconfig, ex.logDir, logName, ex.o.QPS, ex.o.Burst, gates)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer ex.procs.stop(15 * time.Second)

	ictx, icancel := context.WithCancel(ctx)
	defer icancel()
	factory := informers.NewSharedInformerFactory(ex.client, 0)
	inf := factory.Core().V1().Pods().Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { ex.observe(obj) },
		UpdateFunc: func(_, obj any) { ex.observe(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*v1.Pod); ok {
				ex.mu.Lock()
				ex.deleted[p.Namespace+"/"+p.Name] = true
				ex.mu.Unlock()
			}
		},
	})
	factory.Start(ictx.Done())
	factory.WaitForCacheSync(ictx.Done())

	var cpu0 []float64
	stop := "all-bound"
	for i, op := range ex.ops {
		if ctx.Err() != nil {
			res.Error = ctx.Err().Error()
			break
		}
		measuring := op.Opcode == upstream.OpCreatePods && (op.CollectMetrics || ex.collecting)
		if measuring && cpu0 == nil {
			cpu0 = ex.procs.cpuSeconds()
		}
		reason, err := ex.do(ctx, i, op, inf)
		if err != nil {
			res.Error = fmt.Sprintf("op #%d %s: %v", i, op.Opcode, err)
			break
		}
		if measuring && reason != "all-bound" && reason != "" {
			stop = reason
		}
	}
	res.StopReason = stop
	if res.Error != "" {
		res.StopReason = "error"
	}
	res.Nodes = ex.nodes
	if cpu0 != nil {
		_, res.CPUSeconds, res.PeakRSSMiB = ex.procs.usage(cpu0)
	}
	ex.figures(res)
	ex.logf("%s: %d nodes, %d/%d measured pods bound, %.1f pods/s, p99 %s, %d pods deleted by the scheduler",
		res.StopReason, res.Nodes, res.Bound, res.Measured, res.ThroughputAvg, fmtMs(res.LatencyP99Ms), res.Deleted)
	return res
}

func (ex *upstreamExec) observe(obj any) {
	p, ok := obj.(*v1.Pod)
	if !ok || p.Spec.NodeName == "" {
		return
	}
	key := p.Namespace + "/" + p.Name
	ex.mu.Lock()
	if _, seen := ex.bindAt[key]; !seen {
		ex.bindAt[key] = time.Now()
	}
	ex.mu.Unlock()
}

func (ex *upstreamExec) figures(res *UpstreamRun) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	res.Measured = len(ex.measured)
	var first, last time.Time
	var lat []float64
	for _, m := range ex.measured {
		if first.IsZero() || m.createAt.Before(first) {
			first = m.createAt
		}
		b, ok := ex.bindAt[m.key]
		if !ok {
			continue
		}
		res.Bound++
		lat = append(lat, float64(max(b.Sub(m.createAt), 0))/1e6)
		if b.After(last) {
			last = b
		}
	}
	for k := range ex.deleted {
		if !strings.HasPrefix(k, warmupNS+"/") {
			res.Deleted++
		}
	}
	if res.Bound > 0 && last.After(first) {
		res.ThroughputAvg = round3(float64(res.Bound) / last.Sub(first).Seconds())
		res.LatencyP50Ms = ptr.To(round3(percentile(lat, 50)))
		res.LatencyP99Ms = ptr.To(round3(percentile(lat, 99)))
	}
}

// do runs one op and, for createPods, returns how the wait for its pods
// ended.
func (ex *upstreamExec) do(ctx context.Context, i int, op upstream.Op, inf cache.SharedIndexInformer) (string, error) {
	switch op.Opcode {
	case upstream.OpCreateNodes:
		return "", ex.createNodes(ctx, op)
	case upstream.OpCreateNamespaces:
		for k := range op.Count {
			if err := ex.r.ensureNamespace(ctx, fmt.Sprintf("%s-%d", op.Prefix, k)); err != nil {
				return "", err
			}
		}
		return "", nil
	case upstream.OpCreatePods:
		return ex.createPods(ctx, i, op, inf)
	case upstream.OpCreateAny, upstream.OpCreatePodGroups:
		return "", ex.createAny(ctx, op)
	case upstream.OpBarrier:
		return ex.waitBound(ctx, func() int { return ex.pendingIn(inf, op.Namespaces) }), nil
	case upstream.OpSleep:
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(op.Duration):
		}
		return "", nil
	case upstream.OpStartCollectingMetrics:
		ex.collecting = true
		return "", nil
	case upstream.OpStopCollectingMetrics:
		ex.collecting = false
		return "", nil
	case upstream.OpAllocResourceClaims:
		return "", ex.allocClaims(ctx, op.Namespace)
	}
	return "", fmt.Errorf("opcode %s is not implemented", op.Opcode)
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// defaultNodeTemplate is scheduler_perf's node when createNodes names no
// template (its makeBaseNode has the same shape).
func (ex *upstreamExec) defaultNodeTemplate() string {
	return filepath.Join(ex.o.Dir, upstream.DefaultNodeTemplate)
}

func (ex *upstreamExec) createNodes(ctx context.Context, op upstream.Op) error {
	tmpl := op.NodeTemplatePath
	if tmpl == "" {
		tmpl = ex.defaultNodeTemplate()
	}
	base := ex.nodes
	features := 0
	if ex.gates["NodeDeclaredFeatures"] {
		if f, ok := ex.w.Params["numNodeDeclaredFeatures"].(float64); ok {
			features = int(f)
		}
	}
	start := time.Now()
	err := parallel(ctx, op.Count, ex.o.CreateWorkers, func(ctx context.Context, i int) error {
		data, err := upstream.Render(tmpl, upstream.Env(op.TemplateParams, i, op.Count))
		if err != nil {
			return err
		}
		n := &v1.Node{}
		if err := yaml.UnmarshalStrict(data, n); err != nil {
			return fmt.Errorf("%s: %v", tmpl, err)
		}
		if n.Name == "" {
			n.Name = fmt.Sprintf("%s%d", n.GenerateName, base+i)
			if n.GenerateName == "" {
				n.Name = fmt.Sprintf("scheduler-perf-%d", base+i)
			}
			n.GenerateName = ""
		}
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		// scheduler_perf's node preparer sets it too.
		n.Labels[v1.LabelHostname] = n.Name
		if s := op.LabelNodePrepareStrategy; s != nil && len(s.LabelValues) > 0 {
			n.Labels[s.LabelKey] = s.LabelValues[i%len(s.LabelValues)]
		}
		if s := op.UniqueNodeLabelStrategy; s != nil {
			n.Labels[s.LabelKey] = fmt.Sprintf("%s-%d", s.LabelKey, base+i)
		}
		if n.Status.Allocatable == nil {
			n.Status.Allocatable = v1.ResourceList{}
			for k, v := range n.Status.Capacity {
				n.Status.Allocatable[k] = v
			}
		}
		if s := op.NodeAllocatableStrategy; s != nil {
			for k, v := range s.NodeAllocatable {
				q, err := resource.ParseQuantity(v)
				if err != nil {
					return fmt.Errorf("nodeAllocatable %s: %v", k, err)
				}
				if n.Status.Capacity == nil {
					n.Status.Capacity = v1.ResourceList{}
				}
				n.Status.Capacity[v1.ResourceName(k)] = q
				n.Status.Allocatable[v1.ResourceName(k)] = q
			}
		}
		for f := 1; f <= features; f++ {
			n.Status.DeclaredFeatures = append(n.Status.DeclaredFeatures, fmt.Sprintf("Feature%d", f))
		}
		// The API server wants them sorted.
		sort.Strings(n.Status.DeclaredFeatures)
		nodes := ex.client.CoreV1().Nodes()
		if err := retry(ctx, func() error { _, err := nodes.Create(ctx, n, metav1.CreateOptions{}); return err }); err != nil {
			return fmt.Errorf("create node %s: %v", n.Name, err)
		}
		// Status is dropped on create; TaintNodesByCondition added the
		// not-ready taint: set the template's status and taints.
		status, _ := json.Marshal(map[string]any{"status": n.Status})
		if err := retry(ctx, func() error {
			_, err := nodes.Patch(ctx, n.Name, types.MergePatchType, status, metav1.PatchOptions{}, "status")
			return err
		}); err != nil {
			return fmt.Errorf("set status of node %s: %v", n.Name, err)
		}
		taints, _ := json.Marshal(map[string]any{"spec": map[string]any{"taints": n.Spec.Taints}})
		if err := retry(ctx, func() error {
			_, err := nodes.Patch(ctx, n.Name, types.MergePatchType, taints, metav1.PatchOptions{})
			return err
		}); err != nil {
			return fmt.Errorf("set taints of node %s: %v", n.Name, err)
		}
		if s := op.NodeAllocatableStrategy; s != nil && len(s.CSINodeAllocatable) > 0 {
			cn := &storagev1.CSINode{ObjectMeta: metav1.ObjectMeta{Name: n.Name}}
			for driver, a := range s.CSINodeAllocatable {
				cn.Spec.Drivers = append(cn.Spec.Drivers, storagev1.CSINodeDriver{Name: driver, NodeID: n.Name,
					Allocatable: &storagev1.VolumeNodeResources{Count: ptr.To(a.Count)}})
			}
			if err := retry(ctx, func() error {
				_, err := ex.client.StorageV1().CSINodes().Create(ctx, cn, metav1.CreateOptions{})
				return err
			}); err != nil {
				return fmt.Errorf("create CSINode %s: %v", n.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	ex.nodes += op.Count
	ex.logf("created %d nodes from %s in %s", op.Count, filepath.Base(tmpl), time.Since(start).Round(time.Millisecond))
	return nil
}

// priorityClass returns a PriorityClass of value, creating it: the
// Priority admission plugin rejects a pod that sets spec.priority itself,
// which scheduler_perf's templates do (its API server runs without that
// plugin).
func (ex *upstreamExec) priorityClass(ctx context.Context, value int32) (string, error) {
	ex.mu.Lock()
	name, ok := ex.prio[value]
	ex.mu.Unlock()
	if ok {
		return name, nil
	}
	name = fmt.Sprintf("upstream-priority-%d", value)
	_, err := ex.client.SchedulingV1().PriorityClasses().Create(ctx, &schedulingv1.PriorityClass{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	ex.mu.Lock()
	ex.prio[value] = name
	ex.mu.Unlock()
	return name, nil
}

func (ex *upstreamExec) createPods(ctx context.Context, i int, op upstream.Op, inf cache.SharedIndexInformer) (string, error) {
	ns := op.Namespace
	if ns == "" {
		ns = fmt.Sprintf("namespace-%d", ex.nsCount)
		ex.nsCount++
	}
	if err := ex.r.ensureNamespace(ctx, ns); err != nil {
		return "", err
	}
	if !ex.warm {
		ex.logf("waiting for the scheduler to bind a warm-up pod")
		if err := ex.r.warmUp(ctx, ex.sched, ex.procs, nil); err != nil {
			return "", err
		}
		ex.warm = true
	}
	measured := op.CollectMetrics || ex.collecting
	var pvTmpl *v1.PersistentVolume
	var pvcTmpl *v1.PersistentVolumeClaim
	if op.PersistentVolumeClaimTemplatePath != "" {
		pvcTmpl, pvTmpl = &v1.PersistentVolumeClaim{}, &v1.PersistentVolume{}
		for path, obj := range map[string]any{op.PersistentVolumeClaimTemplatePath: pvcTmpl, op.PersistentVolumeTemplatePath: pvTmpl} {
			data, err := upstream.Render(path, nil)
			if err != nil {
				return "", err
			}
			if err := yaml.UnmarshalStrict(data, obj); err != nil {
				return "", fmt.Errorf("%s: %v", path, err)
			}
		}
	}
	if op.PodTemplatePath == "" {
		op.PodTemplatePath = filepath.Join(ex.o.Dir, upstream.DefaultPodTemplate)
	}
	pods := ex.client.CoreV1().Pods(ns)
	schedName := schedulerNameFor(ex.sched)
	keys := make([]string, op.Count)
	start := time.Now()
	err := parallel(ctx, op.Count, ex.o.CreateWorkers, func(ctx context.Context, k int) error {
		data, err := upstream.Render(op.PodTemplatePath, upstream.Env(op.TemplateParams, k, op.Count))
		if err != nil {
			return err
		}
		tmpl := &v1.Pod{}
		if err := yaml.UnmarshalStrict(data, tmpl); err != nil {
			return fmt.Errorf("%s: %v", op.PodTemplatePath, err)
		}
		name := tmpl.Name
		if name == "" {
			name = fmt.Sprintf("%s%d-%d", tmpl.GenerateName, i, k)
		}
		p := buildPod(tmpl, ns, name, schedName)
		if tmpl.Spec.Priority != nil && tmpl.Spec.PriorityClassName == "" {
			pc, err := ex.priorityClass(ctx, *tmpl.Spec.Priority)
			if err != nil {
				return err
			}
			p.Spec.Priority, p.Spec.PriorityClassName = nil, pc
		}
		if pvcTmpl != nil {
			claim, err := ex.createBoundVolume(ctx, ns, k, pvcTmpl, pvTmpl)
			if err != nil {
				return err
			}
			p.Spec.Volumes = append(p.Spec.Volumes, v1.Volume{Name: "vol", VolumeSource: v1.VolumeSource{
				PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
		}
		at := time.Now()
		if err := retry(ctx, func() error { _, err := pods.Create(ctx, p, metav1.CreateOptions{}); return err }); err != nil {
			return fmt.Errorf("create pod %s/%s: %v", ns, p.Name, err)
		}
		keys[k] = ns + "/" + p.Name
		if measured {
			ex.mu.Lock()
			ex.measured = append(ex.measured, measuredPod{key: keys[k], createAt: at})
			ex.mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	ex.logf("created %d pods in %s from %s in %s (measured: %v)", op.Count, ns, filepath.Base(op.PodTemplatePath), time.Since(start).Round(time.Millisecond), measured)
	if op.SkipWaitToCompletion {
		return "", nil
	}
	reason := ex.waitBound(ctx, func() int { return ex.pendingOf(keys) })
	if reason != "all-bound" {
		reason += ex.whyPending(ctx, keys)
	}
	ex.logf("pods of %s: %s after %s", ns, reason, time.Since(start).Round(time.Millisecond))
	return reason, nil
}

// createBoundVolume creates PVC pvc-<k> and its PV, bound to each other,
// as scheduler_perf's CreatePodWithPersistentVolume does.
func (ex *upstreamExec) createBoundVolume(ctx context.Context, ns string, k int, pvcTmpl *v1.PersistentVolumeClaim, pvTmpl *v1.PersistentVolume) (string, error) {
	pvc := pvcTmpl.DeepCopy()
	pvc.Name = fmt.Sprintf("pvc-%d", k)
	pv := pvTmpl.DeepCopy()
	pv.Name = fmt.Sprintf("%s-vol-%d", ns, k)
	if pv.Spec.CSI != nil {
		pv.Spec.CSI.VolumeHandle = pv.Name
	}
	if pv.Spec.AWSElasticBlockStore != nil {
		pv.Spec.AWSElasticBlockStore.VolumeID = pv.Name
	}
	pv.Spec.ClaimRef = &v1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: ns, Name: pvc.Name, APIVersion: "v1"}
	pvc.Spec.VolumeName = pv.Name
	claims := ex.client.CoreV1().PersistentVolumeClaims(ns)
	created, err := claims.Create(ctx, pvc, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("create PVC: %v", err)
	}
	created.Status.Phase = v1.ClaimBound
	created.Status.AccessModes = pvc.Spec.AccessModes
	created.Status.Capacity = pv.Spec.Capacity
	if _, err := claims.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return "", fmt.Errorf("PVC status: %v", err)
	}
	cpv, err := ex.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("create PV: %v", err)
	}
	cpv.Status.Phase = v1.VolumeBound
	if _, err := ex.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, cpv, metav1.UpdateOptions{}); err != nil {
		return "", fmt.Errorf("PV status: %v", err)
	}
	return pvc.Name, nil
}

// pendingOf counts the pods of keys neither bound nor deleted.
func (ex *upstreamExec) pendingOf(keys []string) int {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	n := 0
	for _, k := range keys {
		if _, bound := ex.bindAt[k]; !bound && !ex.deleted[k] {
			n++
		}
	}
	return n
}

// whyPending describes the first pending pod of keys: its PodScheduled
// condition and nominated node, as scheduler_perf names "at least pod X
// is not scheduled".
func (ex *upstreamExec) whyPending(ctx context.Context, keys []string) string {
	for _, k := range keys {
		ex.mu.Lock()
		_, bound := ex.bindAt[k]
		gone := ex.deleted[k]
		ex.mu.Unlock()
		if bound || gone {
			continue
		}
		ns, name, _ := strings.Cut(k, "/")
		p, err := ex.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Sprintf("; pod %s: %v", k, err)
		}
		msg := "no PodScheduled condition"
		for _, c := range p.Status.Conditions {
			if c.Type == v1.PodScheduled {
				msg = fmt.Sprintf("%s: %s", c.Reason, c.Message)
			}
		}
		if p.Status.NominatedNodeName != "" {
			msg += "; nominated to " + p.Status.NominatedNodeName
		}
		return fmt.Sprintf("; e.g. pod %s: %s", k, msg)
	}
	return ""
}

// pendingIn counts the unbound pods of namespaces (empty: all but the
// warm-up namespace) in the informer's store.
func (ex *upstreamExec) pendingIn(inf cache.SharedIndexInformer, namespaces []string) int {
	n := 0
	for _, obj := range inf.GetStore().List() {
		p := obj.(*v1.Pod)
		if p.Namespace == warmupNS || p.DeletionTimestamp != nil || p.Spec.NodeName != "" {
			continue
		}
		if len(namespaces) == 0 || contains(namespaces, p.Namespace) {
			n++
		}
	}
	return n
}

// waitBound waits until pending reports 0: all-bound, stalled (pending
// unchanged for the stall timeout) or timeout.
func (ex *upstreamExec) waitBound(ctx context.Context, pending func() int) string {
	deadline := time.Now().Add(ex.o.RunTimeout)
	lastProgress, lastPending := time.Now(), -1
	for {
		n := pending()
		if n == 0 {
			return "all-bound"
		}
		if n != lastPending {
			lastPending, lastProgress = n, time.Now()
		}
		if err := ex.procs.alive(); err != nil {
			return "scheduler exited: " + err.Error()
		}
		switch {
		case time.Since(lastProgress) > ex.o.StallTimeout:
			return fmt.Sprintf("stalled (%d pending)", n)
		case time.Now().After(deadline):
			return fmt.Sprintf("timeout (%d pending)", n)
		}
		select {
		case <-ctx.Done():
			return "canceled"
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// createAny creates Count objects from a template through the dynamic
// client (createAny, createPodGroups).
func (ex *upstreamExec) createAny(ctx context.Context, op upstream.Op) error {
	if op.Namespace != "" {
		if err := ex.r.ensureNamespace(ctx, op.Namespace); err != nil {
			return err
		}
	}
	return parallel(ctx, op.Count, min(ex.o.CreateWorkers, 16), func(ctx context.Context, i int) error {
		data, err := upstream.Render(op.TemplatePath, upstream.Env(op.TemplateParams, i, op.Count))
		if err != nil {
			return err
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(data, &obj.Object); err != nil {
			return fmt.Errorf("%s: %v", op.TemplatePath, err)
		}
		gv, err := schema.ParseGroupVersion(obj.GetAPIVersion())
		if err != nil {
			return err
		}
		// Retry: a mapping can be missing until discovery is refreshed.
		return retryFor(ctx, 20*time.Second, func() error {
			m, err := ex.mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: obj.GetKind()}, gv.Version)
			if err != nil {
				ex.mapper.Reset()
				return err
			}
			var ri dynamic.ResourceInterface = ex.dyn.Resource(m.Resource)
			if op.Namespace != "" {
				ri = ex.dyn.Resource(m.Resource).Namespace(op.Namespace)
			}
			_, err = ri.Create(ctx, obj, metav1.CreateOptions{FieldValidation: "Strict"})
			if apierrors.IsAlreadyExists(err) {
				return nil
			}
			return err
		})
	})
}

func retryFor(ctx context.Context, d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// allocClaims allocates every ResourceClaim of ns first-fit over the
// cluster's ResourceSlices (each request: exactly Count devices, default
// 1, of any driver the request's class could select; selectors are not
// evaluated), as scheduler_perf's allocResourceClaims pre-fills a cluster.
func (ex *upstreamExec) allocClaims(ctx context.Context, ns string) error {
	claims, err := ex.client.ResourceV1().ResourceClaims(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	slices, err := ex.client.ResourceV1().ResourceSlices().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	type dev struct {
		driver, pool, name, node string
	}
	var free []dev
	for _, s := range slices.Items {
		for _, d := range s.Spec.Devices {
			free = append(free, dev{s.Spec.Driver, s.Spec.Pool.Name, d.Name, ptr.Deref(s.Spec.NodeName, "")})
		}
	}
	next := 0
	for i := range claims.Items {
		c := &claims.Items[i]
		if c.Status.Allocation != nil {
			continue
		}
		alloc := &resourceapi.AllocationResult{}
		node := ""
		for _, req := range c.Spec.Devices.Requests {
			n := 1
			if req.Exactly != nil && req.Exactly.AllocationMode == resourceapi.DeviceAllocationModeExactCount && req.Exactly.Count > 0 {
				n = int(req.Exactly.Count)
			}
			for range n {
				// Devices of one claim share a node.
				for next < len(free) && node != "" && free[next].node != node {
					next++
				}
				if next >= len(free) {
					return fmt.Errorf("allocResourceClaims: out of devices at claim %s", c.Name)
				}
				d := free[next]
				next++
				node = d.node
				alloc.Devices.Results = append(alloc.Devices.Results, resourceapi.DeviceRequestAllocationResult{
					Request: req.Name, Driver: d.driver, Pool: d.pool, Device: d.name})
			}
		}
		if node != "" {
			alloc.NodeSelector = &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchFields: []v1.NodeSelectorRequirement{{
				Key: "metadata.name", Operator: v1.NodeSelectorOpIn, Values: []string{node}}}}}}
		}
		c.Status.Allocation = alloc
		if _, err := ex.client.ResourceV1().ResourceClaims(ns).UpdateStatus(ctx, c, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("allocate claim %s: %v", c.Name, err)
		}
	}
	ex.logf("allocated %d resource claims in %s", len(claims.Items), ns)
	return nil
}
