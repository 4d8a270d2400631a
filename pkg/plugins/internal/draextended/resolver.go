// Package draextended tells which extended resources are backed by DRA: a
// DeviceClass that names the resource in spec.extendedResourceName, or the
// implicit deviceclass.resource.kubernetes.io/<class> name every class
// has. NodeResourcesFit and DynamicResources share one Resolver per
// informer factory, so both see the same mapping.
package draextended

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/dynamic-resource-allocation/deviceclass/extendedresourcecache"
	"k8s.io/klog/v2"
)

// Resolver maps extended resource names to the DeviceClass backing them,
// fed by the factory's DeviceClass informer. A nil *Resolver maps nothing.
type Resolver struct {
	cache *extendedresourcecache.ExtendedResourceCache
	reg   cache.ResourceEventHandlerRegistration
	inf   cache.SharedIndexInformer
	users int
}

var (
	mu        sync.Mutex
	byFactory = map[informers.SharedInformerFactory]*Resolver{}
)

// ForFactory returns the factory's resolver, registering it on the
// DeviceClass informer on first use. It is unregistered when the contexts
// of all its users have ended.
func ForFactory(ctx context.Context, f informers.SharedInformerFactory) (*Resolver, error) {
	mu.Lock()
	defer mu.Unlock()
	r := byFactory[f]
	if r == nil {
		inf := f.Resource().V1().DeviceClasses().Informer()
		c := extendedresourcecache.NewExtendedResourceCache(klog.FromContext(ctx).WithName("draextended"))
		reg, err := inf.AddEventHandler(c)
		if err != nil {
			return nil, fmt.Errorf("watching DeviceClasses for extended resources: %w", err)
		}
		r = &Resolver{cache: c, reg: reg, inf: inf}
		byFactory[f] = r
	}
	r.users++
	context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if r.users--; r.users == 0 {
			delete(byFactory, f)
			_ = r.inf.RemoveEventHandler(r.reg)
		}
	})
	return r, nil
}

// HasSynced reports whether the informer's initial list reached the
// resolver; a nil resolver has nothing to wait for.
func (r *Resolver) HasSynced() bool { return r == nil || r.reg.HasSynced() }

// DeviceClass returns the class backing the resource, nil when none does
// (or the name is not one DRA can back).
func (r *Resolver) DeviceClass(name v1.ResourceName) *resourceapi.DeviceClass {
	if r == nil || !IsDRAExtendedResourceName(name) {
		return nil
	}
	return r.cache.GetDeviceClass(name)
}

// Backed reports whether a DeviceClass backs the resource.
func (r *Resolver) Backed(name v1.ResourceName) bool { return r.DeviceClass(name) != nil }

// IsDRAExtendedResourceName reports whether DRA may back the name: an
// extended resource (outside kubernetes.io, with a domain, valid as a quota
// key) or an implicit deviceclass.resource.kubernetes.io/<class> name.
func IsDRAExtendedResourceName(name v1.ResourceName) bool {
	s := string(name)
	if strings.HasPrefix(s, resourceapi.ResourceDeviceClassPrefix) {
		return true
	}
	if !strings.Contains(s, "/") || strings.Contains(s, v1.ResourceDefaultNamespacePrefix) ||
		strings.HasPrefix(s, v1.DefaultResourceRequestsPrefix) {
		return false
	}
	return len(validation.IsQualifiedName(v1.DefaultResourceRequestsPrefix+s)) == 0
}

// BackedRequests lists, in a stable order, the resources the pod's
// containers and init containers request that a DeviceClass backs now,
// each as "resource=class". It reads only names, so it is cheap for pods
// that request nothing beyond cpu and memory.
func (r *Resolver) BackedRequests(pod *v1.Pod) []string {
	if r == nil {
		return nil
	}
	var out []string
	add := func(cs []v1.Container) {
		for i := range cs {
			for name := range cs[i].Resources.Requests {
				if dc := r.DeviceClass(name); dc != nil {
					out = append(out, string(name)+"="+dc.Name)
				}
			}
		}
	}
	add(pod.Spec.InitContainers)
	add(pod.Spec.Containers)
	if len(out) > 1 {
		slices.Sort(out)
		out = slices.Compact(out)
	}
	return out
}
