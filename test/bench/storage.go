package bench

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/testenv"
)

// Storage constants shared with devcluster's provisioner (kube/provisioner;
// the main module cannot import the kube module).
const (
	// localDefaultCapacity is the provisioner's capacity of a node without
	// the capacity annotation.
	localDefaultCapacity = "100Gi"
	// capacityNamespace holds the provisioner's CSIStorageCapacity objects,
	// labelled managedByLabel=testenv.LocalProvisioner.
	capacityNamespace = "kube-system"
	managedByLabel    = "app.kubernetes.io/managed-by"
	// annProvisionedBy marks the PVs a provisioner created.
	annProvisionedBy = "pv.kubernetes.io/provisioned-by"
	// annSelectedNode is the WaitForFirstConsumer handshake annotation.
	annSelectedNode = "volume.kubernetes.io/selected-node"
	// runLabel marks the static PVs of one run.
	runLabel = "bench/run"
	// storageSettleTimeout bounds waiting for the PV controller and the
	// provisioner: capacities published, static PVs available, a run's
	// volumes deleted.
	storageSettleTimeout = 5 * time.Minute
)

// staticPV is one pre-created static volume of a run.
type staticPV struct {
	name string
	node string
	size int64
}

// setupStorage creates the StorageClasses, sets the nodes' local capacity
// annotations and waits until the provisioner publishes them.
func (r *runner) setupStorage(ctx context.Context) error {
	st := r.w.Storage
	for i := range st.Classes {
		c := st.Classes[i].DeepCopy()
		c.ObjectMeta = metav1.ObjectMeta{Name: c.Name, Labels: c.Labels, Annotations: c.Annotations}
		if _, err := r.client.StorageV1().StorageClasses().Create(ctx, c, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create storage class %s: %v", c.Name, err)
		}
	}
	def := resource.MustParse(localDefaultCapacity)
	r.nodeCapacity = make(map[string]int64, len(r.nodes))
	start := time.Now()
	patched := 0
	var mu sync.Mutex
	err := parallel(ctx, len(r.nodes), r.o.CreateWorkers, func(ctx context.Context, i int) error {
		name := r.nodes[i].Name
		capacity := st.nodeCapacityFor(i)
		q := def
		if capacity != "" {
			q = resource.MustParse(capacity)
			patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, testenv.LocalCapacityAnnotation, capacity)
			if err := retry(ctx, func() error {
				_, err := r.client.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
				return err
			}); err != nil {
				return fmt.Errorf("annotate node %s: %v", name, err)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		r.nodeCapacity[hostnameOf(&r.nodes[i])] = q.Value()
		if capacity != "" {
			patched++
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.logf("created %d storage classes, set the local capacity of %d nodes", len(st.Classes), patched)
	if err := r.waitCapacities(ctx); err != nil {
		return err
	}
	r.logf("storage capacity published for every node in %s", time.Since(start).Round(time.Millisecond))
	return nil
}

func hostnameOf(n *v1.Node) string {
	if h := n.Labels[v1.LabelHostname]; h != "" {
		return h
	}
	return n.Name
}

// localClasses are the workload's classes provisioned by the local
// provisioner.
func (r *runner) localClasses() []string {
	var out []string
	for _, c := range r.w.Storage.Classes {
		if c.Provisioner == testenv.LocalProvisioner {
			out = append(out, c.Name)
		}
	}
	return out
}

// waitCapacities waits until the provisioner's CSIStorageCapacity objects
// report every node's full capacity for every local class (no volume of
// the previous run is left).
func (r *runner) waitCapacities(ctx context.Context) error {
	classes := r.localClasses()
	if len(classes) == 0 {
		return nil
	}
	var missing, wrong int
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, storageSettleTimeout, true, func(ctx context.Context) (bool, error) {
		list, err := r.client.StorageV1().CSIStorageCapacities(capacityNamespace).List(ctx, metav1.ListOptions{
			LabelSelector: labels.Set{managedByLabel: testenv.LocalProvisioner}.String()})
		if err != nil {
			return false, nil
		}
		got := map[[2]string]int64{}
		for i := range list.Items {
			c := &list.Items[i]
			if c.NodeTopology == nil || c.Capacity == nil {
				continue
			}
			got[[2]string{c.StorageClassName, c.NodeTopology.MatchLabels[v1.LabelHostname]}] = c.Capacity.Value()
		}
		missing, wrong = 0, 0
		for _, class := range classes {
			for host, want := range r.nodeCapacity {
				v, ok := got[[2]string{class, host}]
				switch {
				case !ok:
					missing++
				case v != want:
					wrong++
				}
			}
		}
		return missing == 0 && wrong == 0, nil
	})
	if err != nil {
		return fmt.Errorf("storage capacity not published: %d (class, node) pairs missing, %d not at full capacity: %v", missing, wrong, err)
	}
	return nil
}

// createStaticVolumes creates the run's static local PVs and waits until
// the PV controller reports them Available.
func (r *runner) createStaticVolumes(ctx context.Context, sched string) ([]staticPV, error) {
	sv := r.w.Storage.StaticVolumes
	if sv == nil {
		return nil, nil
	}
	sel := labels.SelectorFromSet(sv.NodeSelector)
	var pvs []staticPV
	for i := range r.nodes {
		n := &r.nodes[i]
		if !sel.Matches(labels.Set(n.Labels)) {
			continue
		}
		for range sv.PerNode {
			q := resource.MustParse(sv.Sizes[len(pvs)%len(sv.Sizes)])
			pvs = append(pvs, staticPV{name: fmt.Sprintf("static-%s-%05d", sched, len(pvs)), node: hostnameOf(n), size: q.Value()})
		}
	}
	start := time.Now()
	err := parallel(ctx, len(pvs), r.o.CreateWorkers, func(ctx context.Context, i int) error {
		s := pvs[i]
		pv := &v1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: s.name, Labels: map[string]string{runLabel: sched}},
			Spec: v1.PersistentVolumeSpec{
				Capacity:                      v1.ResourceList{v1.ResourceStorage: *resource.NewQuantity(s.size, resource.BinarySI)},
				AccessModes:                   []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
				PersistentVolumeReclaimPolicy: v1.PersistentVolumeReclaimRetain,
				StorageClassName:              sv.StorageClassName,
				VolumeMode:                    ptr.To(v1.PersistentVolumeFilesystem),
				PersistentVolumeSource:        v1.PersistentVolumeSource{Local: &v1.LocalVolumeSource{Path: "/mnt/disks/" + s.name}},
				NodeAffinity: &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
					MatchExpressions: []v1.NodeSelectorRequirement{{Key: v1.LabelHostname, Operator: v1.NodeSelectorOpIn, Values: []string{s.node}}},
				}}}},
			},
		}
		if err := retry(ctx, func() error {
			_, err := r.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
			return err
		}); err != nil {
			return fmt.Errorf("create static PV %s: %v", s.name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var available int
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, storageSettleTimeout, true, func(ctx context.Context) (bool, error) {
		list, err := r.client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{LabelSelector: labels.Set{runLabel: sched}.String()})
		if err != nil {
			return false, nil
		}
		available = 0
		for i := range list.Items {
			if list.Items[i].Status.Phase == v1.VolumeAvailable {
				available++
			}
		}
		return available == len(pvs), nil
	})
	if err != nil {
		return nil, fmt.Errorf("static PVs: %d of %d available: %v", available, len(pvs), err)
	}
	r.logf("created %d static PVs (%s), available after %s", len(pvs), sv.StorageClassName, time.Since(start).Round(time.Millisecond))
	return pvs, nil
}

