package dradriver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/dynamic-resource-allocation/resourceslice"
	"k8s.io/klog/v2"
)

// Options configures a Driver. Zero values get defaults.
type Options struct {
	// Workers is how many nodes are reconciled at once; default 64.
	// Starting a node's slice controller waits about a second for its
	// ResourceSlice informer, so this bounds how fast a fleet of new GPU
	// nodes gets published (300 nodes take about five seconds).
	Workers int
}

func (o Options) withDefaults() Options {
	if o.Workers <= 0 {
		o.Workers = 64
	}
	return o
}

// pool is a GPU node whose slice controller runs.
type pool struct {
	// uid is the node's; a node recreated under the same name gets a new
	// controller, since the old slices are owned by the old node.
	uid        types.UID
	gpus       GPUs
	generation int64
	ctrl       *resourceslice.Controller
}

// leftover describes the slices of a node that has no controller.
type leftover struct {
	// generation is the highest pool generation among them.
	generation int64
	// owner is the UID of the node owning them.
	owner types.UID
}

// Driver publishes the GPUs of labelled nodes as ResourceSlices. Create it
// with New and run it with Start.
type Driver struct {
	o      Options
	client kubernetes.Interface

	factory informers.SharedInformerFactory
	nodes   corelisters.NodeLister
	queue   workqueue.TypedRateLimitingInterface[string]

	mu    sync.Mutex
	pools map[string]*pool // node name → running controller
	// stale holds nodes that have (or may have) slices but no
	// controller: slices an earlier run left, or slices whose deletion
	// failed.
	stale  map[string]leftover
	warned map[string]string // node → label problem already logged

	wg   sync.WaitGroup
	done chan struct{}
}

// New returns a driver using client.
func New(client kubernetes.Interface, o Options) *Driver {
	return &Driver{
		o:      o.withDefaults(),
		client: client,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](250*time.Millisecond, time.Minute),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "dradriver_nodes"}),
		pools:  map[string]*pool{},
		stale:  map[string]leftover{},
		warned: map[string]string{},
		done:   make(chan struct{}),
	}
}

// Start creates (or repairs) the DeviceClass, finds the slices an earlier
// run left, starts the node informer and waits for it, then reconciles
// nodes in the background until ctx ends (see Wait). It must be called
// once. Slices are published shortly after Start returns, not before.
func (d *Driver) Start(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	if err := d.ensureDeviceClass(ctx); err != nil {
		close(d.done)
		return err
	}
	if err := d.findSlices(ctx); err != nil {
		close(d.done)
		return err
	}

	d.factory = informers.NewSharedInformerFactory(d.client, 0)
	nodeInf := d.factory.Core().V1().Nodes()
	d.nodes = nodeInf.Lister()
	_, err := nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if n, ok := obj.(*v1.Node); ok && d.relevant(n) {
				d.queue.Add(n.Name)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, n := oldObj.(*v1.Node), newObj.(*v1.Node)
			for _, l := range []string{CountLabel, ModelLabel, MemoryLabel} {
				if o.Labels[l] != n.Labels[l] {
					d.queue.Add(n.Name)
					return
				}
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if n, ok := obj.(*v1.Node); ok && d.relevant(n) {
				d.queue.Add(n.Name)
			}
		},
	})
	if err != nil {
		close(d.done)
		return fmt.Errorf("dradriver: add node event handler: %v", err)
	}
	d.factory.Start(ctx.Done())
	for _, ok := range d.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			d.factory.Shutdown()
			close(d.done)
			return errors.New("dradriver: node cache did not sync")
		}
	}

	d.mu.Lock()
	for node := range d.stale {
		d.queue.Add(node)
	}
	d.mu.Unlock()
	for range d.o.Workers {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			for d.processNext(ctx) {
			}
		}()
	}
	go func() {
		<-ctx.Done()
		d.queue.ShutDown()
		d.wg.Wait()
		d.mu.Lock()
		pools := d.pools
		d.pools = map[string]*pool{}
		d.mu.Unlock()
		// The slices stay: a restarted driver (devcluster --keep-data)
		// takes them over, as a restarted kubelet plugin would.
		for _, p := range pools {
			p.ctrl.Stop()
		}
		d.factory.Shutdown()
		close(d.done)
	}()
	logger.Info("Started fake DRA driver", "driver", DriverName, "deviceClass", DeviceClassName, "countLabel", CountLabel)
	return nil
}

// Wait blocks until the driver has stopped after the context given to
// Start ended (or until Start has failed).
func (d *Driver) Wait() { <-d.done }

// relevant reports whether an added or deleted node may need work.
func (d *Driver) relevant(n *v1.Node) bool {
	if _, ok := n.Labels[CountLabel]; ok {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	_, running := d.pools[n.Name]
	_, stale := d.stale[n.Name]
	return running || stale
}

// ensureDeviceClass creates the DeviceClass, or puts its selectors back
// if someone changed them.
func (d *Driver) ensureDeviceClass(ctx context.Context) error {
	want := DeviceClass()
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		classes := d.client.ResourceV1().DeviceClasses()
		_, err := classes.Create(ctx, want, metav1.CreateOptions{})
		if err == nil {
			return true, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			last = err
			return false, nil
		}
		got, err := classes.Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			last = err
			return false, nil
		}
		if apiequality.Semantic.DeepEqual(got.Spec.Selectors, want.Spec.Selectors) {
			return true, nil
		}
		got = got.DeepCopy()
		got.Spec.Selectors = want.Spec.Selectors
		if _, err := classes.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
			last = err
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("dradriver: create DeviceClass %s: %v (last error: %v)", want.Name, err, last)
	}
	return nil
}

