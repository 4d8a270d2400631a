package provisioner

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"path"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

const (
	// Name is the provisioner name StorageClasses put in .provisioner, and
	// the name of the CSIDriver object that opts it into storage capacity
	// tracking.
	Name = "local.berth.io"
	// CapacityAnnotation on a node overrides Options.NodeCapacity for it
	// (a resource quantity such as "500Gi"; "0" means no local storage).
	CapacityAnnotation = "local.berth.io/capacity"
	// DefaultNamespace holds the CSIStorageCapacity objects.
	DefaultNamespace = "kube-system"
	// DefaultNodeCapacity is the local storage of a node without the
	// capacity annotation.
	DefaultNodeCapacity = "100Gi"
	// BasePath is the (fake) directory under which volumes live on a node:
	// a volume's path is BasePath/<pv name>. Nothing is created there.
	BasePath = "/var/lib/berth-local"
	// ManagedByLabel marks the CSIStorageCapacity objects the provisioner
	// owns; its value is the provisioner name.
	ManagedByLabel = "app.kubernetes.io/managed-by"

	// AnnProvisionedBy is set on every provisioned PV (by the library).
	AnnProvisionedBy = "pv.kubernetes.io/provisioned-by"
)

// reservationTTL bounds how long a volume handed to the library counts
// against its node before the PV shows up in the informer; the library
// either creates the PV within its retries or calls Delete.
const reservationTTL = 5 * time.Minute

// Options configures a Provisioner. Zero values get defaults.
type Options struct {
	// Name is the provisioner name; default Name.
	Name string
	// Namespace holds the CSIStorageCapacity objects; default
	// DefaultNamespace.
	Namespace string
	// NodeCapacity is the local storage of a node without the
	// CapacityAnnotation; nil means DefaultNodeCapacity.
	NodeCapacity *resource.Quantity
	// ResyncPeriod is how often the CSIStorageCapacity objects are fully
	// reconciled even without events; default one minute.
	ResyncPeriod time.Duration
	// Workers is the number of concurrent CSIStorageCapacity writes and of
	// provisioning threads; default 16.
	Workers int
}

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = Name
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.NodeCapacity == nil {
		q := resource.MustParse(DefaultNodeCapacity)
		o.NodeCapacity = &q
	}
	if o.ResyncPeriod <= 0 {
		o.ResyncPeriod = time.Minute
	}
	if o.Workers <= 0 {
		o.Workers = 16
	}
	return o
}

// usage is what one provisioned PV takes from its node.
type usage struct {
	host  string
	bytes int64
}

// reservation is a volume returned to the library whose PV object has not
// reached the informer yet.
type reservation struct {
	usage
	at time.Time
}

// Provisioner is a dynamic provisioner of fake node-local volumes with
// storage capacity tracking. Create it with New and run it with Start.
type Provisioner struct {
	o            Options
	client       kubernetes.Interface
	nodeCapacity int64

	factory    informers.SharedInformerFactory
	capFactory informers.SharedInformerFactory
	nodes      corelisters.NodeLister
	classes    storagelisters.StorageClassLister
	capacities storagelisters.CSIStorageCapacityLister

	mu           sync.Mutex
	pvUsage      map[string]usage // PV name → usage, for PVs we provisioned
	hostUsed     map[string]int64 // hostname → bytes of pvUsage on it
	reservations map[string]reservation
	badCapacity  map[string]string // node → annotation value already warned about

	kick chan struct{}
	wg   sync.WaitGroup
	done chan struct{}
}

var (
	_ controller.Provisioner      = (*Provisioner)(nil)
	_ controller.BlockProvisioner = (*Provisioner)(nil)
)

// New validates o and returns a provisioner using client.
func New(client kubernetes.Interface, o Options) (*Provisioner, error) {
	o = o.withDefaults()
	if o.NodeCapacity.Sign() < 0 {
		return nil, fmt.Errorf("node capacity %s is negative", o.NodeCapacity)
	}
	return &Provisioner{
		o:            o,
		client:       client,
		nodeCapacity: o.NodeCapacity.Value(),
		pvUsage:      map[string]usage{},
		hostUsed:     map[string]int64{},
		reservations: map[string]reservation{},
		badCapacity:  map[string]string{},
		kick:         make(chan struct{}, 1),
		done:         make(chan struct{}),
	}, nil
}

