package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/berthsched/berth/internal/testenv"
)

// DRA describes the devices side of a workload: which nodes devcluster's
// fake DRA driver (testenv.GPUDriver) publishes GPUs for, and the
// ResourceClaimTemplates the pod templates name in
// spec.resourceClaims[].resourceClaimTemplateName.
type DRA struct {
	// GPUNodes assign cards to nodes by node index, with the same
	// weighted round-robin as pod groups (an entry without a count leaves
	// its nodes without GPUs).
	GPUNodes []GPUNodes `json:"gpuNodes"`
	// ClaimTemplates are created in every run's namespace (metadata.name
	// and spec are used). kube-controller-manager's resourceclaim
	// controller turns them into one claim per pod.
	ClaimTemplates []resourceapi.ResourceClaimTemplate `json:"claimTemplates"`
}

// GPUNodes is one weighted entry of DRA.GPUNodes: the labels
// testenv.GPUCountLabel, GPUModelLabel and GPUMemoryLabel.
type GPUNodes struct {
	Weight int `json:"weight"`
	// Count is the number of cards (0: no GPUs).
	Count int `json:"count,omitempty"`
	// Model and Memory are optional; the driver has defaults.
	Model  string `json:"model,omitempty"`
	Memory string `json:"memory,omitempty"`
}

// draSettleTimeout bounds waiting for the driver's slices and for a run's
// claims to be deallocated and deleted.
const draSettleTimeout = 3 * time.Minute

func (d *DRA) validate(w *Workload) error {
	if !w.ControllerManager {
		return fmt.Errorf("dra needs controllerManager (its resourceclaim controller creates the claims of the templates)")
	}
	if len(d.GPUNodes) == 0 || len(d.ClaimTemplates) == 0 {
		return fmt.Errorf("dra needs gpuNodes and claimTemplates")
	}
	for _, g := range d.GPUNodes {
		if g.Weight <= 0 || g.Count < 0 || g.Count > 128 {
			return fmt.Errorf("gpuNodes entries need a positive weight and a count from 0 to 128")
		}
		if g.Memory != "" {
			if q, err := resource.ParseQuantity(g.Memory); err != nil || q.Sign() <= 0 {
				return fmt.Errorf("gpuNodes memory %q is not a positive quantity", g.Memory)
			}
		}
	}
	templates := map[string]bool{}
	for _, t := range d.ClaimTemplates {
		if t.Name == "" {
			return fmt.Errorf("claim templates need metadata.name")
		}
		for _, r := range t.Spec.Spec.Devices.Requests {
			if r.Exactly == nil || (r.Exactly.AllocationMode != "" && r.Exactly.AllocationMode != resourceapi.DeviceAllocationModeExactCount) {
				return fmt.Errorf("claim template %s: request %s must be an exact-count request (the ceiling allocates no other kind)", t.Name, r.Name)
			}
		}
		templates[t.Name] = true
	}
	for _, g := range w.MeasuredPods {
		for _, c := range g.Template.Spec.ResourceClaims {
			if c.ResourceClaimTemplateName == nil || !templates[*c.ResourceClaimTemplateName] {
				return fmt.Errorf("pod group %q: resource claim %s must name one of dra.claimTemplates", g.Name, c.Name)
			}
		}
	}
	return nil
}

// gpuNodesFor returns the entry of node i.
func (d *DRA) gpuNodesFor(i int) GPUNodes {
	total := 0
	for _, g := range d.GPUNodes {
		total += g.Weight
	}
	slot := i % total
	for _, g := range d.GPUNodes {
		if slot < g.Weight {
			return g
		}
		slot -= g.Weight
	}
	return GPUNodes{}
}

