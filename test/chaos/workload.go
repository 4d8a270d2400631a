package chaos

import (
	"context"
	"encoding/json"
	"fmt"

	v1 "k8s.io/api/core/v1"
	schedv1beta1 "k8s.io/api/scheduling/v1beta1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
)

const (
	// scenarioLabel on a node names the scenario that owns it; the
	// scenario's pods select it, so scenarios never share nodes.
	scenarioLabel = "chaos.berth.io/scenario"
	// roleLabel on a node is roleBasic or roleGPU; pods select a role.
	roleLabel = "chaos.berth.io/role"
	roleBasic = "basic"
	roleGPU   = "gpu"
	// kindLabel on a pod says which part of the workload it is.
	kindLabel = "chaos.berth.io/kind"
	// storageClass is the WaitForFirstConsumer class of devcluster's
	// local provisioner that the volume pods' claims use.
	storageClass = "chaos-local"
	// BasicNodes is how many 8-core nodes each scenario gets: the node
	// scenario disrupts four of them and the pods created after still
	// fit on the other two.
	BasicNodes = 6
)

// Pod kinds of the workload.
const (
	kindPlain    = "plain"
	kindAffinity = "affinity"
	kindAnti     = "anti"
	kindVolume   = "volume"
	kindGang     = "gang"
	kindGPU      = "gpu"
	// kindOverflow pods ask for whole cores of one node, more than it
	// has: some must stay pending (they are not expected to be bound),
	// and an overcommit of that node would show.
	kindOverflow = "overflow"
)

// workload builds one scenario's pods: Plan splits Pods into waves.
type workload struct {
	ns, scenario string
	// volumes adds pods with a claim of the local provisioner.
	volumes bool
}

// gangSize is the members (and minCount) of each gang.
const gangSize = 3

// plan returns the scenario's pods in creation order, split into waves,
// and the PodGroups the gang members need (created before their pods).
// n pods in all: 2 gangs, 4 GPU shares, 2 anti-affinity pods, 2 volume
// pods (when enabled), a tenth with affinity to the plain pods, the rest
// plain. The later waves hold every kind so that each fault meets all.
func (w *workload) plan(n int) (waves [][]*v1.Pod, groups []*schedv1beta1.PodGroup) {
	var pods []*v1.Pod
	add := func(p *v1.Pod) { pods = append(pods, p) }
	nvol := 0
	if w.volumes {
		nvol = 2
	}
	special := 2*gangSize + 4 + 2 + nvol
	naff := n / 10
	nplain := max(n-special-naff, 4)
	for i := range nplain {
		add(w.plain(i))
	}
	for i := range naff {
		add(w.affinity(i))
	}
	// The specials go into the last two waves.
	var tail []*v1.Pod
	for g := range 2 {
		name := fmt.Sprintf("gang-%d", g)
		groups = append(groups, &schedv1beta1.PodGroup{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.ns},
			Spec: schedv1beta1.PodGroupSpec{SchedulingPolicy: schedv1beta1.PodGroupSchedulingPolicy{
				Gang: &schedv1beta1.GangSchedulingPolicy{MinCount: gangSize},
			}},
		})
		for m := range gangSize {
			tail = append(tail, w.member(name, m))
		}
	}
	for i := range 4 {
		tail = append(tail, w.gpu(i))
	}
	for i := range 2 {
		tail = append(tail, w.anti(i))
	}
	for i := range nvol {
		tail = append(tail, w.volume(i))
	}
	// Three waves: a third of the plain and affinity pods first, then the
	// rest interleaved with the specials.
	first := len(pods) / 3
	waves = append(waves, pods[:first])
	rest := pods[first:]
	var mixed []*v1.Pod
	for i := 0; len(rest) > 0 || len(tail) > 0; i++ {
		if len(tail) > 0 && (i%3 == 0 || len(rest) == 0) {
			mixed, tail = append(mixed, tail[0]), tail[1:]
			continue
		}
		mixed, rest = append(mixed, rest[0]), rest[1:]
	}
	half := len(mixed) / 2
	waves = append(waves, mixed[:half], mixed[half:])
	return waves, groups
}

func (w *workload) base(kind, name, role, cpu, mem string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.ns, Labels: map[string]string{kindLabel: kind, ExpectLabel: "true"}},
		Spec: v1.PodSpec{
			SchedulerName:                 "berth",
			NodeSelector:                  map[string]string{scenarioLabel: w.scenario, roleLabel: role},
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers: []v1.Container{{
				Name: "c", Image: "registry.k8s.io/pause:3.10",
				Resources: v1.ResourceRequirements{Requests: v1.ResourceList{
					v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse(mem),
				}},
			}},
		},
	}
}

