package conformance

import (
	"context"
	"fmt"
	"slices"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/runtime"

	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/dynamic-resource-allocation/deviceclass/extendedresourcecache"
	resourceslicetracker "k8s.io/dynamic-resource-allocation/resourceslice/tracker"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/features"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/dynamicresources"
	"k8s.io/kubernetes/pkg/scheduler/util/assumecache"
)

// oracleDRA is kube-scheduler's DRA manager over one case's informer
// factory, wired the way scheduler.New and its event handlers wire it:
// ResourceClaims through an assume cache (whose handler keeps the manager's
// record of allocated devices), ResourceSlices through the slice tracker
// (which applies DeviceTaintRules when that gate is on, as it is by default
// in v1.37), DeviceClasses through the lister and, for extended resources
// backed by DRA, the extended-resource cache fed by the DeviceClass
// informer.
//
// A case with no resource.k8s.io object that does not load DynamicResources
// gets noDRA instead, which answers what the real manager would (there is
// no DeviceClass) without its informers, tracker and event broadcaster.
type oracleDRA struct {
	manager fwk.SharedDRAManager
	tracker *resourceslicetracker.Tracker
	// synced are the handler registrations that must have seen the initial
	// lists before a plugin runs; the informers' own stores are waited for
	// by the factory's WaitForCacheSync.
	synced []cache.ResourceEventHandlerRegistration
}

// newOracleDRA builds the manager over inf for loading names over c. Call
// wait after starting inf and stop when the case is done.
func newOracleDRA(ctx context.Context, client kubernetes.Interface, inf informers.SharedInformerFactory, c *Cluster, names []string) (*oracleDRA, error) {
	if !slices.Contains(names, dynamicresources.Name) && !slices.ContainsFunc(c.Objects, isDRAObject) {
		return &oracleDRA{manager: noDRA{}}, nil
	}
	logger := klog.FromContext(ctx)
	gates := utilfeature.DefaultFeatureGate
	claims := assumecache.NewAssumeCache(logger, inf.Resource().V1().ResourceClaims().Informer(), "ResourceClaim", "", nil)
	opts := resourceslicetracker.Options{
		EnableDeviceTaintRules:   gates.Enabled(features.DRADeviceTaintRules),
		EnableConsumableCapacity: gates.Enabled(features.DRAConsumableCapacity),
		SliceInformer:            inf.Resource().V1().ResourceSlices(),
		KubeClient:               client,
	}
	if opts.EnableDeviceTaintRules {
		opts.TaintInformer = inf.Resource().V1().DeviceTaintRules()
	}
	tracker, err := resourceslicetracker.StartTracker(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("resource slice tracker: %w", err)
	}
	d := &oracleDRA{tracker: tracker}
	mgr := dynamicresources.NewDRAManager(ctx, claims, tracker, inf)
	d.manager = mgr
	// NewDRAManager registered its allocated-devices handler on the assume
	// cache; the cache's own informer registration says when the initial
	// claims went through it (the cache forwards events synchronously).
	d.synced = append(d.synced, claims.AddEventHandler(cache.ResourceEventHandlerFuncs{}))
	if er, ok := mgr.DeviceClassResolver().(*extendedresourcecache.ExtendedResourceCache); ok && er != nil {
		reg, err := inf.Resource().V1().DeviceClasses().Informer().AddEventHandler(er)
		if err != nil {
			d.stop()
			return nil, fmt.Errorf("extended resource cache: %w", err)
		}
		d.synced = append(d.synced, reg)
	}
	return d, nil
}

// isDRAObject reports whether o is a resource.k8s.io object.
func isDRAObject(o runtime.Object) bool {
	switch o.(type) {
	case *resourceapi.DeviceClass, *resourceapi.ResourceSlice, *resourceapi.ResourceClaim,
		*resourceapi.ResourceClaimTemplate, *resourceapi.DeviceTaintRule:
		return true
	}
	return false
}

func (d *oracleDRA) wait(ctx context.Context) error {
	// The channels: cache.WaitForCacheSync polls every 100ms (a lot per
	// case) and cache.WaitFor logs every wait.
	if d.tracker == nil {
		return nil
	}
	checkers := []cache.DoneChecker{d.tracker.HasSyncedChecker()}
	for _, r := range d.synced {
		checkers = append(checkers, r.HasSyncedChecker())
	}
	for _, c := range checkers {
		select {
		case <-c.Done():
		case <-ctx.Done():
			return fmt.Errorf("DRA manager: %s did not sync: %w", c.Name(), ctx.Err())
		}
	}
	return nil
}

func (d *oracleDRA) stop() {
	if d.tracker != nil {
		d.tracker.Stop()
	}
}

// noDRA is the manager of a case without DRA objects: no DeviceClass, so
// NodeResourcesFit treats every extended resource as a device-plugin one.
// Nothing else reaches it (DynamicResources is not loaded).
type noDRA struct{ fwk.SharedDRAManager }

func (noDRA) DeviceClassResolver() fwk.DeviceClassResolver { return noDRA{} }

func (noDRA) GetDeviceClass(v1.ResourceName) *resourceapi.DeviceClass { return nil }
