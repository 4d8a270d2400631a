package bench

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
)

//go:embed workloads/*.yaml
var builtinWorkloads embed.FS

// Scale names.
const (
	ScaleFull  = "full"
	ScaleSmall = "small"
	ScaleTiny  = "tiny"
)

// Workload is one benchmark scenario, loaded from a YAML file in
// test/bench/workloads. Counts live in Scales so one file describes the
// full, small and tiny variants.
type Workload struct {
	// Name identifies the workload (e.g. Basic).
	Name string `json:"name"`
	// Order sorts the built-in workloads in reports.
	Order int `json:"order"`
	// Description is one line for the report.
	Description string `json:"description"`
	// Nodes describes the fleet (the count is in Scales).
	Nodes NodeSpec `json:"nodes"`
	// InitialPods are created and bound by the harness (round-robin over the
	// nodes, with Binding calls) before the scheduler under test starts.
	// Their templates must not carry placement constraints.
	InitialPods []PodGroup `json:"initialPods"`
	// MeasuredPods are created while the scheduler under test runs; their
	// binds are timed. Pod i uses group i mod the weights, deterministically
	// (in gang workloads, the layout of Gang).
	MeasuredPods []PodGroup `json:"measuredPods"`
	// Churn, if set, deletes initial pods and creates churn pods while the
	// measured pods are created.
	Churn *Churn `json:"churn,omitempty"`
	// Scales holds the counts per scale (full, small, tiny).
	Scales map[string]Counts `json:"scales"`
	// Targets are reported against, never asserted.
	Targets Targets `json:"targets"`
	// ControllerManager runs kube-controller-manager in the workload's
	// control plane, for every scheduler's run (its PV controller binds
	// claims).
	ControllerManager bool `json:"controllerManager,omitempty"`
	// Provisioner runs devcluster's dynamic volume provisioner
	// (testenv.LocalProvisioner, with storage capacity tracking) in the
	// control plane; it needs ControllerManager.
	Provisioner bool `json:"provisioner,omitempty"`
	// Storage, if set, creates StorageClasses and node capacities once per
	// control plane, and static PersistentVolumes afresh for every run;
	// pod groups may then carry claim templates.
	Storage *Storage `json:"storage,omitempty"`
	// DRA, if set, runs devcluster's fake DRA driver in the control plane,
	// labels the GPU nodes once per control plane and creates the claim
	// templates in every run's namespace; pod templates may then have
	// spec.resourceClaims. It needs ControllerManager.
	DRA *DRA `json:"dra,omitempty"`
	// Gang, if set, makes every measured pod a member of an upstream
	// scheduling.k8s.io/v1beta1 PodGroup (see Gang); the sizes are in
	// Scales.
	Gang *Gang `json:"gang,omitempty"`
	// KubeSchedulerFeatureGates are passed to kube-scheduler as
	// --feature-gates (e.g. GenericWorkload: true for Gang), also in the
	// shells (berth-extender's kube-scheduler, kube-scheduler-berth);
	// berth gets no flag.
	KubeSchedulerFeatureGates map[string]bool `json:"kubeSchedulerFeatureGates,omitempty"`
	// Shells adds berth's two kube-scheduler shells, berth-extender
	// (stock kube-scheduler calling `berth extender`) and plugin-mode
	// (kube-scheduler-berth), to the workload's default scheduler list,
	// so that their cost is measured beside standalone berth on the same
	// control plane. Off by default: each shell is one more run per
	// workload, and one workload answers "what does a shell cost";
	// --schedulers can still name them for any workload.
	Shells bool `json:"shells,omitempty"`
}

// Storage describes the volumes side of a workload.
type Storage struct {
	// Classes are created with the control plane (metadata.name and the
	// spec fields are used).
	Classes []storagev1.StorageClass `json:"classes"`
	// NodeCapacities set the local storage of each node for the local
	// provisioner (the testenv.LocalCapacityAnnotation), assigned by node
	// index with the same weighted round-robin as pod groups; an empty
	// capacity leaves the node without the annotation (the provisioner's
	// default, 100Gi).
	NodeCapacities []NodeCapacity `json:"nodeCapacities,omitempty"`
	// StaticVolumes are local PersistentVolumes created before every run
	// (and deleted after it), as a static local-volume provisioner would
	// publish the disks of some nodes.
	StaticVolumes *StaticVolumes `json:"staticVolumes,omitempty"`
}