// Start registers the CSIDriver, starts the informers, waits for their
// caches, then runs the provisioning controller and the capacity
// publisher in the background until ctx is cancelled (see Wait). It must
// be called once.
func (p *Provisioner) Start(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	if err := p.ensureCSIDriver(ctx); err != nil {
		close(p.done)
		return err
	}

	p.factory = informers.NewSharedInformerFactory(p.client, 0)
	p.capFactory = informers.NewSharedInformerFactoryWithOptions(p.client, 0,
		informers.WithNamespace(p.o.Namespace),
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) {
			lo.LabelSelector = labels.Set{ManagedByLabel: p.o.Name}.String()
		}))

	nodeInf := p.factory.Core().V1().Nodes()
	pvInf := p.factory.Core().V1().PersistentVolumes()
	claimInf := p.factory.Core().V1().PersistentVolumeClaims()
	classInf := p.factory.Storage().V1().StorageClasses()
	capInf := p.capFactory.Storage().V1().CSIStorageCapacities()
	p.nodes, p.classes, p.capacities = nodeInf.Lister(), classInf.Lister(), capInf.Lister()

	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{nodeInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: func(any) { p.trigger() },
			UpdateFunc: func(oldObj, newObj any) {
				o, n := oldObj.(*v1.Node), newObj.(*v1.Node)
				if !labels.Equals(o.Labels, n.Labels) || o.Annotations[CapacityAnnotation] != n.Annotations[CapacityAnnotation] {
					p.trigger()
				}
			},
			DeleteFunc: func(any) { p.trigger() },
		}},
		{pvInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { p.trackPV(obj, false) },
			UpdateFunc: func(_, obj any) { p.trackPV(obj, false) },
			DeleteFunc: func(obj any) { p.trackPV(obj, true) },
		}},
		{classInf.Informer(), cache.FilteringResourceEventHandler{
			FilterFunc: func(obj any) bool {
				if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = d.Obj
				}
				c, ok := obj.(*storagev1.StorageClass)
				return ok && c.Provisioner == p.o.Name
			},
			Handler: cache.ResourceEventHandlerFuncs{
				AddFunc:    func(any) { p.trigger() },
				UpdateFunc: func(_, _ any) { p.trigger() },
				DeleteFunc: func(any) { p.trigger() },
			},
		}},
		// Our own writes come back as events too; the reconcile that
		// follows finds nothing to do. Someone else's edit or delete is
		// repaired.
		{capInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { p.trigger() },
			UpdateFunc: func(_, _ any) { p.trigger() },
			DeleteFunc: func(any) { p.trigger() },
		}},
	}
	for _, h := range handlers {
		if _, err := h.inf.AddEventHandler(h.h); err != nil {
			return fmt.Errorf("provisioner: add event handler: %v", err)
		}
	}

	ctrl := controller.NewProvisionController(ctx, p.client, p.o.Name, p,
		controller.LeaderElection(false),
		controller.ClaimsInformer(claimInf.Informer()),
		controller.VolumesInformer(pvInf.Informer()),
		controller.ClassesInformer(classInf.Informer()),
		controller.Threadiness(p.o.Workers),
		controller.ResyncPeriod(5*time.Minute),
		// The default first retry after a failure is 15s; a development
		// cluster wants retries in well under a second.
		controller.RateLimiter(workqueue.NewTypedItemExponentialFailureRateLimiter[string](250*time.Millisecond, time.Minute)),
		controller.CreateProvisionedPVInterval(time.Second),
	)
	ctrl.ControllerWaitGroup(&p.wg)

	p.factory.Start(ctx.Done())
	p.capFactory.Start(ctx.Done())
	p.wg.Add(2) // the controller and the publisher, started below
	go func() {
		<-ctx.Done()
		p.wg.Wait()
		p.factory.Shutdown()
		p.capFactory.Shutdown()
		close(p.done)
	}()
	// The caches fail to sync only when ctx ends.
	for _, synced := range []map[string]bool{typedSynced(p.factory.WaitForCacheSync(ctx.Done())), typedSynced(p.capFactory.WaitForCacheSync(ctx.Done()))} {
		for what, ok := range synced {
			if !ok {
				p.wg.Add(-2)
				return fmt.Errorf("provisioner: %s cache did not sync", what)
			}
		}
	}

	go func() {
		defer p.wg.Done()
		ctrl.Run(ctx)
	}()
	go func() {
		defer p.wg.Done()
		p.publishLoop(ctx)
	}()
	p.trigger()
	logger.Info("Started local provisioner", "provisioner", p.o.Name, "capacityNamespace", p.o.Namespace, "nodeCapacity", p.o.NodeCapacity.String())
	return nil
}

