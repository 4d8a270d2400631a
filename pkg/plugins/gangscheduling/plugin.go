package gangscheduling

import (
	"context"
	"fmt"
	"strings"
	"sync"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/placement/gang"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

// Name is the plugin's name, the same as kube-scheduler's gang plugin so
// that configurations naming it keep working.
const Name = "GangScheduling"

// podIndex is the pod informer index by group key.
const podIndex = "berth.io/pod-group"

// source is one API gangs are read from.
type source struct {
	api      gang.API
	resource framework.EventResource
	lister   cache.GenericLister
}

// GangScheduling is the plugin.
type GangScheduling struct {
	h    framework.Handle
	args Args
	// sources are the enabled APIs the server serves; unserved says why
	// each other enabled API is not read.
	sources  map[gang.API]*source
	unserved map[gang.API]string
	// pods finds a group's members: by index when the plugin could add
	// one, else by listing the namespace.
	podIndexer cache.Indexer
	podLister  corelisters.PodLister
	status     *statusWriter

	convMu sync.Mutex
	conv   map[string]converted
}

var (
	_ framework.PreEnqueuePlugin  = &GangScheduling{}
	_ framework.EnqueueExtensions = &GangScheduling{}
	_ framework.EventSourcer      = &GangScheduling{}
	_ framework.GroupPlugin       = &GangScheduling{}
)

// New builds the plugin. It asks the API server which of the enabled
// APIs it serves and watches those through the dynamic informer factory;
// where there is no client or no dynamic factory (simulations), no group
// is known and every pod is scheduled alone.
func New(ctx context.Context, obj runtime.Object, h framework.Handle) (framework.Plugin, error) {
	args := Args{}
	if a, ok := obj.(*Args); ok && a != nil {
		args = *a
	}
	SetDefaultArgs(&args)
	pl := &GangScheduling{h: h, args: args, sources: map[gang.API]*source{}, unserved: map[gang.API]string{}, conv: map[string]converted{}}
	for _, name := range args.APIs {
		api := gang.API(name)
		reason, err := served(h, api)
		if err != nil {
			return nil, err
		}
		if reason != "" {
			pl.unserved[api] = reason
			// Evaluations without clients (simulations) read no API by
			// design; a server that does not serve one is worth saying.
			v := 0
			if h.DynamicInformerFactory() == nil || h.ClientSet() == nil {
				v = 4
			}
			klog.FromContext(ctx).V(v).Info("Pod group API not read", "api", api, "reason", reason)
			continue
		}
		inf := h.DynamicInformerFactory().ForResource(api.Resource())
		pl.sources[api] = &source{api: api, resource: eventResource(api), lister: inf.Lister()}
		pl.forgetDeleted(ctx, api, inf.Informer())
	}
	if f := h.SharedInformerFactory(); f != nil {
		pods := f.Core().V1().Pods()
		pl.podLister = pods.Lister()
		inf := pods.Informer()
		// Another profile (or the explain evaluator) may have added the
		// index already; once the informer runs, none can be added and
		// members are found by listing their namespace instead.
		if _, have := inf.GetIndexer().GetIndexers()[podIndex]; have {
			pl.podIndexer = inf.GetIndexer()
		} else if err := inf.AddIndexers(cache.Indexers{podIndex: indexByGroup}); err == nil {
			pl.podIndexer = inf.GetIndexer()
		} else {
			klog.FromContext(ctx).V(2).Info("Pods not indexed by group; listing namespaces instead", "err", err)
		}
	}
	pl.status = newStatusWriter(ctx, pl, *args.UpdateStatus)
	if f := h.SharedInformerFactory(); f != nil && *args.UpdateStatus {
		_, err := f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			UpdateFunc: func(oldObj, newObj interface{}) {
				o, ok1 := oldObj.(*v1.Pod)
				n, ok2 := newObj.(*v1.Pod)
				if ok1 && ok2 && (o.Status.Phase != n.Status.Phase || o.Spec.NodeName != n.Spec.NodeName || (o.DeletionTimestamp == nil) != (n.DeletionTimestamp == nil)) {
					pl.refreshStatus(n)
				}
			},
			DeleteFunc: func(obj interface{}) {
				if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = d.Obj
				}
				if p, ok := obj.(*v1.Pod); ok {
					pl.refreshStatus(p)
				}
			},
		})
		if err != nil {
			// An informer that already stopped (a finished evaluation)
			// has no updates to deliver anyway.
			klog.FromContext(ctx).V(2).Info("Group status not refreshed on pod changes", "err", err)
		}
	}
	return pl, nil
}

// served says why api cannot be read ("" when it can), or fails when the
// server cannot be asked.
func served(h framework.Handle, api gang.API) (string, error) {
	return pluginutil.Served(h, api.Resource(),
		"install its CRD, or for scheduling.k8s.io enable the GenericWorkload feature gate and the v1beta1 API, then restart berth")
}

func eventResource(api gang.API) framework.EventResource {
	return framework.EventResource("podgroups." + string(api))
}

