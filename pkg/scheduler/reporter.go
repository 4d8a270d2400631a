package scheduler

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// failureReport is what to write for one pod.
type failureReport struct {
	pod    *v1.Pod
	reason string
	msg    string
}

// reporter writes scheduling failures (an event and the PodScheduled=False
// condition) off the scheduling loop. Reports are keyed by pod, so a pod
// that fails many times in a row costs one write with the latest message,
// and the writes use their own client (and rate limiter), never the
// binding client.
type reporter struct {
	client    kubernetes.Interface
	podLister corelisters.PodLister
	recorders map[string]events.EventRecorder
	queue     workqueue.TypedRateLimitingInterface[types.NamespacedName]

	mu      sync.Mutex
	pending map[types.NamespacedName]failureReport
}

func newReporter(client kubernetes.Interface, podLister corelisters.PodLister, recorders map[string]events.EventRecorder) *reporter {
	return &reporter{
		client:    client,
		podLister: podLister,
		recorders: recorders,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[types.NamespacedName](100*time.Millisecond, 10*time.Second),
			workqueue.TypedRateLimitingQueueConfig[types.NamespacedName]{Name: "berth-failure-reports"}),
		pending: map[types.NamespacedName]failureReport{},
	}
}

// Report queues a failure for pod; it never blocks on the API.
func (r *reporter) Report(pod *v1.Pod, reason, msg string) {
	key := types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}
	r.mu.Lock()
	r.pending[key] = failureReport{pod: pod, reason: reason, msg: msg}
	r.mu.Unlock()
	if rec, ok := r.recorders[pod.Spec.SchedulerName]; ok {
		// The events library aggregates and sends asynchronously.
		rec.Eventf(pod, nil, v1.EventTypeWarning, "FailedScheduling", "Scheduling", "%s", msg)
	}
	r.queue.Add(key)
}

// Run processes reports with workers until ctx is done.
func (r *reporter) Run(ctx context.Context, workers int) {
	defer r.queue.ShutDown()
	for i := 0; i < workers; i++ {
		go func() {
			for r.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
}

func (r *reporter) processNext(ctx context.Context) bool {
	key, quit := r.queue.Get()
	if quit {
		return false
	}
	defer r.queue.Done(key)
	r.mu.Lock()
	rep, ok := r.pending[key]
	delete(r.pending, key)
	r.mu.Unlock()
	if !ok {
		return true
	}
	if err := r.writeCondition(ctx, rep); err != nil {
		klog.FromContext(ctx).V(2).Info("Writing PodScheduled condition failed; retrying", "pod", key, "err", err)
		r.mu.Lock()
		if _, newer := r.pending[key]; !newer {
			r.pending[key] = rep
		}
		r.mu.Unlock()
		r.queue.AddRateLimited(key)
		return true
	}
	r.queue.Forget(key)
	return true
}

// writeCondition patches PodScheduled=False unless the pod already says
// exactly that, or is gone, bound or replaced.
func (r *reporter) writeCondition(ctx context.Context, rep failureReport) error {
	cur, err := r.podLister.Pods(rep.pod.Namespace).Get(rep.pod.Name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if cur.UID != rep.pod.UID || cur.Spec.NodeName != "" {
		return nil
	}
	for _, c := range cur.Status.Conditions {
		if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse && c.Reason == rep.reason && c.Message == rep.msg {
			return nil
		}
	}
	patch := map[string]any{
		"metadata": map[string]any{"uid": cur.UID},
		"status": map[string]any{
			"conditions": []any{map[string]any{
				"type":               v1.PodScheduled,
				"status":             v1.ConditionFalse,
				"reason":             rep.reason,
				"message":            rep.msg,
				"lastProbeTime":      nil,
				"lastTransitionTime": metav1.Now(),
			}},
		},
	}
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	_, err = r.client.CoreV1().Pods(cur.Namespace).Patch(ctx, cur.Name, types.StrategicMergePatchType, data, metav1.PatchOptions{}, "status")
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}