func typedSynced[K comparable](m map[K]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k, v := range m {
		out[fmt.Sprint(k)] = v
	}
	return out
}

// Wait blocks until the provisioner has stopped after the context given
// to Start ended (or until Start has failed).
func (p *Provisioner) Wait() { <-p.done }

// ensureCSIDriver creates the CSIDriver named after the provisioner with
// storage capacity tracking on, or turns tracking on in an existing one.
func (p *Provisioner) ensureCSIDriver(ctx context.Context) error {
	want := &storagev1.CSIDriver{
		ObjectMeta: metav1.ObjectMeta{Name: p.o.Name, Labels: map[string]string{ManagedByLabel: p.o.Name}},
		Spec: storagev1.CSIDriverSpec{
			AttachRequired:  ptr.To(false),
			PodInfoOnMount:  ptr.To(false),
			StorageCapacity: ptr.To(true),
		},
	}
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		drivers := p.client.StorageV1().CSIDrivers()
		_, err := drivers.Create(ctx, want, metav1.CreateOptions{})
		if err == nil {
			return true, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			last = err
			return false, nil
		}
		got, err := drivers.Get(ctx, p.o.Name, metav1.GetOptions{})
		if err != nil {
			last = err
			return false, nil
		}
		if ptr.Deref(got.Spec.StorageCapacity, false) {
			return true, nil
		}
		got = got.DeepCopy()
		got.Spec.StorageCapacity = ptr.To(true)
		if _, err := drivers.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
			last = err
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("provisioner: register CSIDriver %s: %v (last error: %v)", p.o.Name, err, last)
	}
	return nil
}

// trigger asks the publisher for a reconcile.
func (p *Provisioner) trigger() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// trackPV keeps pvUsage and hostUsed in step with the PV informer.
func (p *Provisioner) trackPV(obj any, deleted bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pv, ok := obj.(*v1.PersistentVolume)
	if !ok {
		return
	}
	var now usage
	counted := false
	if !deleted && pv.Annotations[AnnProvisionedBy] == p.o.Name {
		if host := pinnedHost(pv); host != "" {
			q := pv.Spec.Capacity[v1.ResourceStorage]
			now, counted = usage{host: host, bytes: q.Value()}, true
		}
	}
	p.mu.Lock()
	before, had := p.pvUsage[pv.Name]
	if had {
		p.addUsed(before.host, -before.bytes)
		delete(p.pvUsage, pv.Name)
	}
	if counted {
		p.pvUsage[pv.Name] = now
		p.addUsed(now.host, now.bytes)
	}
	_, reserved := p.reservations[pv.Name]
	delete(p.reservations, pv.Name)
	p.mu.Unlock()
	if had != counted || before != now || reserved {
		p.trigger()
	}
}

func (p *Provisioner) addUsed(host string, bytes int64) {
	if v := p.hostUsed[host] + bytes; v != 0 {
		p.hostUsed[host] = v
	} else {
		delete(p.hostUsed, host)
	}
}

