package networkaware

import (
	"context"
	"fmt"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	agv1alpha1 "github.com/berthsched/berth/pkg/apis/appgroup/v1alpha1"
	ntv1alpha1 "github.com/berthsched/berth/pkg/apis/networktopology/v1alpha1"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/placement/network"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

// crdSource is one CRD the plugin reads: its lister when the API server
// serves it, else why not.
type crdSource struct {
	gvr      schema.GroupVersionResource
	resource framework.EventResource
	lister   cache.GenericLister
	why      string
}

// The event resources of the two CRDs, "<resource>.<group>" as the
// engine expects.
const (
	appGroupEvents        framework.EventResource = "appgroups." + agv1alpha1.GroupName
	networkTopologyEvents framework.EventResource = "networktopologies." + ntv1alpha1.GroupName
)

// open asks discovery whether gvr is served and, if it is, registers an
// informer for it on the dynamic factory. A CRD that is not served is
// logged at verbosity v (quietly where the engine evaluates without
// clients, simulations, by design).
func open(ctx context.Context, h framework.Handle, gvr schema.GroupVersionResource, resource framework.EventResource, remedy string, v int) (*crdSource, error) {
	s := &crdSource{gvr: gvr, resource: resource}
	why, err := pluginutil.Served(h, gvr, remedy)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", Name, err)
	}
	if why != "" {
		s.why = why
		if h.DynamicInformerFactory() == nil || h.ClientSet() == nil {
			v = 4
		}
		klog.FromContext(ctx).V(v).Info("CRD not read; pods that name its objects are placed without them", "plugin", Name, "resource", gvr.GroupResource(), "reason", why)
		return s, nil
	}
	s.lister = h.DynamicInformerFactory().ForResource(gvr).Lister()
	return s, nil
}

// converted is an object read once per resourceVersion: every pod of an
// application reads the same AppGroup every cycle.
type converted[T any] struct {
	rv  string
	obj *T
	err error
}

// convCache converts unstructured objects into T, once per version.
type convCache[T any] struct {
	mu sync.Mutex
	m  map[string]converted[T]
}

// maxConverted bounds a conversion cache (it is cleared when full).
const maxConverted = 10000

func (c *convCache[T]) get(obj runtime.Object) (*T, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("unexpected object %T", obj)
	}
	key := u.GetNamespace() + "/" + u.GetName()
	rv := u.GetResourceVersion()
	c.mu.Lock()
	hit, ok := c.m[key]
	c.mu.Unlock()
	if ok && rv != "" && hit.rv == rv {
		return hit.obj, hit.err
	}
	out := new(T)
	err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out)
	if err != nil {
		out = nil
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxConverted {
		c.m = map[string]converted[T]{}
	}
	c.m[key] = converted[T]{rv: rv, obj: out, err: err}
	c.mu.Unlock()
	return out, err
}

// appGroup finds the AppGroup a pod names: in the pod's namespace, then
// in args.appGroupNamespaces. problem says why it cannot ("" with a nil
// AppGroup never happens).
func (pl *NetworkAware) appGroup(namespace, name string) (ag *agv1alpha1.AppGroup, problem string) {
	src := pl.appGroups
	if src.lister == nil {
		return nil, fmt.Sprintf("the pod names AppGroup %q (label %s), which berth does not read: %s",
			name, agv1alpha1.AppGroupLabel, src.why)
	}
	searched := []string{namespace}
	for _, ns := range pl.args.AppGroupNamespaces {
		if ns != namespace {
			searched = append(searched, ns)
		}
	}
	for _, ns := range searched {
		obj, err := src.lister.ByNamespace(ns).Get(name)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Sprintf("reading AppGroup %s/%s: %v", ns, name, err)
		}
		ag, err := pl.agConv.get(obj)
		if err != nil {
			return nil, fmt.Sprintf("AppGroup %s/%s is unreadable: %v", ns, name, err)
		}
		return ag, ""
	}
	where := "namespace " + searched[0]
	if len(searched) > 1 {
		where = "namespaces " + strings.Join(searched, ", ")
	}
	return nil, fmt.Sprintf("AppGroup %q (named by the pod's label %s) not found in %s", name, agv1alpha1.AppGroupLabel, where)
}

// topologyModel is the cost model of a cycle: the args' levels, with the
// NetworkTopology's pair costs when one is configured and readable. note
// says what went wrong reading it ("" when nothing did).
func (pl *NetworkAware) topologyModel(ctx context.Context) (m *network.Model, note string) {
	ref := pl.args.NetworkTopology
	if ref == nil {
		return pl.base, ""
	}
	id := ref.Namespace + "/" + ref.Name
	src := pl.topology
	if src.lister == nil {
		return pl.base, pl.noteOnce(ctx, fmt.Sprintf("NetworkTopology %s not read: %s; costs from args.levels only", id, src.why))
	}
	obj, err := src.lister.ByNamespace(ref.Namespace).Get(ref.Name)
	if apierrors.IsNotFound(err) {
		return pl.base, pl.noteOnce(ctx, fmt.Sprintf("NetworkTopology %s not found; costs from args.levels only", id))
	}
	if err != nil {
		return pl.base, pl.noteOnce(ctx, fmt.Sprintf("reading NetworkTopology %s: %v; costs from args.levels only", id, err))
	}
	rv := ""
	if m, ok := obj.(metav1.Object); ok {
		rv = m.GetResourceVersion()
	}
	pl.topoMu.Lock()
	defer pl.topoMu.Unlock()
	if pl.topoModel != nil && rv != "" && rv == pl.topoRV {
		return pl.topoModel, pl.topoNote
	}
	pl.topoNote = ""
	pl.topoModel, pl.topoRV = pl.buildTopologyModel(ctx, id, obj), rv
	return pl.topoModel, pl.topoNote
}

// buildTopologyModel reads one version of the NetworkTopology; called
// with topoMu held, it sets topoNote when the object is only partly
// usable.
func (pl *NetworkAware) buildTopologyModel(ctx context.Context, id string, obj runtime.Object) *network.Model {
	nt, err := pl.ntConv.get(obj)
	if err != nil {
		pl.topoNote = pl.noteOnce(ctx, fmt.Sprintf("NetworkTopology %s is unreadable (%v); costs from args.levels only", id, err))
		return pl.base
	}
	pairs, found := network.TopologyPairs(nt, pl.args.NetworkTopology.WeightsName)
	if !found {
		pl.topoNote = pl.noteOnce(ctx, fmt.Sprintf("NetworkTopology %s has no weights named %q; costs from args.levels only", id, pl.args.NetworkTopology.WeightsName))
		return pl.base
	}
	m, unused := pl.base.WithPairs(pairs)
	if len(unused) > 0 {
		pl.topoNote = pl.noteOnce(ctx, fmt.Sprintf("NetworkTopology %s: topology keys %s are not among args.levels; their costs are ignored", id, strings.Join(unused, ", ")))
	}
	return m
}

// noteOnce logs a configuration problem the first time it is seen and
// returns it, for explanations.
func (pl *NetworkAware) noteOnce(ctx context.Context, note string) string {
	pl.topoNoteMu.Lock()
	first := pl.loggedNote != note
	pl.loggedNote = note
	pl.topoNoteMu.Unlock()
	if first {
		klog.FromContext(ctx).Info("NetworkAware: "+note, "plugin", Name)
	}
	return note
}
