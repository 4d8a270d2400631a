package lint

import (
	"strings"

	v1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/util/version"

	"github.com/berthsched/berth/pkg/placement/gang"
)

// Cluster is what the cluster-aware rules know about a live cluster: plain
// data, so that the CLI (FromCluster, one list per kind), the webhook
// (informers) and tests (fixture files, ClusterFromObjects) fill it the
// same way and the rules never do I/O. A nil *Cluster means offline: the
// rules that need one stay silent. A field left nil means "not known"
// and its rules stay silent too, which is how a client without the RBAC
// to list, say, ResourceSlices degrades.
type Cluster struct {
	// Nodes are the cluster's nodes. Rules that compare against nodes stay
	// silent when there are none, rather than report every pod.
	Nodes []*v1.Node
	// StorageClasses by name; nil when not known.
	StorageClasses map[string]*storagev1.StorageClass
	// PriorityClasses by name; nil when not known.
	PriorityClasses map[string]*schedulingv1.PriorityClass
	// PodGroups by gang.Key; nil when not known.
	PodGroups map[string]*gang.Group
	// PodGroupAPIs are the gang APIs the server serves.
	PodGroupAPIs map[gang.API]bool
	// DeviceClasses by name (resource.k8s.io/v1); nil when not known.
	DeviceClasses map[string]*resourcev1.DeviceClass
	// ResourceSlices are the published devices; nil when not known.
	ResourceSlices []*resourcev1.ResourceSlice
	// ServerVersion is the API server's version; nil when not known.
	ServerVersion *version.Version
	// SchedulerNames are the schedulerNames something serves: berth's
	// profiles and default-scheduler. Nil when berth's configuration is
	// not known (then schedulerName is not checked).
	SchedulerNames map[string]bool
	// GPUResource is the extended resource of whole GPU cards (default
	// nvidia.com/gpu), as berth's GPUShare args say.
	GPUResource v1.ResourceName
	// GPUModelLabel and GPUMemoryLabel are the node labels with the card
	// model and memory (defaults as in GPUShare).
	GPUModelLabel, GPUMemoryLabel string
}

// ClusterFromObjects builds a Cluster from objects read from manifests
// (fixtures of nodes, classes, groups and slices), as tests and `berth
// lint --cluster-file` use. Kinds it does not know are ignored.
func ClusterFromObjects(objs []*Object) *Cluster {
	c := &Cluster{
		StorageClasses:  map[string]*storagev1.StorageClass{},
		PriorityClasses: map[string]*schedulingv1.PriorityClass{},
		PodGroups:       map[string]*gang.Group{},
		PodGroupAPIs:    map[gang.API]bool{},
		DeviceClasses:   map[string]*resourcev1.DeviceClass{},
		ResourceSlices:  []*resourcev1.ResourceSlice{},
	}
	for _, o := range objs {
		switch obj := o.Obj.(type) {
		case *v1.Node:
			c.Nodes = append(c.Nodes, obj)
		case *storagev1.StorageClass:
			c.StorageClasses[obj.Name] = obj
		case *schedulingv1.PriorityClass:
			c.PriorityClasses[obj.Name] = obj
		case *resourcev1.DeviceClass:
			c.DeviceClasses[obj.Name] = obj
		case *resourcev1.ResourceSlice:
			c.ResourceSlices = append(c.ResourceSlices, obj)
		case *v1.ConfigMap:
			// A fixture may describe the cluster's version and berth's
			// profiles in a ConfigMap named "cluster-info".
			if obj.Name != "cluster-info" {
				continue
			}
			if v, err := version.ParseGeneric(obj.Data["serverVersion"]); err == nil {
				c.ServerVersion = v
			}
			if s, ok := obj.Data["schedulerNames"]; ok {
				c.SchedulerNames = parseNameList(s)
			}
		default:
			if g := podGroupOf(o); g != nil {
				c.PodGroups[g.Key()] = g
				c.PodGroupAPIs[g.API] = true
			}
		}
	}
	return c
}

func parseNameList(s string) map[string]bool {
	out := map[string]bool{}
	for _, n := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
		out[n] = true
	}
	return out
}

func (c *Cluster) gpuResource() v1.ResourceName {
	if c == nil || c.GPUResource == "" {
		return "nvidia.com/gpu"
	}
	return c.GPUResource
}

func (c *Cluster) gpuLabels() (model, memory string) {
	model, memory = "nvidia.com/gpu.product", "nvidia.com/gpu.memory"
	if c != nil && c.GPUModelLabel != "" {
		model = c.GPUModelLabel
	}
	if c != nil && c.GPUMemoryLabel != "" {
		memory = c.GPUMemoryLabel
	}
	return model, memory
}

// hasNodes reports whether node-comparing rules may speak.
func (c *Cluster) hasNodes() bool { return c != nil && len(c.Nodes) > 0 }