// usedByHostLocked returns the bytes provisioned on each host,
// reservations included. The caller holds p.mu.
func (p *Provisioner) usedByHostLocked() map[string]int64 {
	used := make(map[string]int64, len(p.hostUsed))
	for h, b := range p.hostUsed {
		used[h] = b
	}
	for name, r := range p.reservations {
		if time.Since(r.at) > reservationTTL {
			delete(p.reservations, name)
			continue
		}
		used[r.host] += r.bytes
	}
	return used
}

// capacityOf is the local storage of node: its annotation, else the
// default.
func (p *Provisioner) capacityOf(node *v1.Node) int64 {
	s, ok := node.Annotations[CapacityAnnotation]
	if !ok {
		return p.nodeCapacity
	}
	q, err := resource.ParseQuantity(s)
	if err == nil && q.Sign() >= 0 {
		return q.Value()
	}
	p.mu.Lock()
	warned := p.badCapacity[node.Name] == s
	p.badCapacity[node.Name] = s
	p.mu.Unlock()
	if !warned {
		klog.Background().Info("Ignoring invalid local capacity annotation; using the default", "node", klog.KObj(node), "annotation", CapacityAnnotation, "value", s, "default", p.o.NodeCapacity.String())
	}
	return p.nodeCapacity
}

// SupportsBlock implements controller.BlockProvisioner: a fake local
// volume can as well be a block device.
func (p *Provisioner) SupportsBlock(context.Context) bool { return true }

// Provision implements controller.Provisioner.
//
// With a selected node (WaitForFirstConsumer) the volume is a local volume
// pinned to that node by a kubernetes.io/hostname In [node] affinity. If
// the node is gone, outside the class's allowedTopologies or short of
// capacity, it returns ProvisioningReschedule: the library removes the
// claim's volume.kubernetes.io/selected-node annotation so the scheduler
// picks another node.
//
// Without a selected node (Immediate), a class with allowedTopologies gets
// a volume in one of its segments (one value per key, e.g. one zone),
// chosen by a hash of the PV name among the segments that contain at
// least one node, skipping segments naming a kubernetes.io/hostname that
// is full; the PV carries that segment as node affinity and, for the zone
// and region keys, as labels. A class without allowedTopologies gets a hostPath
// volume without node affinity, usable from every node (like network
// storage) and not counted against any node's capacity.
func (p *Provisioner) Provision(ctx context.Context, opts controller.ProvisionOptions) (*v1.PersistentVolume, controller.ProvisioningState, error) {
	claim, class := opts.PVC, opts.StorageClass
	req, ok := claim.Spec.Resources.Requests[v1.ResourceStorage]
	if !ok || req.Sign() <= 0 {
		return nil, controller.ProvisioningFinished, errors.New("claim requests no storage")
	}
	if claim.Spec.DataSource != nil || claim.Spec.DataSourceRef != nil {
		return nil, controller.ProvisioningFinished, fmt.Errorf("%s does not support volume data sources", p.o.Name)
	}
	pv := &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: opts.PVName},
		Spec: v1.PersistentVolumeSpec{
			Capacity:                      v1.ResourceList{v1.ResourceStorage: req.DeepCopy()},
			AccessModes:                   claim.Spec.AccessModes,
			VolumeMode:                    claim.Spec.VolumeMode,
			PersistentVolumeReclaimPolicy: ptr.Deref(class.ReclaimPolicy, v1.PersistentVolumeReclaimDelete),
			MountOptions:                  class.MountOptions,
		},
	}
	local := v1.PersistentVolumeSource{Local: &v1.LocalVolumeSource{Path: path.Join(BasePath, opts.PVName)}}

	if opts.SelectedNodeName != "" {
		node, err := p.nodes.Get(opts.SelectedNodeName)
		if err != nil {
			return nil, controller.ProvisioningReschedule, fmt.Errorf("selected node %s: %v", opts.SelectedNodeName, err)
		}
		if !nodeAllowed(class, node) {
			return nil, controller.ProvisioningReschedule, fmt.Errorf("node %s is outside the allowed topologies of StorageClass %s", node.Name, class.Name)
		}
		host := hostOf(node)
		if err := p.reserve(opts.PVName, node, host, req.Value()); err != nil {
			return nil, controller.ProvisioningReschedule, err
		}
		pv.Spec.NodeAffinity = hostAffinity(host)
		pv.Spec.PersistentVolumeSource = local
		return pv, controller.ProvisioningFinished, nil
	}

	if len(class.AllowedTopologies) == 0 {
		pv.Spec.PersistentVolumeSource = v1.PersistentVolumeSource{HostPath: &v1.HostPathVolumeSource{Path: path.Join(BasePath, opts.PVName)}}
		return pv, controller.ProvisioningFinished, nil
	}
	seg, err := p.pickSegment(opts.PVName, class, req.Value())
	if err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	pv.Spec.NodeAffinity = seg.affinity()
	pv.Spec.PersistentVolumeSource = local
	for k, v := range seg.labels() {
		if k == v1.LabelTopologyZone || k == v1.LabelTopologyRegion {
			if pv.Labels == nil {
				pv.Labels = map[string]string{}
			}
			pv.Labels[k] = v
		}
	}
	return pv, controller.ProvisioningFinished, nil
}