// driverSlices selects the slices of the driver on one node.
func driverSlices(node string) metav1.ListOptions {
	return metav1.ListOptions{FieldSelector: fields.Set{
		resourceapi.ResourceSliceSelectorDriver:   DriverName,
		resourceapi.ResourceSliceSelectorNodeName: node,
	}.String()}
}

// findSlices records the nodes that already have slices of the driver.
func (d *Driver) findSlices(ctx context.Context) error {
	list, err := d.client.ResourceV1().ResourceSlices().List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector(resourceapi.ResourceSliceSelectorDriver, DriverName).String(),
	})
	if err != nil {
		return fmt.Errorf("dradriver: list ResourceSlices: %v", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range list.Items {
		if s.Spec.NodeName == nil || *s.Spec.NodeName == "" {
			continue
		}
		node := *s.Spec.NodeName
		l := d.stale[node]
		l.generation = max(l.generation, s.Spec.Pool.Generation)
		for _, ref := range s.OwnerReferences {
			if ref.Kind == "Node" && ref.Name == node {
				l.owner = ref.UID
			}
		}
		d.stale[node] = l
	}
	return nil
}

func (d *Driver) processNext(ctx context.Context) bool {
	node, shutdown := d.queue.Get()
	if shutdown {
		return false
	}
	defer d.queue.Done(node)
	logger := klog.LoggerWithValues(klog.FromContext(ctx), "node", node)
	if err := d.reconcile(klog.NewContext(ctx, logger), node); err != nil {
		if ctx.Err() == nil {
			logger.Error(err, "Reconciling GPU pool failed; retrying")
		}
		d.queue.AddRateLimited(node)
		return true
	}
	d.queue.Forget(node)
	return true
}

// reconcile makes the published pool of node match its labels. Calls for
// one node never overlap (the queue hands a key to one worker at a time).
func (d *Driver) reconcile(ctx context.Context, name string) error {
	logger := klog.FromContext(ctx)
	node, err := d.nodes.Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	var gpus GPUs
	isGPU := false
	if node != nil {
		var bad error
		gpus, isGPU, bad = NodeGPUs(node)
		d.warnOnce(logger, name, bad)
	}

	d.mu.Lock()
	p := d.pools[name]
	old, hasOld := d.stale[name]
	d.mu.Unlock()
	if p != nil && (!isGPU || p.uid != node.UID) {
		p.ctrl.Stop()
		old, hasOld = leftover{generation: p.generation, owner: p.uid}, true
		d.mu.Lock()
		delete(d.pools, name)
		d.stale[name] = old
		d.mu.Unlock()
		p = nil
		logger.Info("Removing GPU pool", "reason", gone(node))
	}
	// Slices owned by another incarnation of the node would be garbage
	// collected under the new controller; delete them first.
	if hasOld && (!isGPU || old.owner != node.UID) {
		err := d.client.ResourceV1().ResourceSlices().DeleteCollection(ctx, metav1.DeleteOptions{}, driverSlices(name))
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete ResourceSlices: %w", err)
		}
		d.mu.Lock()
		delete(d.stale, name)
		d.mu.Unlock()
		hasOld = false
	}
	if !isGPU {
		return nil
	}

	if p == nil {
		// Taking over slices of an earlier run publishes above their
		// generation.
		generation := int64(1)
		if hasOld {
			generation = old.generation + 1
		}
		ctrl, err := resourceslice.StartController(ctx, resourceslice.Options{
			DriverName: DriverName,
			KubeClient: d.client,
			Owner:      &resourceslice.Owner{APIVersion: "v1", Kind: "Node", Name: name, UID: node.UID},
			Resources:  Resources(name, gpus, generation),
			ErrorHandler: func(ctx context.Context, err error, msg string) {
				klog.FromContext(ctx).Error(err, msg)
			},
		})
		if err != nil {
			return fmt.Errorf("start ResourceSlice controller: %w", err)
		}
		d.mu.Lock()
		d.pools[name] = &pool{uid: node.UID, gpus: gpus, generation: generation, ctrl: ctrl}
		delete(d.stale, name)
		d.mu.Unlock()
		logger.Info("Publishing GPU pool", "cards", gpus.Count, "model", gpus.Model, "memory", gpus.Memory.String(), "generation", generation)
		return nil
	}
	if !p.gpus.Equal(gpus) {
		p.generation++
		p.gpus = gpus
		p.ctrl.Update(Resources(name, gpus, p.generation))
		logger.Info("Updating GPU pool", "cards", gpus.Count, "model", gpus.Model, "memory", gpus.Memory.String(), "generation", p.generation)
	}
	return nil
}

func gone(node *v1.Node) string {
	if node == nil {
		return "node deleted"
	}
	return "no GPUs declared"
}

// warnOnce logs a label problem the first time it is seen on a node.
func (d *Driver) warnOnce(logger klog.Logger, node string, problem error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if problem == nil {
		delete(d.warned, node)
		return
	}
	if d.warned[node] == problem.Error() {
		return
	}
	d.warned[node] = problem.Error()
	logger.Info("Ignoring invalid GPU label", "problem", problem.Error())
}