// NodeCapacity is one weighted entry of Storage.NodeCapacities.
type NodeCapacity struct {
	Weight int `json:"weight"`
	// Capacity is a quantity ("0" means no local storage); empty: no
	// annotation.
	Capacity string `json:"capacity,omitempty"`
}

// StaticVolumes describes pre-created local PersistentVolumes.
type StaticVolumes struct {
	// StorageClassName of the volumes; it must be one of Storage.Classes.
	StorageClassName string `json:"storageClassName"`
	// NodeSelector picks the nodes with volumes (node labels; empty: all).
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// PerNode volumes on each selected node.
	PerNode int `json:"perNode"`
	// Sizes are cycled over the volumes of a node.
	Sizes []string `json:"sizes"`
}

// NodeSpec describes the nodes created with nodegen.
type NodeSpec struct {
	Profile string `json:"profile"`
	Zones   int    `json:"zones"`
}

// PodGroup is a weighted pod template.
type PodGroup struct {
	Name   string `json:"name"`
	Weight int    `json:"weight"`
	// Unschedulable marks pods that fit no node by design: they are not
	// expected to be bound, and the ceiling run does not bind them.
	Unschedulable bool `json:"unschedulable"`
	// Template is a Pod (metadata.labels and spec are used); the harness
	// sets the name, namespace, schedulerName, a zero grace period and
	// automountServiceAccountToken=false.
	Template v1.Pod `json:"template"`
	// Claims are claim templates, like a StatefulSet's
	// volumeClaimTemplates: for pod P and template T the harness creates
	// the claim "T-P" just before the pod and gives the pod a volume named
	// T that uses it. Measured pods only.
	Claims []v1.PersistentVolumeClaim `json:"claims,omitempty"`
}

// Churn knobs.
type Churn struct {
	// PerSecond initial pods are deleted, and as many churn pods created,
	// every second while measured pods are being created and scheduled.
	PerSecond int `json:"perSecond"`
	// Template of the churn pods (scheduled by the scheduler under test,
	// not timed).
	Template v1.Pod `json:"template"`
}

// Counts are the sizes at one scale.
type Counts struct {
	Nodes        int `json:"nodes"`
	InitialPods  int `json:"initialPods"`
	MeasuredPods int `json:"measuredPods"`
	// ChurnPerSecond overrides Churn.PerSecond at this scale.
	ChurnPerSecond int `json:"churnPerSecond,omitempty"`
	// Gang workloads only (see Gang): Groups regular gangs of GroupSize
	// pods with gang minCount MinCount (0: GroupSize), and two contest
	// gangs of ContestSize pods on a pool of ContestNodes nodes.
	Groups       int `json:"groups,omitempty"`
	GroupSize    int `json:"groupSize,omitempty"`
	MinCount     int `json:"minCount,omitempty"`
	ContestNodes int `json:"contestNodes,omitempty"`
	ContestSize  int `json:"contestSize,omitempty"`
}

// Targets the report compares against.
type Targets struct {
	// ThroughputVsKubeScheduler is the minimum berth/kube-scheduler
	// average-throughput ratio (0: none).
	ThroughputVsKubeScheduler float64 `json:"throughputVsKubeScheduler,omitempty"`
	// ThroughputVsCeiling is the minimum berth/ceiling ratio (0: none).
	ThroughputVsCeiling float64 `json:"throughputVsCeiling,omitempty"`
	// P99NoWorse: berth's p99 latency must not exceed kube-scheduler's.
	P99NoWorse bool `json:"p99NoWorse,omitempty"`
	// ZeroViolations: no placement-constraint violations.
	ZeroViolations bool `json:"zeroViolations,omitempty"`
}