// bigPods is how many plain pods ask for 1.5 CPU (every seventh, up to
// this many), so that nodes fill unevenly; the rest ask 50m. With the
// other kinds, 200 pods ask less than the two basic nodes the node-churn
// scenario leaves untouched have.
const bigPods = 4

func (w *workload) plain(i int) *v1.Pod {
	if i%7 == 6 && i/7 < bigPods {
		return w.base(kindPlain, fmt.Sprintf("plain-%03d", i), roleBasic, "1500m", "2Gi")
	}
	return w.base(kindPlain, fmt.Sprintf("plain-%03d", i), roleBasic, "50m", "64Mi")
}

func (w *workload) affinity(i int) *v1.Pod {
	p := w.base(kindAffinity, fmt.Sprintf("affinity-%03d", i), roleBasic, "50m", "64Mi")
	p.Spec.Affinity = &v1.Affinity{PodAffinity: &v1.PodAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{kindLabel: kindPlain}},
			TopologyKey:   v1.LabelHostname,
		}},
	}}
	return p
}

func (w *workload) anti(i int) *v1.Pod {
	p := w.base(kindAnti, fmt.Sprintf("anti-%03d", i), roleBasic, "100m", "128Mi")
	p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{kindLabel: kindAnti}},
			TopologyKey:   v1.LabelHostname,
		}},
	}}
	return p
}

func (w *workload) member(group string, m int) *v1.Pod {
	p := w.base(kindGang, fmt.Sprintf("%s-%d", group, m), roleBasic, "200m", "256Mi")
	p.Spec.SchedulingGroup = &v1.PodSchedulingGroup{PodGroupName: ptr.To(group)}
	return p
}

func (w *workload) gpu(i int) *v1.Pod {
	p := w.base(kindGPU, fmt.Sprintf("gpu-%03d", i), roleGPU, "100m", "128Mi")
	p.Annotations = map[string]string{gpushare.AnnotationMilli: "500", gpushare.AnnotationMemory: "10Gi"}
	return p
}

func (w *workload) volume(i int) *v1.Pod {
	p := w.base(kindVolume, fmt.Sprintf("volume-%03d", i), roleBasic, "100m", "128Mi")
	p.Spec.Volumes = []v1.Volume{{Name: "data", VolumeSource: v1.VolumeSource{
		PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: p.Name},
	}}}
	return p
}

// overflow builds pods asking 1 CPU each of basic node 5, named
// overflow-<batch>-<i>, not expected to be bound.
func (w *workload) overflow(batch, n int) []*v1.Pod {
	var out []*v1.Pod
	for i := range n {
		p := w.base(kindOverflow, fmt.Sprintf("overflow-%d-%02d", batch, i), roleBasic, "1", "256Mi")
		p.Labels[ExpectLabel] = "false"
		p.Spec.NodeSelector[v1.LabelHostname] = basicNode(w.scenario, 5)
		out = append(out, p)
	}
	return out
}

// claimFor returns the claim a volume pod needs, or nil.
func claimFor(p *v1.Pod) *v1.PersistentVolumeClaim {
	if p.Labels[kindLabel] != kindVolume {
		return nil
	}
	return &v1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace},
		Spec: v1.PersistentVolumeClaimSpec{
			AccessModes:      []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			StorageClassName: ptr.To(storageClass),
			Resources:        v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
}

// ensureStorageClass creates the volume pods' StorageClass once.
func ensureStorageClass(ctx context.Context, c kubernetes.Interface) error {
	_, err := c.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: storageClass},
		Provisioner:       testenv.LocalProvisioner,
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
	}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// createNodes creates the scenario's BasicNodes basic nodes and one GPU
// node (four 40 GiB cards), labelled with the scenario and their role.
func createNodes(ctx context.Context, c kubernetes.Interface, scenario string) ([]string, error) {
	var names []string
	for _, set := range []struct {
		role    string
		profile nodegen.Profile
		count   int
	}{{roleBasic, nodegen.ProfileBasic, BasicNodes}, {roleGPU, nodegen.ProfileGPU, 1}} {
		o := nodegen.Options{Count: set.count, Profile: set.profile, Prefix: "chaos-" + scenario + "-" + set.role + "-", Zones: 1}
		if _, err := nodegen.Create(ctx, c, o); err != nil {
			return names, fmt.Errorf("creating %s nodes: %w", set.role, err)
		}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{scenarioLabel: scenario, roleLabel: set.role}}})
		for i := range set.count {
			name := nodegen.NodeName(o, i)
			names = append(names, name)
			if _, err := c.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				return names, fmt.Errorf("labelling node %s: %w", name, err)
			}
		}
	}
	return names, nil
}

// basicNode is the name of basic node i of a scenario.
func basicNode(scenario string, i int) string {
	return nodegen.NodeName(nodegen.Options{Prefix: "chaos-" + scenario + "-" + roleBasic + "-"}, i)
}