// cleanupStorage runs after the run's pods are gone: it deletes the claims
// (the PV controller and the provisioner then delete the provisioned PVs)
// and the run's static PVs, and waits until no PV is left and the
// capacities are whole again, so the next run starts from the same state.
func (r *runner) cleanupStorage(ctx context.Context, ns, sched string, say func(string, ...any)) {
	start := time.Now()
	claims := r.client.CoreV1().PersistentVolumeClaims(ns)
	pvs := r.client.CoreV1().PersistentVolumes()
	var left, pvLeft int
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, storageSettleTimeout, true, func(ctx context.Context) (bool, error) {
		if err := claims.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
			return false, nil
		}
		if err := pvs.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: labels.Set{runLabel: sched}.String()}); err != nil {
			return false, nil
		}
		l, err := claims.List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		left = len(l.Items)
		pl, err := pvs.List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		pvLeft = len(pl.Items)
		return left == 0 && pvLeft == 0, nil
	})
	if err != nil {
		say("storage cleanup: %d claims and %d PVs left: %v", left, pvLeft, err)
		return
	}
	if err := r.waitCapacities(ctx); err != nil {
		say("storage cleanup: %v", err)
		return
	}
	say("deleted the run's claims and volumes in %s", time.Since(start).Round(time.Millisecond))
}

