package scheduler

import (
	"context"
	"fmt"
	"reflect"
	"slices"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
)

// StripManagedFields is an informer transform that drops managedFields,
// which the scheduler never reads and which roughly double the memory of
// a pod or node object.
func StripManagedFields(obj interface{}) (interface{}, error) {
	if a, err := meta.Accessor(obj); err == nil && a.GetManagedFields() != nil {
		a.SetManagedFields(nil)
	}
	return obj, nil
}

func isTerminal(p *v1.Pod) bool {
	return p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed
}

// assignedAndActive is a pod the cache accounts for: bound and not done.
func assignedAndActive(p *v1.Pod) bool { return p.Spec.NodeName != "" && !isTerminal(p) }

func podOf(obj interface{}) *v1.Pod {
	switch t := obj.(type) {
	case *v1.Pod:
		return t
	case cache.DeletedFinalStateUnknown:
		p, _ := t.Obj.(*v1.Pod)
		return p
	}
	return nil
}

func nodeOf(obj interface{}) *v1.Node {
	switch t := obj.(type) {
	case *v1.Node:
		return t
	case cache.DeletedFinalStateUnknown:
		n, _ := t.Obj.(*v1.Node)
		return n
	}
	return nil
}

// responsibleFor reports whether one of our profiles schedules the pod.
func (s *Scheduler) responsibleFor(p *v1.Pod) bool {
	_, ok := s.profiles[p.Spec.SchedulerName]
	return ok
}

var (
	evAssignedPodAdd    = framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Add, Label: "AssignedPodAdd"}
	evAssignedPodDelete = framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Delete, Label: "AssignedPodDelete"}
	evNodeAdd           = framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add, Label: "NodeAdd"}
)

func (s *Scheduler) addEventHandlers() error {
	logger := klog.Background()
	pods := s.informerFactory.Core().V1().Pods().Informer()
	// Bound pods feed the cache.
	reg, err := pods.AddEventHandler(cache.FilteringResourceEventHandler{
		FilterFunc: func(obj interface{}) bool {
			p := podOf(obj)
			return p != nil && assignedAndActive(p)
		},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj interface{}) {
				p := podOf(obj)
				if err := s.cache.AddPod(logger, p); err != nil {
					logger.Error(err, "Adding pod to cache", "pod", klog.KObj(p))
				}
				s.queue.MoveAllToActiveOrBackoffQueue(logger, evAssignedPodAdd, nil, p, nil)
			},
			UpdateFunc: func(oldObj, newObj interface{}) {
				oldP, newP := podOf(oldObj), podOf(newObj)
				if err := s.cache.UpdatePod(logger, oldP, newP); err != nil {
					logger.Error(err, "Updating pod in cache", "pod", klog.KObj(newP))
				}
				if ev, ok := assignedPodUpdateEvent(oldP, newP); ok {
					s.queue.MoveAllToActiveOrBackoffQueue(logger, ev, oldP, newP, nil)
				}
			},
			DeleteFunc: func(obj interface{}) {
				p := podOf(obj)
				if p == nil {
					return
				}
				if err := s.cache.RemovePod(logger, p); err != nil {
					logger.Error(err, "Removing pod from cache", "pod", klog.KObj(p))
				}
				s.queue.MoveAllToActiveOrBackoffQueue(logger, evAssignedPodDelete, p, nil, nil)
			},
		},
	})
	if err != nil {
		return err
	}
	s.handlers = append(s.handlers, reg)
	// Unbound pods of our profiles feed the queue.
	reg, err = pods.AddEventHandler(cache.FilteringResourceEventHandler{
		FilterFunc: func(obj interface{}) bool {
			p := podOf(obj)
			return p != nil && p.Spec.NodeName == "" && !isTerminal(p) && s.responsibleFor(p)
		},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj interface{}) {
				p := podOf(obj)
				s.nominator.AddNominatedPod(logger, p, "")
				s.queue.Add(logger, p)
			},
			UpdateFunc: func(oldObj, newObj interface{}) {
				newP := podOf(newObj)
				if assumed, _ := s.cache.IsAssumedPod(newP); assumed {
					// Our own bind is in flight; the informer will soon
					// deliver the bound pod.
					return
				}
				s.nominator.UpdateNominatedPod(logger, podOf(oldObj), newP)
				s.queue.Update(logger, podOf(oldObj), newP)
			},
			DeleteFunc: func(obj interface{}) {
				p := podOf(obj)
				if p == nil {
					return
				}
				s.queue.Delete(p)
				s.nominator.DeleteNominatedPodIfExists(p)
				for _, prof := range s.profiles {
					prof.RejectWaitingPod(string(p.UID), "pod was deleted or bound elsewhere")
				}
			},
		},
	})
	if err != nil {
		return err
	}
	s.handlers = append(s.handlers, reg)
	nodes := s.informerFactory.Core().V1().Nodes().Informer()
	reg, err = nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			n := nodeOf(obj)
			s.cache.AddNode(logger, n)
			s.queue.MoveAllToActiveOrBackoffQueue(logger, evNodeAdd, nil, n, nil)
		},
		UpdateFunc: func(oldObj, newObj interface{}) {
			oldN, newN := nodeOf(oldObj), nodeOf(newObj)
			s.cache.UpdateNode(logger, oldN, newN)
			if act := nodeUpdateActions(oldN, newN); act != 0 {
				s.queue.MoveAllToActiveOrBackoffQueue(logger, framework.ClusterEvent{Resource: framework.Node, ActionType: act, Label: "NodeUpdate"}, oldN, newN, nil)
			}
		},
		DeleteFunc: func(obj interface{}) {
			n := nodeOf(obj)
			if n == nil {
				return
			}
			if err := s.cache.RemoveNode(logger, n); err != nil {
				logger.Error(err, "Removing node from cache", "node", klog.KObj(n))
			}
		},
	})
	if err != nil {
		return err
	}
	s.handlers = append(s.handlers, reg)
	return nil
}

