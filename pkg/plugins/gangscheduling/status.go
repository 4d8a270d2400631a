package gangscheduling

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	schedv1beta1 "k8s.io/api/scheduling/v1beta1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	volcanov1beta1 "github.com/berthsched/berth/pkg/apis/volcano/v1beta1"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/placement/gang"
)

// statusWorkers is how many groups' statuses are written at once.
const statusWorkers = 2

// statusWriter turns the engine's reports into each group's status and
// events, off the scheduling loop: reports are coalesced per group (only
// the latest is written) and failed writes are retried with backoff.
type statusWriter struct {
	pl      *GangScheduling
	ctx     context.Context
	enabled bool
	start   sync.Once
	queue   workqueue.TypedRateLimitingInterface[string]

	mu     sync.Mutex
	latest map[string]framework.GroupReport
	// told is the last event emitted per group (outcome and message), so
	// repeated attempts do not flood the group with identical events.
	told map[string]string
	// timedOut records the groups already told they passed their
	// scheduleTimeoutSeconds.
	timedOut map[string]bool
}

func newStatusWriter(ctx context.Context, pl *GangScheduling, enabled bool) *statusWriter {
	return &statusWriter{pl: pl, ctx: ctx, enabled: enabled,
		latest: map[string]framework.GroupReport{}, told: map[string]string{}, timedOut: map[string]bool{}}
}

func (w *statusWriter) enqueue(r framework.GroupReport) {
	w.start.Do(func() {
		w.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "berth_pod_group_status"})
		for range statusWorkers {
			go w.run()
		}
		go func() {
			<-w.ctx.Done()
			w.queue.ShutDown()
		}()
	})
	w.mu.Lock()
	w.latest[r.Group.Key] = r
	w.mu.Unlock()
	w.queue.Add(r.Group.Key)
}

// refresh rewrites a group's status from its members as they are now,
// after a member was deleted or changed phase (evicted by preemption,
// finished, failed): the phase and counts follow the pods, not only
// berth's attempts. Groups berth never reported on are left alone.
func (w *statusWriter) refresh(key string) {
	w.mu.Lock()
	_, known := w.latest[key]
	w.mu.Unlock()
	if known && w.queue != nil {
		w.queue.Add(key)
	}
}

func (w *statusWriter) run() {
	for {
		key, shutdown := w.queue.Get()
		if shutdown {
			return
		}
		if err := w.process(key); err != nil {
			klog.FromContext(w.ctx).V(2).Info("Writing pod group status failed; retrying", "podGroup", key, "err", err)
			w.queue.AddRateLimited(key)
		} else {
			w.queue.Forget(key)
		}
		w.queue.Done(key)
	}
}

func (w *statusWriter) process(key string) error {
	w.mu.Lock()
	r, ok := w.latest[key]
	w.mu.Unlock()
	if !ok {
		return nil
	}
	obj, ok := w.pl.object(r.Group)
	if !ok {
		return nil // deleted meanwhile
	}
	w.event(obj, r)
	if !w.enabled {
		return nil
	}
	switch gang.API(r.Group.API) {
	case gang.Upstream:
		return w.writeUpstream(obj, r)
	case gang.SchedulerPlugins:
		return w.writeSchedulerPlugins(obj, r)
	case gang.Volcano:
		return w.writeVolcano(obj, r)
	}
	return nil
}

// event records the outcome on the group object when it changed.
func (w *statusWriter) event(obj *unstructured.Unstructured, r framework.GroupReport) {
	rec := w.pl.h.EventRecorder()
	if rec == nil {
		return
	}
	key := r.Group.Key
	told := string(r.Outcome) + "|" + r.Message
	w.mu.Lock()
	same := w.told[key] == told
	w.told[key] = told
	late := false
	if t := r.Group.ScheduleTimeout; t > 0 && !w.timedOut[key] && (r.Outcome == framework.GroupUnschedulable || r.Outcome == framework.GroupWaiting) &&
		time.Since(r.Group.Created) > t {
		w.timedOut[key], late = true, true
	}
	w.mu.Unlock()
	if late {
		rec.Eventf(obj, nil, v1.EventTypeWarning, "ScheduleTimeout", "Scheduling",
			"not placed within scheduleTimeoutSeconds (%s); berth keeps trying: %s", r.Group.ScheduleTimeout, r.Message)
	}
	if same {
		return
	}
	typ, reason := v1.EventTypeNormal, string(r.Outcome)
	switch r.Outcome {
	case framework.GroupUnschedulable:
		typ = v1.EventTypeWarning
	case framework.GroupError:
		typ, reason = v1.EventTypeWarning, "SchedulerError"
	case framework.GroupPlaced:
		reason = "Scheduled"
	}
	rec.Eventf(obj, nil, typ, reason, "Scheduling", "%s", r.Message)
}

// mergePatch sends a JSON merge patch to the object's path (with
// subresource "status" or none).
func (w *statusWriter) mergePatch(gvrPath string, body any) error {
	cs := w.pl.h.ClientSet()
	if cs == nil {
		return nil
	}
	rc := cs.Discovery().RESTClient()
	if rc == nil {
		return nil
	}
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(w.ctx, 30*time.Second)
	defer cancel()
	return rc.Patch(types.MergePatchType).AbsPath(gvrPath).Body(data).Do(ctx).Error()
}