// storageState is what the storage checks of evaluateQuality read.
type storageState struct {
	// claims by namespace/name and PVs by name, as listed after the run.
	claims map[string]*v1.PersistentVolumeClaim
	pvs    map[string]*v1.PersistentVolume
	// capacity is the local provisioner's capacity of each node, by
	// hostname.
	capacity map[string]int64
}

func (r *runner) storageState(ctx context.Context, ns string) (*storageState, error) {
	cl, err := r.client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list claims: %v", err)
	}
	pl, err := r.client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list PVs: %v", err)
	}
	st := &storageState{claims: map[string]*v1.PersistentVolumeClaim{}, pvs: map[string]*v1.PersistentVolume{}, capacity: r.nodeCapacity}
	for i := range cl.Items {
		c := &cl.Items[i]
		st.claims[c.Namespace+"/"+c.Name] = c
	}
	for i := range pl.Items {
		st.pvs[pl.Items[i].Name] = &pl.Items[i]
	}
	return st, nil
}

// pinnedHost is the single kubernetes.io/hostname a volume's node affinity
// requires, or "".
func pinnedHost(pv *v1.PersistentVolume) string {
	na := pv.Spec.NodeAffinity
	if na == nil || na.Required == nil || len(na.Required.NodeSelectorTerms) != 1 {
		return ""
	}
	for _, e := range na.Required.NodeSelectorTerms[0].MatchExpressions {
		if e.Key == v1.LabelHostname && e.Operator == v1.NodeSelectorOpIn && len(e.Values) == 1 {
			return e.Values[0]
		}
	}
	return ""
}

// buildClaim instantiates a claim template for pod podName.
func buildClaim(tmpl *v1.PersistentVolumeClaim, ns, podName string) *v1.PersistentVolumeClaim {
	c := &v1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: tmpl.Name + "-" + podName, Namespace: ns}}
	if len(tmpl.Labels) > 0 {
		c.Labels = make(map[string]string, len(tmpl.Labels))
		for k, v := range tmpl.Labels {
			c.Labels[k] = v
		}
	}
	tmpl.Spec.DeepCopyInto(&c.Spec)
	return c
}