// WaitForHandlersSync waits until the pod and node handlers, and the
// profiles' framework.SyncedPlugins, have processed their informers'
// initial lists, so the first cycles see every node and bound pod in the
// cache (and every claim and device): an informer's own sync only covers its store,
// and a cycle run against a half-filled cache would call pods
// unschedulable that fit. It returns ctx's error if ctx ends first.
func (s *Scheduler) WaitForHandlersSync(ctx context.Context) error {
	synced := make([]cache.InformerSynced, 0, len(s.handlers)+len(s.profiles))
	for _, h := range s.handlers {
		synced = append(synced, h.HasSynced)
	}
	for _, p := range s.profiles {
		synced = append(synced, p.PluginsSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("event handlers did not sync: %w", ctx.Err())
	}
	return nil
}

// assignedPodUpdateEvent narrows a bound pod's update to what changed;
// a pod turning terminal is a delete as far as capacity goes.
func assignedPodUpdateEvent(oldP, newP *v1.Pod) (framework.ClusterEvent, bool) {
	var act framework.ActionType
	if !reflect.DeepEqual(oldP.Labels, newP.Labels) {
		act |= framework.UpdatePodLabel
	}
	if !equality.Semantic.DeepEqual(framework.PodRequests(oldP), framework.PodRequests(newP)) {
		act |= framework.UpdatePodScaleDown
	}
	if act == 0 {
		return framework.ClusterEvent{}, false
	}
	return framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: act, Label: "AssignedPodUpdate"}, true
}

// nodeUpdateActions says which scheduling-relevant parts of a node changed.
func nodeUpdateActions(oldN, newN *v1.Node) framework.ActionType {
	var act framework.ActionType
	if !equality.Semantic.DeepEqual(oldN.Status.Allocatable, newN.Status.Allocatable) {
		act |= framework.UpdateNodeAllocatable
	}
	if !reflect.DeepEqual(oldN.Labels, newN.Labels) {
		act |= framework.UpdateNodeLabel
	}
	if !reflect.DeepEqual(oldN.Spec.Taints, newN.Spec.Taints) || oldN.Spec.Unschedulable != newN.Spec.Unschedulable {
		act |= framework.UpdateNodeTaint
	}
	if !conditionsEqual(oldN.Status.Conditions, newN.Status.Conditions) {
		act |= framework.UpdateNodeCondition
	}
	if !reflect.DeepEqual(oldN.Annotations, newN.Annotations) {
		act |= framework.UpdateNodeAnnotation
	}
	// The API server keeps declaredFeatures sorted, so an equal set is an
	// equal slice.
	if !slices.Equal(oldN.Status.DeclaredFeatures, newN.Status.DeclaredFeatures) {
		act |= framework.UpdateNodeDeclaredFeature
	}
	return act
}

// conditionsEqual compares type and status only; heartbeat timestamps
// change every few seconds and must not wake the queue.
func conditionsEqual(a, b []v1.NodeCondition) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[v1.NodeConditionType]v1.ConditionStatus{}
	for _, c := range a {
		m[c.Type] = c.Status
	}
	for _, c := range b {
		if s, ok := m[c.Type]; !ok || s != c.Status {
			return false
		}
	}
	return true
}