// LoadWorkloads reads the built-in workloads, or every *.yaml file of dir
// if dir is not empty, sorted by Order then Name.
func LoadWorkloads(dir string) ([]*Workload, error) {
	var fsys fs.FS = builtinWorkloads
	pattern := "workloads/*.yaml"
	if dir != "" {
		fsys, pattern = os.DirFS(dir), "*.yaml"
	}
	files, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, err
	}
	var out []*Workload
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		w, err := ParseWorkload(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", filepath.Base(f), err)
		}
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Order != out[j].Order {
			return out[i].Order < out[j].Order
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// ParseWorkload decodes and validates one workload (strict YAML).
func ParseWorkload(data []byte) (*Workload, error) {
	w := &Workload{}
	if err := yaml.UnmarshalStrict(data, w); err != nil {
		return nil, err
	}
	return w, w.validate()
}

func (w *Workload) validate() error {
	if w.Name == "" {
		return fmt.Errorf("name is required")
	}
	if _, err := nodegen.ParseProfile(w.Nodes.Profile); err != nil {
		return err
	}
	if len(w.MeasuredPods) == 0 {
		return fmt.Errorf("%s: measuredPods needs at least one group", w.Name)
	}
	for _, groups := range [][]PodGroup{w.InitialPods, w.MeasuredPods} {
		for _, g := range groups {
			if g.Weight <= 0 {
				return fmt.Errorf("%s: pod group %q needs a positive weight", w.Name, g.Name)
			}
		}
	}
	if err := w.validateStorage(); err != nil {
		return fmt.Errorf("%s: %v", w.Name, err)
	}
	if err := w.validateDRA(); err != nil {
		return fmt.Errorf("%s: %v", w.Name, err)
	}
	for gate := range w.KubeSchedulerFeatureGates {
		if gate == "" || strings.ContainsAny(gate, "=, ") {
			return fmt.Errorf("%s: bad feature gate name %q", w.Name, gate)
		}
	}
	for _, s := range []string{ScaleFull, ScaleSmall, ScaleTiny} {
		c, ok := w.Scales[s]
		if !ok {
			return fmt.Errorf("%s: scales.%s is missing", w.Name, s)
		}
		if c.Nodes <= 0 || c.MeasuredPods <= 0 || c.InitialPods < 0 {
			return fmt.Errorf("%s: scales.%s needs positive nodes and measuredPods", w.Name, s)
		}
		if c.InitialPods > 0 && len(w.InitialPods) == 0 {
			return fmt.Errorf("%s: scales.%s has initialPods but no initialPods templates", w.Name, s)
		}
	}
	if w.Gang != nil {
		if err := w.Gang.validate(w); err != nil {
			return fmt.Errorf("%s: %v", w.Name, err)
		}
	}
	return nil
}

// kubeSchedulerFeatureGates renders KubeSchedulerFeatureGates as a
// --feature-gates value (sorted), or "".
func (w *Workload) kubeSchedulerFeatureGates() string {
	var gates []string
	for gate, on := range w.KubeSchedulerFeatureGates {
		gates = append(gates, fmt.Sprintf("%s=%t", gate, on))
	}
	sort.Strings(gates)
	return strings.Join(gates, ",")
}

func (w *Workload) validateStorage() error {
	if w.Provisioner && !w.ControllerManager {
		return fmt.Errorf("provisioner needs controllerManager (its PV controller hands claims to the provisioner)")
	}
	for _, g := range w.InitialPods {
		if len(g.Claims) > 0 {
			return fmt.Errorf("initial pod group %q has claims; only measured pods may", g.Name)
		}
	}
	st := w.Storage
	classes := map[string]*storagev1.StorageClass{}
	if st != nil {
		for i := range st.Classes {
			c := &st.Classes[i]
			if c.Name == "" || c.Provisioner == "" {
				return fmt.Errorf("storage class #%d needs metadata.name and provisioner", i)
			}
			if c.Provisioner == testenv.LocalProvisioner && !w.Provisioner {
				return fmt.Errorf("storage class %s uses %s: set provisioner: true", c.Name, testenv.LocalProvisioner)
			}
			classes[c.Name] = c
		}
		for _, nc := range st.NodeCapacities {
			if nc.Weight <= 0 {
				return fmt.Errorf("nodeCapacities entries need a positive weight")
			}
			if nc.Capacity != "" {
				if q, err := resource.ParseQuantity(nc.Capacity); err != nil || q.Sign() < 0 {
					return fmt.Errorf("node capacity %q is not a non-negative quantity", nc.Capacity)
				}
			}
		}
		if sv := st.StaticVolumes; sv != nil {
			if classes[sv.StorageClassName] == nil {
				return fmt.Errorf("staticVolumes.storageClassName %q is not one of storage.classes", sv.StorageClassName)
			}
			if sv.PerNode <= 0 || len(sv.Sizes) == 0 {
				return fmt.Errorf("staticVolumes needs a positive perNode and at least one size")
			}
			for _, sz := range sv.Sizes {
				if q, err := resource.ParseQuantity(sz); err != nil || q.Sign() <= 0 {
					return fmt.Errorf("static volume size %q is not a positive quantity", sz)
				}
			}
		}
	}
	for _, g := range w.MeasuredPods {
		for _, c := range g.Claims {
			if c.Name == "" {
				return fmt.Errorf("pod group %q: claim templates need metadata.name", g.Name)
			}
			if c.Spec.StorageClassName == nil || classes[*c.Spec.StorageClassName] == nil {
				return fmt.Errorf("pod group %q: claim %s must name one of storage.classes", g.Name, c.Name)
			}
			if q, ok := c.Spec.Resources.Requests[v1.ResourceStorage]; !ok || q.Sign() <= 0 {
				return fmt.Errorf("pod group %q: claim %s needs a storage request", g.Name, c.Name)
			}
		}
	}
	return nil
}

func (w *Workload) validateDRA() error {
	for _, g := range w.InitialPods {
		if len(g.Template.Spec.ResourceClaims) > 0 {
			return fmt.Errorf("initial pod group %q has resource claims; only measured pods may", g.Name)
		}
	}
	if w.Churn != nil && len(w.Churn.Template.Spec.ResourceClaims) > 0 {
		return fmt.Errorf("churn pods may not have resource claims")
	}
	if w.DRA == nil {
		for _, g := range w.MeasuredPods {
			if len(g.Template.Spec.ResourceClaims) > 0 {
				return fmt.Errorf("pod group %q has resource claims: set dra", g.Name)
			}
		}
		return nil
	}
	return w.DRA.validate(w)
}

// nodeCapacityFor returns the capacity annotation of node i ("" = none).
func (st *Storage) nodeCapacityFor(i int) string {
	total := 0
	for _, nc := range st.NodeCapacities {
		total += nc.Weight
	}
	if total == 0 {
		return ""
	}
	slot := i % total
	for _, nc := range st.NodeCapacities {
		if slot < nc.Weight {
			return nc.Capacity
		}
		slot -= nc.Weight
	}
	return ""
}

// Counts returns the counts at scale.
func (w *Workload) Counts(scale string) (Counts, error) {
	c, ok := w.Scales[scale]
	if !ok {
		return Counts{}, fmt.Errorf("workload %s has no scale %q", w.Name, scale)
	}
	if c.ChurnPerSecond == 0 && w.Churn != nil {
		c.ChurnPerSecond = w.Churn.PerSecond
	}
	return c, nil
}

// groupFor returns the group of pod i: a deterministic weighted round-robin.
func groupFor(groups []PodGroup, i int) *PodGroup {
	total := 0
	for _, g := range groups {
		total += g.Weight
	}
	slot := i % total
	for k := range groups {
		if slot < groups[k].Weight {
			return &groups[k]
		}
		slot -= groups[k].Weight
	}
	return &groups[len(groups)-1]
}

// expectedSchedulable counts the measured pods not marked unschedulable.
func expectedSchedulable(groups []PodGroup, n int) int {
	c := 0
	for i := range n {
		if !groupFor(groups, i).Unschedulable {
			c++
		}
	}
	return c
}

// SelectWorkloads filters ws by a comma-separated list of names
// (case-insensitive); empty or "all" keeps everything.
func SelectWorkloads(ws []*Workload, names string) ([]*Workload, error) {
	if names == "" || names == "all" {
		return ws, nil
	}
	var out []*Workload
	for _, n := range strings.Split(names, ",") {
		n = strings.TrimSpace(n)
		found := false
		for _, w := range ws {
			if strings.EqualFold(w.Name, n) {
				out = append(out, w)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown workload %q", n)
		}
	}
	return out, nil
}
