package lint

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/placement/gang"
)

// ClusterOptions says how FromCluster reads a cluster.
type ClusterOptions struct {
	// Client lists the built-in kinds (required).
	Client kubernetes.Interface
	// Dynamic lists the pod groups of the three gang APIs; nil skips the
	// gang rules that need the cluster.
	Dynamic dynamic.Interface
	// SchedulerNames are berth's profile names; nil leaves schedulerName
	// unchecked. default-scheduler is always added.
	SchedulerNames []string
	// GPUResource, GPUModelLabel and GPUMemoryLabel follow berth's
	// GPUShare args ("" for the defaults).
	GPUResource                   v1.ResourceName
	GPUModelLabel, GPUMemoryLabel string
}

// FromCluster reads what the cluster-aware rules need with one list per
// kind. A kind the client may not list (Forbidden) or the server does
// not serve (NotFound) stays unknown, so its rules stay silent instead of
// failing the run; nodes are required.
func FromCluster(ctx context.Context, o ClusterOptions) (*Cluster, error) {
	logger := klog.FromContext(ctx)
	c := &Cluster{GPUResource: o.GPUResource, GPUModelLabel: o.GPUModelLabel, GPUMemoryLabel: o.GPUMemoryLabel}
	if o.SchedulerNames != nil {
		c.SchedulerNames = map[string]bool{v1.DefaultSchedulerName: true}
		for _, n := range o.SchedulerNames {
			c.SchedulerNames[n] = true
		}
	}
	nodes, err := o.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	for i := range nodes.Items {
		c.Nodes = append(c.Nodes, &nodes.Items[i])
	}
	optional := func(what string, err error) bool {
		if err == nil {
			return true
		}
		if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) {
			logger.Info("Cannot list; its rules are skipped", "kind", what, "err", err)
			return false
		}
		logger.Error(err, "Listing failed; its rules are skipped", "kind", what)
		return false
	}
	if l, err := o.Client.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{}); optional("StorageClass", err) {
		c.StorageClasses = map[string]*storagev1.StorageClass{}
		for i := range l.Items {
			c.StorageClasses[l.Items[i].Name] = &l.Items[i]
		}
	}
	if l, err := o.Client.SchedulingV1().PriorityClasses().List(ctx, metav1.ListOptions{}); optional("PriorityClass", err) {
		c.PriorityClasses = map[string]*schedulingv1.PriorityClass{}
		for i := range l.Items {
			c.PriorityClasses[l.Items[i].Name] = &l.Items[i]
		}
	}
	if l, err := o.Client.ResourceV1().DeviceClasses().List(ctx, metav1.ListOptions{}); optional("DeviceClass", err) {
		c.DeviceClasses = map[string]*resourcev1.DeviceClass{}
		for i := range l.Items {
			c.DeviceClasses[l.Items[i].Name] = &l.Items[i]
		}
	}
	if l, err := o.Client.ResourceV1().ResourceSlices().List(ctx, metav1.ListOptions{}); optional("ResourceSlice", err) {
		c.ResourceSlices = []*resourcev1.ResourceSlice{}
		for i := range l.Items {
			c.ResourceSlices = append(c.ResourceSlices, &l.Items[i])
		}
	}
	if info, err := o.Client.Discovery().ServerVersion(); err == nil {
		if v, err := version.ParseGeneric(info.GitVersion); err == nil {
			c.ServerVersion = v
		}
	}
	if o.Dynamic != nil {
		c.PodGroups, c.PodGroupAPIs = map[string]*gang.Group{}, map[gang.API]bool{}
		for _, api := range gang.APIs {
			l, err := o.Dynamic.Resource(api.Resource()).Namespace(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
			if err != nil {
				if !apierrors.IsNotFound(err) {
					logger.Info("Cannot list pod groups; treating the API as not served", "api", api, "err", err)
				}
				continue
			}
			c.PodGroupAPIs[api] = true
			for i := range l.Items {
				if g, err := gang.FromObject(api, &l.Items[i]); err == nil {
					c.PodGroups[g.Key()] = g
				}
			}
		}
	}
	return c, nil
}