// createClaims creates the claims of pod p from its group's templates and
// adds the volumes using them to p.
func createClaims(ctx context.Context, client kubernetes.Interface, g *PodGroup, p *v1.Pod) ([]*v1.PersistentVolumeClaim, error) {
	var out []*v1.PersistentVolumeClaim
	api := client.CoreV1().PersistentVolumeClaims(p.Namespace)
	for i := range g.Claims {
		c := buildClaim(&g.Claims[i], p.Namespace, p.Name)
		var created *v1.PersistentVolumeClaim
		err := retry(ctx, func() error {
			var err error
			created, err = api.Create(ctx, c, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) { // an earlier attempt got through
				created, err = api.Get(ctx, c.Name, metav1.GetOptions{})
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("create claim %s: %v", c.Name, err)
		}
		out = append(out, created)
		p.Spec.Volumes = append(p.Spec.Volumes, v1.Volume{Name: g.Claims[i].Name, VolumeSource: v1.VolumeSource{
			PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name}}})
	}
	return out, nil
}

// ceilingVolumes lets the ceiling binder do, for pods with claims, what an
// instantaneous scheduler would do through the API: pick a node (the
// smallest free static PV that fits, else the next node round-robin with
// enough local capacity), pre-bind the static PV or set the claim's
// selected-node annotation, wait until the PV controller (and the
// provisioner) report the claim Bound, then bind the pod. Dynamic classes
// are assumed to be the local provisioner's.
type ceilingVolumes struct {
	client kubernetes.Interface
	static map[string]bool // class name → no provisioner

	mu     sync.Mutex
	hosts  []string
	free   map[string]int64 // hostname → local capacity left
	next   int
	pool   []*staticPV // sorted by size
	used   map[string]bool
	waiter *claimWaiter
}

func newCeilingVolumes(ctx context.Context, client kubernetes.Interface, w *Workload, ns string, nodes []v1.Node, capacity map[string]int64, static []staticPV) (*ceilingVolumes, error) {
	cv := &ceilingVolumes{client: client, static: map[string]bool{}, free: map[string]int64{}, used: map[string]bool{}}
	for _, c := range w.Storage.Classes {
		cv.static[c.Name] = c.Provisioner == "kubernetes.io/no-provisioner"
	}
	for i := range nodes {
		h := hostnameOf(&nodes[i])
		cv.hosts = append(cv.hosts, h)
		cv.free[h] = capacity[h]
	}
	for i := range static {
		cv.pool = append(cv.pool, &static[i])
	}
	sort.SliceStable(cv.pool, func(i, j int) bool { return cv.pool[i].size < cv.pool[j].size })
	var err error
	cv.waiter, err = newClaimWaiter(ctx, client, ns)
	return cv, err
}

func claimSize(c *v1.PersistentVolumeClaim) int64 {
	q := c.Spec.Resources.Requests[v1.ResourceStorage]
	return q.Value()
}

// place chooses the node and the static PVs of a pod's claims and takes
// them from the pools.
func (cv *ceilingVolumes) place(claims []*v1.PersistentVolumeClaim) (string, map[string]*staticPV, error) {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	node := ""
	chosen := map[string]*staticPV{}
	var dynamic int64
	for _, c := range claims {
		if !cv.static[ptr.Deref(c.Spec.StorageClassName, "")] {
			dynamic += claimSize(c)
			continue
		}
		var pick *staticPV
		for _, s := range cv.pool {
			if !cv.used[s.name] && s.size >= claimSize(c) && (node == "" || s.node == node) {
				pick = s
				break
			}
		}
		if pick == nil {
			return "", nil, fmt.Errorf("no static PV left for claim %s", c.Name)
		}
		node = pick.node
		cv.used[pick.name] = true
		chosen[c.Name] = pick
	}
	if node == "" {
		for k := range cv.hosts {
			h := cv.hosts[(cv.next+k)%len(cv.hosts)]
			if cv.free[h] >= dynamic {
				node = h
				cv.next = (cv.next + k + 1) % len(cv.hosts)
				break
			}
		}
		if node == "" {
			return "", nil, fmt.Errorf("no node has %d bytes of local storage left", dynamic)
		}
	} else if cv.free[node] < dynamic {
		return "", nil, fmt.Errorf("node %s has no local storage left for the dynamic claims", node)
	}
	cv.free[node] -= dynamic
	return node, chosen, nil
}

// prepare places the pod's claims and writes the handshake; the claims
// then only need waiting for.
func (cv *ceilingVolumes) prepare(ctx context.Context, claims []*v1.PersistentVolumeClaim) (string, error) {
	node, chosen, err := cv.place(claims)
	if err != nil {
		return "", err
	}
	for _, c := range claims {
		if s, ok := chosen[c.Name]; ok {
			ref := &v1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: c.Namespace, Name: c.Name, UID: c.UID}
			var err error
			for attempt := 0; attempt < 5; attempt++ { // the PV controller writes the PV too
				err = retry(ctx, func() error {
					pv, err := cv.client.CoreV1().PersistentVolumes().Get(ctx, s.name, metav1.GetOptions{})
					if err != nil {
						return err
					}
					pv.Spec.ClaimRef = ref
					_, err = cv.client.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{})
					return err
				})
				if !apierrors.IsConflict(err) {
					break
				}
			}
			if err != nil {
				return "", fmt.Errorf("pre-bind PV %s: %v", s.name, err)
			}
			continue
		}
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, annSelectedNode, node)
		if err := retry(ctx, func() error {
			_, err := cv.client.CoreV1().PersistentVolumeClaims(c.Namespace).Patch(ctx, c.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
			return err
		}); err != nil {
			return "", fmt.Errorf("select node for claim %s: %v", c.Name, err)
		}
	}
	return node, nil
}

