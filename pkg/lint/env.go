package lint

import (
	v1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	schedv1beta1 "k8s.io/api/scheduling/v1beta1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	volcanov1beta1 "github.com/berthsched/berth/pkg/apis/volcano/v1beta1"
	xv1alpha1 "github.com/berthsched/berth/pkg/apis/xscheduling/v1alpha1"
	"github.com/berthsched/berth/pkg/placement/gang"
)

// env is what a rule may consult besides its workload: the other objects
// of the same manifests, then the cluster. Objects in the manifests win,
// because they are about to be applied.
type env struct {
	cluster          *Cluster
	defaultNamespace string
	workloads        []*Workload

	storageClasses  map[string]*storagev1.StorageClass
	priorityClasses map[string]*schedulingv1.PriorityClass
	pvcs            map[string]*v1.PersistentVolumeClaim
	podGroups       map[string]*groupObject
	claims          map[string]*resourcev1.ResourceClaim
	claimTemplates  map[string]*resourcev1.ResourceClaimTemplate
	deviceClasses   map[string]*resourcev1.DeviceClass
}

// groupObject is a pod group declared in the manifests, with where its
// minimum is written.
type groupObject struct {
	group   *gang.Group
	object  *Object
	minPath *field.Path
}

func newEnv(objs []*Object, c *Cluster, defaultNamespace string) *env {
	e := &env{
		cluster: c, defaultNamespace: defaultNamespace,
		storageClasses:  map[string]*storagev1.StorageClass{},
		priorityClasses: map[string]*schedulingv1.PriorityClass{},
		pvcs:            map[string]*v1.PersistentVolumeClaim{},
		podGroups:       map[string]*groupObject{},
		claims:          map[string]*resourcev1.ResourceClaim{},
		claimTemplates:  map[string]*resourcev1.ResourceClaimTemplate{},
		deviceClasses:   map[string]*resourcev1.DeviceClass{},
	}
	for _, o := range objs {
		ns := e.namespace(o.Ref.Namespace)
		switch obj := o.Obj.(type) {
		case *storagev1.StorageClass:
			e.storageClasses[obj.Name] = obj
		case *schedulingv1.PriorityClass:
			e.priorityClasses[obj.Name] = obj
		case *v1.PersistentVolumeClaim:
			e.pvcs[ns+"/"+obj.Name] = obj
		case *resourcev1.ResourceClaim:
			e.claims[ns+"/"+obj.Name] = obj
		case *resourcev1.ResourceClaimTemplate:
			e.claimTemplates[ns+"/"+obj.Name] = obj
		case *resourcev1.DeviceClass:
			e.deviceClasses[obj.Name] = obj
		default:
			if g := podGroupOf(o); g != nil {
				g.Namespace = ns
				e.podGroups[g.Key()] = &groupObject{group: g, object: o, minPath: minMemberPath(o)}
			}
		}
	}
	e.workloads = Workloads(objs)
	return e
}

// namespace resolves an object's namespace: manifests without one are
// applied to the default namespace (kubectl's -n or the context's).
func (e *env) namespace(ns string) string {
	if ns == "" {
		return e.defaultNamespace
	}
	return ns
}

// podGroupOf reads a pod group of any of the gang APIs, or nil.
func podGroupOf(o *Object) *gang.Group {
	var api gang.API
	switch o.Obj.(type) {
	case *schedv1beta1.PodGroup:
		api = gang.Upstream
	case *xv1alpha1.PodGroup:
		api = gang.SchedulerPlugins
	case *volcanov1beta1.PodGroup:
		api = gang.Volcano
	default:
		return nil
	}
	g, err := gang.FromObject(api, o.Obj)
	if err != nil {
		return nil
	}
	return g
}

func minMemberPath(o *Object) *field.Path {
	if _, ok := o.Obj.(*schedv1beta1.PodGroup); ok {
		return field.NewPath("spec", "schedulingPolicy", "gang", "minCount")
	}
	return field.NewPath("spec", "minMember")
}

func (e *env) storageClass(name string) (*storagev1.StorageClass, bool) {
	if sc, ok := e.storageClasses[name]; ok {
		return sc, true
	}
	if e.cluster != nil {
		sc, ok := e.cluster.StorageClasses[name]
		return sc, ok
	}
	return nil, false
}

// defaultStorageClass is the class a claim without storageClassName gets.
func (e *env) defaultStorageClass() *storagev1.StorageClass {
	isDefault := func(sc *storagev1.StorageClass) bool {
		return sc.Annotations["storageclass.kubernetes.io/is-default-class"] == "true"
	}
	for _, sc := range e.storageClasses {
		if isDefault(sc) {
			return sc
		}
	}
	if e.cluster != nil {
		for _, sc := range e.cluster.StorageClasses {
			if isDefault(sc) {
				return sc
			}
		}
	}
	return nil
}

func (e *env) deviceClass(name string) (*resourcev1.DeviceClass, bool) {
	if dc, ok := e.deviceClasses[name]; ok {
		return dc, true
	}
	if e.cluster != nil {
		dc, ok := e.cluster.DeviceClasses[name]
		return dc, ok
	}
	return nil, false
}