// setupDRA labels the GPU nodes and waits until the driver has published
// a slice with the right number of devices for each, and its DeviceClass.
func (r *runner) setupDRA(ctx context.Context) error {
	start := time.Now()
	r.gpus = map[string]int{}
	var mu sync.Mutex
	err := parallel(ctx, len(r.nodes), r.o.CreateWorkers, func(ctx context.Context, i int) error {
		g := r.w.DRA.gpuNodesFor(i)
		if g.Count == 0 {
			return nil
		}
		labels := map[string]string{testenv.GPUCountLabel: fmt.Sprint(g.Count)}
		if g.Model != "" {
			labels[testenv.GPUModelLabel] = g.Model
		}
		if g.Memory != "" {
			labels[testenv.GPUMemoryLabel] = g.Memory
		}
		data, _ := json.Marshal(labels) // a map of strings always encodes
		patch := fmt.Sprintf(`{"metadata":{"labels":%s}}`, data)
		name := r.nodes[i].Name
		if err := retry(ctx, func() error {
			_, err := r.client.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
			return err
		}); err != nil {
			return fmt.Errorf("label GPU node %s: %v", name, err)
		}
		mu.Lock()
		r.gpus[name] = g.Count
		mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	cards := 0
	for _, n := range r.gpus {
		cards += n
	}
	r.logf("labelled %d GPU nodes (%d cards)", len(r.gpus), cards)
	var published, wrong int
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, draSettleTimeout, true, func(ctx context.Context) (bool, error) {
		if _, err := r.client.ResourceV1().DeviceClasses().Get(ctx, testenv.GPUDeviceClass, metav1.GetOptions{}); err != nil {
			return false, nil
		}
		list, err := r.client.ResourceV1().ResourceSlices().List(ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector(resourceapi.ResourceSliceSelectorDriver, testenv.GPUDriver).String()})
		if err != nil {
			return false, nil
		}
		devices := map[string]int{}
		for i := range list.Items {
			s := &list.Items[i]
			if s.Spec.NodeName != nil {
				devices[*s.Spec.NodeName] += len(s.Spec.Devices)
			}
		}
		published, wrong = 0, 0
		for node, n := range r.gpus {
			switch devices[node] {
			case n:
				published++
			case 0:
			default:
				wrong++
			}
		}
		return published == len(r.gpus) && wrong == 0 && len(devices) == len(r.gpus), nil
	})
	if err != nil {
		return fmt.Errorf("DRA driver: %d of %d GPU nodes published, %d with the wrong device count: %v", published, len(r.gpus), wrong, err)
	}
	r.logf("DRA driver published every GPU node in %s", time.Since(start).Round(time.Millisecond))
	return nil
}

// createClaimTemplates creates the workload's ResourceClaimTemplates in ns.
func (r *runner) createClaimTemplates(ctx context.Context, ns string) error {
	for i := range r.w.DRA.ClaimTemplates {
		t := &resourceapi.ResourceClaimTemplate{ObjectMeta: metav1.ObjectMeta{Name: r.w.DRA.ClaimTemplates[i].Name, Namespace: ns}}
		r.w.DRA.ClaimTemplates[i].Spec.DeepCopyInto(&t.Spec)
		if _, err := r.client.ResourceV1().ResourceClaimTemplates(ns).Create(ctx, t, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create claim template %s: %v", t.Name, err)
		}
	}
	return nil
}

// cleanupDRA runs after the run's pods are gone: it deletes the run's
// claims and waits until they are gone (the resourceclaim controller
// deallocates them and removes their finalizer), so that the next run
// finds every device free.
func (r *runner) cleanupDRA(ctx context.Context, ns string, say func(string, ...any)) {
	start := time.Now()
	claims := r.client.ResourceV1().ResourceClaims(ns)
	left := 0
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, draSettleTimeout, true, func(ctx context.Context) (bool, error) {
		if err := claims.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
			return false, nil
		}
		l, err := claims.List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		left = len(l.Items)
		return left == 0, nil
	})
	if err != nil {
		say("DRA cleanup: %d claims left: %v", left, err)
		return
	}
	say("deleted the run's resource claims in %s", time.Since(start).Round(time.Millisecond))
}

// draState is what the device checks of evaluateQuality read.
type draState struct {
	// claims by namespace/name, as listed after the run.
	claims map[string]*resourceapi.ResourceClaim
	// generated maps namespace/pod/pod-claim-name to the claim the
	// resourceclaim controller made for it, for pods whose status does
	// not name it (yet).
	generated map[string]*resourceapi.ResourceClaim
	// sliceNode is the node of each node-local pool, by driver/pool.
	sliceNode map[string]string
}

func (r *runner) draState(ctx context.Context, ns string) (*draState, error) {
	cl, err := r.client.ResourceV1().ResourceClaims(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list resource claims: %v", err)
	}
	sl, err := r.client.ResourceV1().ResourceSlices().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list resource slices: %v", err)
	}
	return newDRAState(cl.Items, sl.Items), nil
}

