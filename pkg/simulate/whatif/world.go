package whatif

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/explain"
	"github.com/berthsched/berth/pkg/framework"
)

// listKinds names the list kind of every resource a snapshot may hold,
// which the in-memory dynamic client needs to serve lists.
var listKinds = map[schema.GroupVersionResource]string{}

func init() {
	kinds := map[string]string{
		"nodes": "NodeList", "pods": "PodList", "namespaces": "NamespaceList",
		"persistentvolumes": "PersistentVolumeList", "persistentvolumeclaims": "PersistentVolumeClaimList",
		"services": "ServiceList", "replicationcontrollers": "ReplicationControllerList",
		"storageclasses": "StorageClassList", "csinodes": "CSINodeList", "csidrivers": "CSIDriverList",
		"csistoragecapacities": "CSIStorageCapacityList", "volumeattachments": "VolumeAttachmentList",
		"poddisruptionbudgets": "PodDisruptionBudgetList", "priorityclasses": "PriorityClassList",
		"deviceclasses": "DeviceClassList", "resourceslices": "ResourceSliceList", "resourceclaims": "ResourceClaimList",
		"podgroups": "PodGroupList", "appgroups": "AppGroupList", "networktopologies": "NetworkTopologyList",
	}
	for _, gvr := range Resources {
		listKinds[gvr] = kinds[gvr.Resource]
	}
}

// world is one simulated cluster: the objects served to the plugins by
// client-go's in-memory object tracker (the same informers and listers
// `berth run` uses read it, so every plugin runs unchanged and nothing
// talks to a real cluster), and an explain.Cluster over it whose
// evaluator holds the nodes and bound pods.
type world struct {
	*explain.Cluster
}

// newWorld serves objs to a fresh set of profiles built from cfg. Every
// resource of Resources is served, empty when the snapshot has none of
// it: a resource the cluster did not serve has no objects either, and
// plugins then read "none" instead of logging that the API is missing.
func newWorld(ctx context.Context, objs []*unstructured.Unstructured, cfg *config.Config, reg framework.Registry) (*world, error) {
	var typed []runtime.Object
	dynObjs := make([]runtime.Object, 0, len(objs))
	for _, u := range objs {
		dynObjs = append(dynObjs, u)
		gvk := u.GroupVersionKind()
		if !scheme.Scheme.Recognizes(gvk) {
			continue
		}
		obj, err := scheme.Scheme.New(gvk)
		if err != nil {
			return nil, err
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj); err != nil {
			return nil, fmt.Errorf("%s %s: %w", gvk.Kind, objectName(u), err)
		}
		typed = append(typed, obj)
	}
	cs := fake.NewClientset(typed...)
	disc, ok := cs.Discovery().(*fakediscovery.FakeDiscovery)
	if !ok {
		return nil, fmt.Errorf("unexpected discovery client %T", cs.Discovery())
	}
	byGV := map[string]*metav1.APIResourceList{}
	for _, gvr := range Resources {
		gv := gvr.GroupVersion().String()
		l := byGV[gv]
		if l == nil {
			l = &metav1.APIResourceList{GroupVersion: gv}
			byGV[gv] = l
			disc.Resources = append(disc.Resources, l)
		}
		l.APIResources = append(l.APIResources, metav1.APIResource{Name: gvr.Resource})
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds, dynObjs...)
	cl, err := explain.FromCluster(ctx, explain.ClusterOptions{Client: cs, Dynamic: dyn, Config: cfg, Registry: reg})
	if err != nil {
		return nil, err
	}
	return &world{Cluster: cl}, nil
}

// objectName is namespace/name, or name for a cluster-scoped object.
func objectName(u *unstructured.Unstructured) string {
	if ns := u.GetNamespace(); ns != "" {
		return ns + "/" + u.GetName()
	}
	return u.GetName()
}