func indexByGroup(obj interface{}) ([]string, error) {
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return nil, nil
	}
	if key := gang.PodKey(pod); key != "" {
		return []string{key}, nil
	}
	return nil, nil
}

// Name implements framework.Plugin.
func (pl *GangScheduling) Name() string { return Name }

// EventSources declares the PodGroup resources the plugin reads.
func (pl *GangScheduling) EventSources() []framework.EventSource {
	var out []framework.EventSource
	for _, api := range gang.APIs {
		if s := pl.sources[api]; s != nil {
			out = append(out, framework.EventSource{Resource: s.resource, GVR: api.Resource()})
		}
	}
	return out
}

// EventsToRegister: a new member may complete a group's quorum, and a
// group created or changed may let its members in.
func (pl *GangScheduling) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	evs := []framework.ClusterEventWithHint{{
		Event:          framework.ClusterEvent{Resource: framework.Pod, ActionType: framework.Add},
		QueueingHintFn: sameGroupPod,
	}}
	for _, api := range gang.APIs {
		if s := pl.sources[api]; s != nil {
			evs = append(evs, framework.ClusterEventWithHint{
				Event:          framework.ClusterEvent{Resource: s.resource, ActionType: framework.Add | framework.UpdateOther},
				QueueingHintFn: sameGroupObject(api),
			})
		}
	}
	return evs, nil
}

func sameGroupPod(_ klog.Logger, pod *v1.Pod, _, newObj interface{}) (framework.QueueingHint, error) {
	added, ok := newObj.(*v1.Pod)
	if !ok {
		return framework.Queue, nil
	}
	// Called for every held pod on every pod add: compare without
	// building keys.
	if added.Namespace != pod.Namespace {
		return framework.QueueSkip, nil
	}
	if a, ok := gang.PodRef(pod); ok {
		if b, ok := gang.PodRef(added); ok && a == b {
			return framework.Queue, nil
		}
	}
	return framework.QueueSkip, nil
}

func sameGroupObject(api gang.API) framework.QueueingHintFn {
	return func(_ klog.Logger, pod *v1.Pod, _, newObj interface{}) (framework.QueueingHint, error) {
		u, ok := newObj.(*unstructured.Unstructured)
		if !ok {
			return framework.Queue, nil
		}
		ref, has := gang.PodRef(pod)
		if has && ref.API == api && ref.Name == u.GetName() && u.GetNamespace() == pod.Namespace {
			return framework.Queue, nil
		}
		return framework.QueueSkip, nil
	}
}

// GroupKey implements framework.GroupPlugin.
func (pl *GangScheduling) GroupKey(pod *v1.Pod) string { return gang.PodKey(pod) }

// lookup reads the group a pod names, or says why it cannot.
func (pl *GangScheduling) lookup(pod *v1.Pod) (*gang.Group, *framework.Status) {
	ref, ok := gang.PodRef(pod)
	if !ok {
		return nil, nil
	}
	src := pl.sources[ref.API]
	if src == nil {
		why := pl.unserved[ref.API]
		if why == "" {
			why = "the API is not enabled in GangScheduling's args (apis)"
		}
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable,
			fmt.Sprintf("pod names %s PodGroup %q, which berth does not read: %s", ref.API, ref.Name, why))
	}
	obj, err := src.lister.ByNamespace(pod.Namespace).Get(ref.Name)
	if apierrors.IsNotFound(err) {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable,
			fmt.Sprintf("waiting for PodGroup %s/%s (%s) to be created", pod.Namespace, ref.Name, ref.API))
	}
	if err != nil {
		return nil, framework.AsStatus(fmt.Errorf("reading PodGroup %s/%s (%s): %w", pod.Namespace, ref.Name, ref.API, err))
	}
	g, err := pl.convert(ref.API, obj)
	if err != nil {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, "invalid pod group: "+err.Error())
	}
	return g, nil
}

// converted is a group object read once per resourceVersion.
type converted struct {
	rv  string
	g   *gang.Group
	err error
}

// convert reads a group object, reusing the last reading of the same
// object version: PreEnqueue runs for every held member on every new
// member, and converting the unstructured object each time would make a
// gang's arrival quadratic in conversions.
func (pl *GangScheduling) convert(api gang.API, obj runtime.Object) (*gang.Group, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return gang.FromObject(api, obj)
	}
	key := gang.Key(api, m.GetNamespace(), m.GetName())
	pl.convMu.Lock()
	c, hit := pl.conv[key]
	pl.convMu.Unlock()
	if hit && c.rv == m.GetResourceVersion() && c.rv != "" {
		return c.g, c.err
	}
	g, err := gang.FromObject(api, obj)
	pl.convMu.Lock()
	if len(pl.conv) > maxConverted {
		clear(pl.conv)
	}
	pl.conv[key] = converted{rv: m.GetResourceVersion(), g: g, err: err}
	pl.convMu.Unlock()
	return g, err
}