func newDRAState(claims []resourceapi.ResourceClaim, slices []resourceapi.ResourceSlice) *draState {
	ds := &draState{claims: map[string]*resourceapi.ResourceClaim{}, generated: map[string]*resourceapi.ResourceClaim{}, sliceNode: map[string]string{}}
	for i := range claims {
		c := &claims[i]
		ds.claims[c.Namespace+"/"+c.Name] = c
		if pod := ownerPod(c); pod != "" {
			ds.generated[c.Namespace+"/"+pod+"/"+c.Annotations[resourceapi.PodResourceClaimAnnotation]] = c
		}
	}
	for i := range slices {
		s := &slices[i]
		if s.Spec.NodeName != nil {
			ds.sliceNode[s.Spec.Driver+"/"+s.Spec.Pool.Name] = *s.Spec.NodeName
		}
	}
	return ds
}

// ownerPod is the name of the pod controlling c, or "".
func ownerPod(c *resourceapi.ResourceClaim) string {
	if ref := podOwner(c); ref != nil {
		return ref.Name
	}
	return ""
}

func podOwner(c *resourceapi.ResourceClaim) *metav1.OwnerReference {
	for i := range c.OwnerReferences {
		ref := &c.OwnerReferences[i]
		if ref.Kind == "Pod" && ref.APIVersion == "v1" && ref.Controller != nil && *ref.Controller {
			return ref
		}
	}
	return nil
}

// podClaim returns the claim behind the pod's resource claim rc, or nil.
func (ds *draState) podClaim(p *v1.Pod, rc *v1.PodResourceClaim) *resourceapi.ResourceClaim {
	if rc.ResourceClaimName != nil {
		return ds.claims[p.Namespace+"/"+*rc.ResourceClaimName]
	}
	for _, s := range p.Status.ResourceClaimStatuses {
		if s.Name == rc.Name && s.ResourceClaimName != nil {
			return ds.claims[p.Namespace+"/"+*s.ResourceClaimName]
		}
	}
	if c := ds.generated[p.Namespace+"/"+p.Name+"/"+rc.Name]; c != nil && podOwner(c).UID == p.UID {
		return c
	}
	return nil
}

// podViolations adds the device checks of one bound pod to v: every claim
// of the pod allocated and reserved for it (ClaimUnallocated), on devices
// its node can reach (DeviceNode).
func (ds *draState) podViolations(p *v1.Pod, node *v1.Node, v *Violations) {
	unallocated, elsewhere := false, false
	for i := range p.Spec.ResourceClaims {
		c := ds.podClaim(p, &p.Spec.ResourceClaims[i])
		if c == nil || c.Status.Allocation == nil || !reservedFor(c, p) {
			unallocated = true
			continue
		}
		a := c.Status.Allocation
		if a.NodeSelector != nil {
			if ok, err := nodeaffinity.NewLazyErrorNodeSelector(a.NodeSelector).Match(node); err != nil || !ok {
				elsewhere = true
			}
		}
		for _, res := range a.Devices.Results {
			if n, ok := ds.sliceNode[res.Driver+"/"+res.Pool]; ok && n != node.Name {
				elsewhere = true
			}
		}
	}
	if unallocated {
		v.ClaimUnallocated++
	}
	if elsewhere {
		v.DeviceNode++
	}
}

func reservedFor(c *resourceapi.ResourceClaim, p *v1.Pod) bool {
	for _, r := range c.Status.ReservedFor {
		if r.Resource == "pods" && r.UID == p.UID {
			return true
		}
	}
	return false
}

// doubleAllocated counts, over every device allocated to more than one
// claim, the claims beyond the first. Admin access and shared
// (consumable-capacity) allocations may legitimately overlap and are left
// out.
func (ds *draState) doubleAllocated() int {
	holders := map[string]int{}
	for _, c := range ds.claims {
		if c.Status.Allocation == nil {
			continue
		}
		seen := map[string]bool{} // a claim holding a device twice is counted once
		for _, res := range c.Status.Allocation.Devices.Results {
			if (res.AdminAccess != nil && *res.AdminAccess) || res.ShareID != nil {
				continue
			}
			id := res.Driver + "/" + res.Pool + "/" + res.Device
			if !seen[id] {
				seen[id] = true
				holders[id]++
			}
		}
	}
	n := 0
	for _, h := range holders {
		n += h - 1
	}
	return n
}