// reserve counts bytes against host for the PV about to be created, or
// explains why the node lacks the room.
func (p *Provisioner) reserve(pvName string, node *v1.Node, host string, bytes int64) error {
	capacity := p.capacityOf(node)
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.reservations, pvName) // a retry of the same claim
	used := p.hostUsed[host]
	for name, r := range p.reservations {
		switch {
		case time.Since(r.at) > reservationTTL:
			delete(p.reservations, name)
		case r.host == host:
			used += r.bytes
		}
	}
	free := capacity - used
	if bytes > free {
		return fmt.Errorf("node %s has %s of local storage free, the claim requests %s",
			node.Name, resource.NewQuantity(max(free, 0), resource.BinarySI), resource.NewQuantity(bytes, resource.BinarySI))
	}
	p.reservations[pvName] = reservation{usage: usage{host: host, bytes: bytes}, at: time.Now()}
	p.trigger()
	return nil
}

// pickSegment chooses the topology segment of an Immediate volume.
func (p *Provisioner) pickSegment(pvName string, class *storagev1.StorageClass, bytes int64) (segment, error) {
	segs := segments(class.AllowedTopologies)
	if len(segs) == 0 {
		return nil, fmt.Errorf("StorageClass %s has allowedTopologies without values", class.Name)
	}
	nodes, err := p.nodes.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var populated []segment
	for _, s := range segs {
		sel := labels.SelectorFromSet(s.labels())
		for _, n := range nodes {
			if sel.Matches(labels.Set(n.Labels)) {
				populated = append(populated, s)
				break
			}
		}
	}
	if len(populated) == 0 {
		populated = segs
	}
	h := fnv.New32a()
	h.Write([]byte(pvName))
	start := int(h.Sum32() % uint32(len(populated)))
	var lastErr error
	for i := range populated {
		s := populated[(start+i)%len(populated)]
		host, pinned := s.labels()[v1.LabelHostname]
		if !pinned {
			return s, nil
		}
		node := p.nodeByHost(nodes, host)
		if node == nil {
			lastErr = fmt.Errorf("no node has hostname %s", host)
			continue
		}
		if lastErr = p.reserve(pvName, node, host, bytes); lastErr == nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("no allowed topology of StorageClass %s can hold the volume: %v", class.Name, lastErr)
}

func (p *Provisioner) nodeByHost(nodes []*v1.Node, host string) *v1.Node {
	for _, n := range nodes {
		if hostOf(n) == host {
			return n
		}
	}
	return nil
}

// Delete implements controller.Provisioner: there is no storage behind a
// volume, so only the capacity it held is released (once the PV object
// is gone, which the library does after Delete returns).
func (p *Provisioner) Delete(_ context.Context, pv *v1.PersistentVolume) error {
	p.mu.Lock()
	delete(p.reservations, pv.Name)
	p.mu.Unlock()
	return nil
}