// maxConverted bounds the conversion cache (it is cleared when full).
const maxConverted = 10000

// PreEnqueue holds a member back until its group exists and has at least
// its minimum of members, so that no attempt is made that cannot succeed.
func (pl *GangScheduling) PreEnqueue(_ context.Context, pod *v1.Pod) *framework.Status {
	g, st := pl.lookup(pod)
	if st != nil || g == nil || !g.Gang {
		return st
	}
	if n := len(pl.Members(g.Key())); n < g.MinMember {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable,
			fmt.Sprintf("waiting for members of PodGroup %s/%s (%s): %d of minMember %d exist", g.Namespace, g.Name, g.API, n, g.MinMember))
	}
	return nil
}

// PodGroup implements framework.GroupPlugin.
func (pl *GangScheduling) PodGroup(pod *v1.Pod) (*framework.PodGroup, *framework.Status) {
	g, st := pl.lookup(pod)
	if st != nil || g == nil || (!g.Gang && g.TopologyKey == "") {
		return nil, st
	}
	return toFramework(g), nil
}

func toFramework(g *gang.Group) *framework.PodGroup {
	return &framework.PodGroup{
		Key: g.Key(), API: string(g.API), Namespace: g.Namespace, Name: g.Name,
		MinMember: g.MinMember, MinResources: g.MinResources, ScheduleTimeout: g.ScheduleTimeout,
		TopologyKey: g.TopologyKey, Created: g.Created,
	}
}

// Members implements framework.GroupPlugin: the group's pods that are not
// terminated or being deleted.
func (pl *GangScheduling) Members(key string) []*v1.Pod {
	var pods []*v1.Pod
	switch {
	case pl.podIndexer != nil:
		objs, err := pl.podIndexer.ByIndex(podIndex, key)
		if err != nil {
			return nil
		}
		for _, o := range objs {
			if p, ok := o.(*v1.Pod); ok {
				pods = append(pods, p)
			}
		}
	case pl.podLister != nil:
		ns := namespaceOf(key)
		all, err := pl.podLister.Pods(ns).List(labels.Everything())
		if err != nil {
			return nil
		}
		for _, p := range all {
			if gang.PodKey(p) == key {
				pods = append(pods, p)
			}
		}
	}
	out := pods[:0]
	for _, p := range pods {
		if p.DeletionTimestamp == nil && p.Status.Phase != v1.PodSucceeded && p.Status.Phase != v1.PodFailed {
			out = append(out, p)
		}
	}
	return out
}

// allPods is every pod of the group, terminated ones included (for the
// status counts).
func (pl *GangScheduling) allPods(key string) []*v1.Pod {
	if pl.podIndexer != nil {
		objs, _ := pl.podIndexer.ByIndex(podIndex, key)
		out := make([]*v1.Pod, 0, len(objs))
		for _, o := range objs {
			if p, ok := o.(*v1.Pod); ok {
				out = append(out, p)
			}
		}
		return out
	}
	return pl.Members(key)
}

// namespaceOf returns the namespace part of a group key.
func namespaceOf(key string) string {
	parts := strings.SplitN(key, "/", 3)
	if len(parts) < 3 {
		return ""
	}
	return parts[1]
}

// refreshStatus queues a status rewrite of the pod's group.
func (pl *GangScheduling) refreshStatus(pod *v1.Pod) {
	if key := gang.PodKey(pod); key != "" {
		pl.status.refresh(key)
	}
}

// ReportGroup implements framework.GroupPlugin: the status writer takes
// it from here, off the scheduling loop.
func (pl *GangScheduling) ReportGroup(_ context.Context, r framework.GroupReport) {
	pl.status.enqueue(r)
}

// object returns the group's API object, for status writes and events.
func (pl *GangScheduling) object(g *framework.PodGroup) (*unstructured.Unstructured, bool) {
	src := pl.sources[gang.API(g.API)]
	if src == nil {
		return nil, false
	}
	obj, err := src.lister.ByNamespace(g.Namespace).Get(g.Name)
	if err != nil {
		return nil, false
	}
	u, ok := obj.(*unstructured.Unstructured)
	return u, ok
}

// forgetDeleted makes the status writer and the conversion cache forget a
// PodGroup of api when it is deleted: its last report, event and timeout
// marks would otherwise stay for the life of the process, and its
// conversion until the cache fills, one set per group ever seen (a
// cluster running short jobs as gangs creates groups all day).
func (pl *GangScheduling) forgetDeleted(ctx context.Context, api gang.API, inf cache.SharedIndexInformer) {
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: func(obj interface{}) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return
		}
		key := gang.Key(api, u.GetNamespace(), u.GetName())
		pl.convMu.Lock()
		delete(pl.conv, key)
		pl.convMu.Unlock()
		if pl.status != nil {
			pl.status.forget(key)
		}
	}})
	if err != nil {
		klog.FromContext(ctx).V(2).Info("Deleted pod groups not forgotten", "api", api, "err", err)
	}
}
