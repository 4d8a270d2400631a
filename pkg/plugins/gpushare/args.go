package gpushare

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/berthsched/berth/pkg/placement/gpu"
)

// Args configures GPUShare (pluginConfig name "GPUShare").
type Args struct {
	metav1.TypeMeta `json:",inline"`

	// Policy ranks nodes and chooses cards: FGD (default), BestFit,
	// GPUPacking, GPUClustering, DotProduct or Random.
	Policy string `json:"policy,omitempty"`
	// ResourceName is the extended resource whose allocatable count is a
	// node's number of cards and whose request asks for whole cards
	// (default nvidia.com/gpu).
	ResourceName v1.ResourceName `json:"resourceName,omitempty"`
	// ModelLabel is the node label with the card model (default
	// nvidia.com/gpu.product, as NVIDIA's GPU feature discovery sets it).
	ModelLabel string `json:"modelLabel,omitempty"`
	// MemoryLabel is the node label with each card's memory in MiB
	// (default nvidia.com/gpu.memory).
	MemoryLabel string `json:"memoryLabel,omitempty"`
	// WorkloadWindow is how many recent pods FGD learns the typical
	// workload from (default 5000).
	WorkloadWindow int32 `json:"workloadWindow,omitempty"`
	// WorkloadCoverage is the percentage of that window the typical pod
	// shapes cover, most frequent first (default 95).
	WorkloadCoverage int32 `json:"workloadCoverage,omitempty"`
	// ScoreCPUPods makes the policy also rank nodes for pods without GPUs,
	// so that they stay off the GPU nodes whose CPU GPU pods need. It is
	// off by default: it raises a pod's cycle by 60-75% at 1,200 GPU nodes
	// (BenchmarkScheduleOneGPU), where taints on GPU nodes do most of the
	// job for free; turn it on where CPU pods must share GPU nodes.
	ScoreCPUPods *bool `json:"scoreCPUPods,omitempty"`
	// RandomSeed seeds the Random policy's draws, for reproducible
	// comparisons (default 0).
	RandomSeed int64 `json:"randomSeed,omitempty"`
}

// DeepCopyObject implements runtime.Object.
func (a *Args) DeepCopyObject() runtime.Object {
	if a == nil {
		return nil
	}
	out := *a
	if a.ScoreCPUPods != nil {
		v := *a.ScoreCPUPods
		out.ScoreCPUPods = &v
	}
	return &out
}

// Defaults.
const (
	DefaultResourceName v1.ResourceName = "nvidia.com/gpu"
	DefaultModelLabel   string          = "nvidia.com/gpu.product"
	DefaultMemoryLabel  string          = "nvidia.com/gpu.memory"
)

// SetDefaultArgs fills the defaults.
func SetDefaultArgs(a *Args) {
	if a.Policy == "" {
		a.Policy = gpu.FGD
	}
	if a.ResourceName == "" {
		a.ResourceName = DefaultResourceName
	}
	if a.ModelLabel == "" {
		a.ModelLabel = DefaultModelLabel
	}
	if a.MemoryLabel == "" {
		a.MemoryLabel = DefaultMemoryLabel
	}
	if a.WorkloadWindow == 0 {
		a.WorkloadWindow = int32(gpu.DefaultWorkloadConfig.Window)
	}
	if a.WorkloadCoverage == 0 {
		a.WorkloadCoverage = int32(gpu.DefaultWorkloadConfig.Coverage * 100)
	}
	if a.ScoreCPUPods == nil {
		f := false
		a.ScoreCPUPods = &f
	}
}

// MaxWorkloadWindow bounds the learner's memory.
const MaxWorkloadWindow = 1_000_000

// ValidateArgs checks the policy name and the ranges.
func ValidateArgs(a *Args, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if _, err := gpu.PolicyByName(a.Policy); err != nil {
		errs = append(errs, field.NotSupported(path.Child("policy"), a.Policy, gpu.PolicyNames))
	}
	if a.WorkloadWindow < 1 || a.WorkloadWindow > MaxWorkloadWindow {
		errs = append(errs, field.Invalid(path.Child("workloadWindow"), a.WorkloadWindow, fmt.Sprintf("not in valid range [1, %d]", MaxWorkloadWindow)))
	}
	if a.WorkloadCoverage < 1 || a.WorkloadCoverage > 100 {
		errs = append(errs, field.Invalid(path.Child("workloadCoverage"), a.WorkloadCoverage, "not in valid range [1, 100]"))
	}
	if a.ResourceName == "" {
		errs = append(errs, field.Required(path.Child("resourceName"), ""))
	}
	return errs
}
