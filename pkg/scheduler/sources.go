package scheduler

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
)

// fedByHandlers are the resources the engine's own pod and node handlers
// turn into events (handlers.go).
var fedByHandlers = map[framework.EventResource]bool{
	framework.Pod: true, framework.AssignedPod: true, framework.UnscheduledPod: true,
	framework.Node: true, framework.WildCard: true,
}

// builtinSources are the typed resources the engine watches when some
// plugin registers events for them, so that a profile without volume or
// disruption-budget or DRA plugins never lists them (nor needs RBAC for them).
var builtinSources = map[framework.EventResource]func(informers.SharedInformerFactory) cache.SharedIndexInformer{
	framework.PersistentVolume: func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Core().V1().PersistentVolumes().Informer()
	},
	framework.PersistentVolumeClaim: func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Core().V1().PersistentVolumeClaims().Informer()
	},
	framework.StorageClass: func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Storage().V1().StorageClasses().Informer()
	},
	framework.CSINode: func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Storage().V1().CSINodes().Informer()
	},
	framework.CSIDriver: func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Storage().V1().CSIDrivers().Informer()
	},
	framework.CSIStorageCapacity: func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Storage().V1().CSIStorageCapacities().Informer()
	},
	framework.VolumeAttachment: func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Storage().V1().VolumeAttachments().Informer()
	},
	framework.PodDisruptionBudget: func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Policy().V1().PodDisruptionBudgets().Informer()
	},
	framework.ResourceClaim: func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Resource().V1().ResourceClaims().Informer()
	},
	framework.ResourceSlice: func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Resource().V1().ResourceSlices().Informer()
	},
	framework.DeviceClass: func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Resource().V1().DeviceClasses().Informer()
	},
	framework.DeviceTaintRule: func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Resource().V1().DeviceTaintRules().Informer()
	},
}

// checkEventFeeds fails when a plugin registered events for a resource
// that nothing will deliver: not one the engine watches, and not one any
// plugin declared as an event source (or declared, but the engine has no
// dynamic client to watch it with). Without this check such a plugin's
// rejected pods would wait for the periodic flush instead of the event.
func checkEventFeeds(clusterEvents map[string]map[string][]framework.ClusterEventWithHint, sources map[framework.EventResource]framework.EventSource, haveDynamic bool) error {
	var problems []string
	for prof, byPlugin := range clusterEvents {
		for plugin, evs := range byPlugin {
			for _, e := range evs {
				res := e.Event.Resource
				if fedByHandlers[res] || builtinSources[res] != nil {
					continue
				}
				src, declared := sources[res]
				switch {
				case !declared:
					problems = append(problems, fmt.Sprintf("profile %q: plugin %q registers events for resource %q, which nothing feeds (the engine watches Pods, Nodes, storage objects, PodDisruptionBudgets and DRA objects; declare any other resource with framework.EventSourcer)", prof, plugin, res))
				case !haveDynamic:
					problems = append(problems, fmt.Sprintf("profile %q: plugin %q needs events for %q (%s), but the scheduler was built without a dynamic informer factory", prof, plugin, res, src.GVR))
				}
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	return fmt.Errorf("%s", strings.Join(dedup(problems), "; "))
}

func dedup(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// addSourceEventHandlers turns changes of the resources the profiles'
// plugins registered for, beyond pods and nodes, into queue events: the
// built-in typed ones and the declared sources watched through the
// dynamic informer factory.
func (s *Scheduler) addSourceEventHandlers(clusterEvents map[string]map[string][]framework.ClusterEventWithHint, sources map[framework.EventResource]framework.EventSource) error {
	registered := map[framework.EventResource]bool{}
	for _, byPlugin := range clusterEvents {
		for _, evs := range byPlugin {
			for _, e := range evs {
				registered[e.Event.Resource] = true
			}
		}
	}
	names := make([]string, 0, len(registered))
	for res := range registered {
		names = append(names, string(res))
	}
	sort.Strings(names)
	for _, name := range names {
		res := framework.EventResource(name)
		var inf cache.SharedIndexInformer
		if typed := builtinSources[res]; typed != nil {
			inf = typed(s.informerFactory)
		} else if src, ok := sources[res]; ok && s.dynamicFactory != nil {
			inf = s.dynamicFactory.ForResource(src.GVR).Informer()
		} else {
			continue
		}
		if err := s.forwardEvents(res, inf); err != nil {
			return err
		}
	}
	return nil
}

// forwardEvents moves the queue's pods on every change of inf's objects.
func (s *Scheduler) forwardEvents(res framework.EventResource, inf cache.SharedIndexInformer) error {
	logger := klog.Background()
	move := func(act framework.ActionType, label string, oldObj, newObj interface{}) {
		s.queue.MoveAllToActiveOrBackoffQueue(logger, framework.ClusterEvent{Resource: res, ActionType: act, Label: string(res) + label}, oldObj, newObj, nil)
	}
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { move(framework.Add, "Add", nil, obj) },
		UpdateFunc: func(oldObj, newObj interface{}) { move(framework.UpdateOther, "Update", oldObj, newObj) },
		DeleteFunc: func(obj interface{}) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			move(framework.Delete, "Delete", obj, nil)
		},
	})
	return err
}
