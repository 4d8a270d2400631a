package defaultpreemption

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"
)

// Event reasons and actions, as kube-scheduler's.
const (
	EventReasonPreempted        = "Preempted"
	EventReasonPreempting       = "Preempting"
	EventReasonFailedPreemption = "FailedPreemption"
	eventActionPreempting       = "Preempting"
)

// actuate carries out the decision off the scheduling loop: nominate the
// node on the preemptor, clear the nominations of lower-priority pods on
// that node (they would otherwise keep the room), and evict the victims.
// The engine records the nomination in memory itself, so the next cycles
// honour it before the API reflects it.
func (pl *DefaultPreemption) actuate(ctx context.Context, preemptor *v1.Pod, c *candidate) {
	if m := pl.preemption().PreemptionMetrics(); m != nil {
		m.Victims(len(c.victims))
	}
	var lowerNominated []*v1.Pod
	prio := corev1helpers.PodPriority(preemptor)
	for _, pi := range pl.preemption().NominatedPodsForNode(c.node) {
		if pi.Pod.UID != preemptor.UID && corev1helpers.PodPriority(pi.Pod) < prio {
			lowerNominated = append(lowerNominated, pi.Pod)
		}
	}
	logger := klog.FromContext(ctx)
	// The side effects outlive the cycle; keep the logger, not the
	// cycle's cancellation.
	actx := klog.NewContext(context.WithoutCancel(ctx), logger)
	pl.inflight.Add(1)
	pl.running.Store(preemptor.UID, struct{}{})
	pl.async(func() {
		defer pl.inflight.Done()
		defer pl.running.Delete(preemptor.UID)
		pl.execute(actx, preemptor, c, lowerNominated)
	})
}

func (pl *DefaultPreemption) execute(ctx context.Context, preemptor *v1.Pod, c *candidate, lowerNominated []*v1.Pod) {
	logger := klog.FromContext(ctx)
	cs := pl.h.ClientSet()
	if preemptor.Status.NominatedNodeName != c.node {
		if err := patchNominatedNodeName(ctx, cs.CoreV1().Pods(preemptor.Namespace), preemptor, c.node); err != nil {
			logger.Error(err, "Setting the preemptor's nominatedNodeName", "pod", klog.KObj(preemptor), "node", c.node)
		}
	}
	for _, p := range lowerNominated {
		if err := patchNominatedNodeName(ctx, cs.CoreV1().Pods(p.Namespace), p, ""); err != nil && !apierrors.IsNotFound(err) {
			logger.Error(err, "Clearing nominatedNodeName of a lower-priority pod", "pod", klog.KObj(p), "node", c.node)
		}
	}
	var failed []string
	for _, victim := range c.victims {
		// A victim's gang members taken along run on other nodes.
		node := c.node
		if victim.Spec.NodeName != "" {
			node = victim.Spec.NodeName
		}
		if err := pl.evict(ctx, preemptor, victim, node); err != nil {
			logger.Error(err, "Preempting victim", "preemptor", klog.KObj(preemptor), "victim", klog.KObj(victim), "node", c.node)
			failed = append(failed, klog.KObj(victim).String())
		}
	}
	if rec := pl.h.EventRecorder(); rec != nil {
		if len(failed) > 0 {
			rec.Eventf(preemptor, nil, v1.EventTypeWarning, EventReasonFailedPreemption, eventActionPreempting,
				"Could not preempt %d of %d victim(s) on node %s: %s", len(failed), len(c.victims), c.node, strings.Join(failed, ", "))
		} else {
			names := make([]string, len(c.victims))
			for i, v := range c.victims {
				names[i] = klog.KObj(v).String()
			}
			rec.Eventf(preemptor, nil, v1.EventTypeNormal, EventReasonPreempting, eventActionPreempting,
				"Preempting %d pod(s) on node %s: %s", len(c.victims), c.node, strings.Join(names, ", "))
		}
	}
	logger.V(2).Info("Preemption done", "preemptor", klog.KObj(preemptor), "node", c.node, "victims", len(c.victims), "failed", len(failed))
}

// evict removes one victim: a pod still waiting at Permit is rejected in
// memory; a pod already being deleted is left alone; any other gets the
// DisruptionTarget condition and a graceful delete.
func (pl *DefaultPreemption) evict(ctx context.Context, preemptor, victim *v1.Pod, node string) error {
	msg := fmt.Sprintf("Preempted by pod %s on node %s", preemptor.UID, node)
	if wp := pl.h.GetWaitingPod(string(victim.UID)); wp != nil {
		wp.Reject(Name, "preempted")
		msg += " (in scheduler memory)."
	} else {
		if victim.DeletionTimestamp != nil {
			return nil
		}
		pods := pl.h.ClientSet().CoreV1().Pods(victim.Namespace)
		cond := v1.PodCondition{
			Type:               v1.DisruptionTarget,
			Status:             v1.ConditionTrue,
			Reason:             v1.PodReasonPreemptionByScheduler,
			Message:            fmt.Sprintf("%s: preempting to accommodate a higher priority pod", preemptor.Spec.SchedulerName),
			LastTransitionTime: metav1.Now(),
		}
		if err := patchStatus(ctx, pods, victim.Name, map[string]any{"conditions": []v1.PodCondition{cond}}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("adding DisruptionTarget condition: %w", err)
		}
		opts := metav1.DeleteOptions{
			GracePeriodSeconds: victim.Spec.TerminationGracePeriodSeconds,
			Preconditions:      &metav1.Preconditions{UID: &victim.UID},
		}
		if err := pods.Delete(ctx, victim.Name, opts); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("deleting: %w", err)
		}
	}
	if rec := pl.h.EventRecorder(); rec != nil {
		rec.Eventf(victim, preemptor, v1.EventTypeNormal, EventReasonPreempted, eventActionPreempting, msg)
	}
	return nil
}

// podStatusPatcher is the part of the pods client the executor uses.
type podStatusPatcher interface {
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (*v1.Pod, error)
}

// patchNominatedNodeName sets (or, with node "", clears) the pod's
// status.nominatedNodeName.
func patchNominatedNodeName(ctx context.Context, pods podStatusPatcher, pod *v1.Pod, node string) error {
	var val any
	if node != "" {
		val = node
	}
	return patchStatus(ctx, pods, pod.Name, map[string]any{"nominatedNodeName": val})
}

// patchStatus strategic-merge-patches fields of a pod's status.
func patchStatus(ctx context.Context, pods podStatusPatcher, name string, status map[string]any) error {
	data, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	_, err = pods.Patch(ctx, name, types.StrategicMergePatchType, data, metav1.PatchOptions{}, "status")
	return err
}
