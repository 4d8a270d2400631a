package simulate

import (
	"fmt"
	"strconv"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/berthsched/berth/pkg/placement/gpu"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
)

// Namespace is the namespace of the simulated pods.
const Namespace = "openb"

// maxPodsPerNode is the nodes' allocatable pod count: the paper's nodes
// allow more pods than any trace puts on one node, so that only CPU,
// memory and GPUs decide where pods fit.
const maxPodsPerNode = 1001

// NodeObject is the node a row describes, as the GPUShare contract
// expects it: allocatable cpu, memory, pods and (with GPUs) the card
// count as gpushare.DefaultResourceName, and the card model as the
// gpushare.DefaultModelLabel label.
func NodeObject(n NodeRecord) *v1.Node {
	alloc := v1.ResourceList{
		v1.ResourceCPU:    *resource.NewMilliQuantity(n.CPUMilli, resource.DecimalSI),
		v1.ResourceMemory: *resource.NewQuantity(n.MemoryMiB<<20, resource.BinarySI),
		v1.ResourcePods:   *resource.NewQuantity(maxPodsPerNode, resource.DecimalSI),
	}
	labels := map[string]string{v1.LabelHostname: n.Name}
	if n.GPUs > 0 {
		alloc[gpushare.DefaultResourceName] = *resource.NewQuantity(int64(n.GPUs), resource.DecimalSI)
		if n.Model != "" {
			labels[gpushare.DefaultModelLabel] = n.Model
		}
	}
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, UID: types.UID("node-" + n.Name), Labels: labels},
		Status:     v1.NodeStatus{Capacity: alloc, Allocatable: alloc.DeepCopy()},
	}
}

// PodObject is the pod a row describes, with the given UID: one container
// requesting the CPU and memory; whole cards as a gpushare.DefaultResourceName
// request, a share of one card as the gpushare.AnnotationMilli annotation;
// allowed models as gpushare.AnnotationModel.
func PodObject(p PodRecord, uid types.UID) *v1.Pod {
	req := v1.ResourceList{
		v1.ResourceCPU:    *resource.NewMilliQuantity(p.CPUMilli, resource.DecimalSI),
		v1.ResourceMemory: *resource.NewQuantity(p.MemoryMiB<<20, resource.BinarySI),
	}
	var ann map[string]string
	if p.NumGPU > 0 {
		ann = map[string]string{}
		if p.GPUMilli >= gpu.MilliPerCard {
			req[gpushare.DefaultResourceName] = *resource.NewQuantity(int64(p.NumGPU), resource.DecimalSI)
		} else {
			ann[gpushare.AnnotationMilli] = strconv.FormatInt(p.GPUMilli, 10)
		}
		if p.GPUSpec != "" {
			ann[gpushare.AnnotationModel] = p.GPUSpec
		}
	}
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: p.Name, UID: uid, Annotations: ann},
		Spec: v1.PodSpec{
			Containers: []v1.Container{{
				Name:      "main",
				Resources: v1.ResourceRequirements{Requests: req, Limits: req.DeepCopy()},
			}},
		},
	}
}

// podUID gives the i-th arrival of a run its UID: unique within the run,
// the same in every run (so Random's per-pod draws repeat).
func podUID(i int) types.UID { return types.UID(fmt.Sprintf("openb-%06d", i)) }