// claimWaiter tells when claims of a namespace become Bound, from an
// informer (no polling).
type claimWaiter struct {
	mu      sync.Mutex
	bound   map[string]bool
	waiting map[string]chan struct{}
}

func newClaimWaiter(ctx context.Context, client kubernetes.Interface, ns string) (*claimWaiter, error) {
	w := &claimWaiter{bound: map[string]bool{}, waiting: map[string]chan struct{}{}}
	err := watchNamespace(ctx, client, ns, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Core().V1().PersistentVolumeClaims().Informer()
	}, cache.ResourceEventHandlerFuncs{
		AddFunc:    w.observe,
		UpdateFunc: func(_, obj any) { w.observe(obj) },
	})
	return w, err
}

func (w *claimWaiter) observe(obj any) {
	c, ok := obj.(*v1.PersistentVolumeClaim)
	if !ok || c.Status.Phase != v1.ClaimBound {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.bound[c.Name] = true
	if ch, ok := w.waiting[c.Name]; ok {
		close(ch)
		delete(w.waiting, c.Name)
	}
}

// wait blocks until claim name is Bound or ctx ends.
func (w *claimWaiter) wait(ctx context.Context, name string) error {
	w.mu.Lock()
	if w.bound[name] {
		w.mu.Unlock()
		return nil
	}
	ch, ok := w.waiting[name]
	if !ok {
		ch = make(chan struct{})
		w.waiting[name] = ch
	}
	w.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// podViolations adds the storage checks of one bound pod to v.
func (st *storageState) podViolations(p *v1.Pod, node *v1.Node, v *Violations) {
	unbound, affinity := false, false
	for i := range p.Spec.Volumes {
		src := p.Spec.Volumes[i].PersistentVolumeClaim
		if src == nil {
			continue
		}
		c := st.claims[p.Namespace+"/"+src.ClaimName]
		if c == nil || c.Status.Phase != v1.ClaimBound || c.Spec.VolumeName == "" {
			unbound = true
			continue
		}
		pv := st.pvs[c.Spec.VolumeName]
		if pv == nil || pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != c.UID {
			unbound = true
			continue
		}
		if pv.Spec.NodeAffinity != nil && pv.Spec.NodeAffinity.Required != nil {
			if ok, err := corev1helpers.MatchNodeSelectorTerms(node, pv.Spec.NodeAffinity.Required); err != nil || !ok {
				affinity = true
			}
		}
	}
	if unbound {
		v.VolumeUnbound++
	}
	if affinity {
		v.VolumeNodeAffinity++
	}
}

// overCapacityNodes counts the nodes whose volumes from the local
// provisioner add up to more than their local capacity.
func (st *storageState) overCapacityNodes() int {
	used := map[string]int64{}
	for _, pv := range st.pvs {
		if pv.Annotations[annProvisionedBy] != testenv.LocalProvisioner || pv.DeletionTimestamp != nil {
			continue
		}
		if h := pinnedHost(pv); h != "" {
			q := pv.Spec.Capacity[v1.ResourceStorage]
			used[h] += q.Value()
		}
	}
	n := 0
	for h, u := range used {
		if c, ok := st.capacity[h]; !ok || u > c {
			n++
		}
	}
	return n
}

// watchNamespace runs one informer over namespace ns with handler h until
// ctx ends, and returns once its initial list is in the store.
func watchNamespace(ctx context.Context, client kubernetes.Interface, ns string, informer func(informers.SharedInformerFactory) cache.SharedIndexInformer, h cache.ResourceEventHandler) error {
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
	if _, err := informer(factory).AddEventHandler(h); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("informer (%v) did not sync", typ)
		}
	}
	return nil
}