func objectPath(api gang.API, ns, name string, sub ...string) string {
	gvr := api.Resource()
	p := fmt.Sprintf("/apis/%s/%s/namespaces/%s/%s/%s", gvr.Group, gvr.Version, ns, gvr.Resource, name)
	for _, s := range sub {
		p += "/" + s
	}
	return p
}

// writeUpstream sets Kubernetes' PodGroupInitiallyScheduled condition:
// True once a placement reached the minimum (never reverted, as the API
// documents), False with Unschedulable or SchedulerError otherwise.
func (w *statusWriter) writeUpstream(obj *unstructured.Unstructured, r framework.GroupReport) error {
	pg := &schedv1beta1.PodGroup{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, pg); err != nil {
		return nil // unreadable: nothing sensible to write
	}
	cond := metav1.Condition{Type: schedv1beta1.PodGroupInitiallyScheduled, ObservedGeneration: pg.Generation, Message: r.Message}
	switch r.Outcome {
	case framework.GroupPlaced, framework.GroupBound:
		cond.Status, cond.Reason = metav1.ConditionTrue, "Scheduled"
	case framework.GroupError:
		cond.Status, cond.Reason = metav1.ConditionFalse, schedv1beta1.PodGroupReasonSchedulerError
	default:
		cond.Status, cond.Reason = metav1.ConditionFalse, schedv1beta1.PodGroupReasonUnschedulable
	}
	if old := apimeta.FindStatusCondition(pg.Status.Conditions, cond.Type); old != nil && old.Status == metav1.ConditionTrue && cond.Status != metav1.ConditionTrue {
		return nil
	}
	conds := append([]metav1.Condition(nil), pg.Status.Conditions...)
	if !apimeta.SetStatusCondition(&conds, cond) {
		return nil
	}
	return w.mergePatch(objectPath(gang.Upstream, pg.Namespace, pg.Name, "status"), map[string]any{"status": map[string]any{"conditions": conds}})
}

// writeSchedulerPlugins sets the phase and member counts the way the
// scheduler-plugins controller derives them, plus scheduleStartTime.
func (w *statusWriter) writeSchedulerPlugins(obj *unstructured.Unstructured, r framework.GroupReport) error {
	c := gang.CountMembers(w.pl.allPods(r.Group.Key), nil)
	status := map[string]any{
		"phase":     string(gang.SchedulerPluginsPhase(r.Group.MinMember, c)),
		"running":   c.Running,
		"succeeded": c.Succeeded,
		"failed":    c.Failed,
	}
	if start, _, _ := unstructured.NestedString(obj.Object, "status", "scheduleStartTime"); start == "" {
		status["scheduleStartTime"] = metav1.Now().UTC().Format(time.RFC3339)
	}
	if same(obj, status) {
		return nil
	}
	return w.mergePatch(objectPath(gang.SchedulerPlugins, obj.GetNamespace(), obj.GetName(), "status"), map[string]any{"status": status})
}

// writeVolcano sets Volcano's phase, counts and its Scheduled or
// Unschedulable condition. Volcano's CRD has no status subresource, so
// the object itself is patched.
func (w *statusWriter) writeVolcano(obj *unstructured.Unstructured, r framework.GroupReport) error {
	c := gang.CountMembers(w.pl.allPods(r.Group.Key), nil)
	if r.Outcome == framework.GroupPlaced {
		// Reserved members are not bound yet: the report counts them.
		c.Scheduled = max(c.Scheduled, r.Scheduled)
	}
	typ, st := volcanov1beta1.PodGroupConditionUnschedulable, v1.ConditionTrue
	if r.Outcome == framework.GroupPlaced || r.Outcome == framework.GroupBound {
		typ = volcanov1beta1.PodGroupConditionScheduled
	}
	cond := map[string]any{
		"type": string(typ), "status": string(st), "reason": string(r.Outcome), "message": r.Message,
		"lastTransitionTime": metav1.Now().UTC().Format(time.RFC3339),
	}
	status := map[string]any{
		"phase":      string(gang.VolcanoPhase(r.Group.MinMember, c, r.Outcome == framework.GroupPlaced)),
		"running":    c.Running,
		"succeeded":  c.Succeeded,
		"failed":     c.Failed,
		"conditions": []any{cond},
	}
	return w.mergePatch(objectPath(gang.Volcano, obj.GetNamespace(), obj.GetName()), map[string]any{"status": status})
}

// same reports whether the object's status already has these values.
func same(obj *unstructured.Unstructured, status map[string]any) bool {
	cur, _, _ := unstructured.NestedMap(obj.Object, "status")
	for k, v := range status {
		if k == "scheduleStartTime" {
			return false
		}
		if fmt.Sprint(cur[k]) != fmt.Sprint(v) {
			return false
		}
	}
	return true
}

// forget drops what the writer keeps about a group (deleted).
func (w *statusWriter) forget(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.latest, key)
	delete(w.told, key)
	delete(w.timedOut, key)
}
