package bench

import (
	"context"
	"fmt"
	"sort"
	"sync"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	resourceclient "k8s.io/client-go/kubernetes/typed/resource/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/berthsched/berth/internal/testenv"
)

// ceilingDevices lets the ceiling binder do for pods with resource claims
// what an instantaneous scheduler would do through the API: wait for the
// resourceclaim controller to create each claim, take free devices of
// the fake driver on a GPU node chosen round-robin (every device of the
// driver matches its DeviceClass), add the delete-protection finalizer,
// write the allocation and the pod's reservation, then bind.
type ceilingDevices struct {
	client kubernetes.Interface

	mu    sync.Mutex
	nodes []string            // GPU nodes, by name
	free  map[string][]string // node → free device names, lowest index first
	next  int

	waiter *podClaimWaiter
}

func newCeilingDevices(ctx context.Context, client kubernetes.Interface, ns string, gpus map[string]int) (*ceilingDevices, error) {
	cd := &ceilingDevices{client: client, free: map[string][]string{}}
	for node, n := range gpus {
		cd.nodes = append(cd.nodes, node)
		for i := range n {
			cd.free[node] = append(cd.free[node], fmt.Sprintf("%s%d", testenv.GPUDeviceNamePrefix, i))
		}
	}
	sort.Strings(cd.nodes)
	var err error
	cd.waiter, err = newPodClaimWaiter(ctx, client, ns)
	return cd, err
}

// take reserves n devices on one node.
func (cd *ceilingDevices) take(n int) (string, []string, error) {
	cd.mu.Lock()
	defer cd.mu.Unlock()
	for k := range cd.nodes {
		node := cd.nodes[(cd.next+k)%len(cd.nodes)]
		if len(cd.free[node]) >= n {
			devs := cd.free[node][:n:n]
			cd.free[node] = cd.free[node][n:]
			cd.next = (cd.next + k + 1) % len(cd.nodes)
			return node, devs, nil
		}
	}
	return "", nil, fmt.Errorf("no GPU node has %d free devices", n)
}

// allocate waits for the pod's claims and allocates them on one node,
// which it returns.
func (cd *ceilingDevices) allocate(ctx context.Context, ns string, pod types.UID, name string, podClaims []v1.PodResourceClaim) (string, error) {
	var claims []*resourceapi.ResourceClaim
	need := 0
	for _, pc := range podClaims {
		c, err := cd.waiter.wait(ctx, name+"/"+pc.Name)
		if err != nil {
			return "", err
		}
		claims = append(claims, c)
		for _, r := range c.Spec.Devices.Requests {
			need += int(requestCount(&r))
		}
	}
	node, devs, err := cd.take(need)
	if err != nil {
		return "", err
	}
	api := cd.client.ResourceV1().ResourceClaims(ns)
	for _, c := range claims {
		var results []resourceapi.DeviceRequestAllocationResult
		for _, r := range c.Spec.Devices.Requests {
			for range requestCount(&r) {
				results = append(results, resourceapi.DeviceRequestAllocationResult{Request: r.Name, Driver: testenv.GPUDriver, Pool: node, Device: devs[0]})
				devs = devs[1:]
			}
		}
		c, err := addFinalizer(ctx, api, c)
		if err != nil {
			return "", err
		}
		c.Status.Allocation = &resourceapi.AllocationResult{
			Devices: resourceapi.DeviceAllocationResult{Results: results},
			NodeSelector: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
				MatchFields: []v1.NodeSelectorRequirement{{Key: "metadata.name", Operator: v1.NodeSelectorOpIn, Values: []string{node}}},
			}}},
		}
		c.Status.ReservedFor = []resourceapi.ResourceClaimConsumerReference{{Resource: "pods", Name: name, UID: pod}}
		if err := retry(ctx, func() error { _, err := api.UpdateStatus(ctx, c, metav1.UpdateOptions{}); return err }); err != nil {
			return "", fmt.Errorf("allocate claim %s: %v", c.Name, err)
		}
	}
	return node, nil
}

// addFinalizer adds the delete-protection finalizer to c, re-reading it
// after a conflict.
func addFinalizer(ctx context.Context, api resourceclient.ResourceClaimInterface, c *resourceapi.ResourceClaim) (*resourceapi.ResourceClaim, error) {
	c = c.DeepCopy()
	for attempt := 0; ; attempt++ {
		c.Finalizers = append(c.Finalizers, resourceapi.Finalizer)
		var u *resourceapi.ResourceClaim
		err := retry(ctx, func() error {
			var err error
			u, err = api.Update(ctx, c, metav1.UpdateOptions{})
			return err
		})
		if err == nil {
			return u, nil
		}
		if !apierrors.IsConflict(err) || attempt == 4 {
			return nil, fmt.Errorf("add finalizer to claim %s: %v", c.Name, err)
		}
		if c, err = api.Get(ctx, c.Name, metav1.GetOptions{}); err != nil {
			return nil, fmt.Errorf("re-read claim after a conflict: %v", err)
		}
	}
}

func requestCount(r *resourceapi.DeviceRequest) int64 {
	if r.Exactly == nil || r.Exactly.Count == 0 {
		return 1
	}
	return r.Exactly.Count
}

// podClaimWaiter tells when the resourceclaim controller has created the
// claim of a pod's resource claim, from an informer (no polling). Keys are
// "<pod>/<pod claim name>".
type podClaimWaiter struct {
	mu      sync.Mutex
	claims  map[string]*resourceapi.ResourceClaim
	waiting map[string]chan struct{}
}

func newPodClaimWaiter(ctx context.Context, client kubernetes.Interface, ns string) (*podClaimWaiter, error) {
	w := &podClaimWaiter{claims: map[string]*resourceapi.ResourceClaim{}, waiting: map[string]chan struct{}{}}
	err := watchNamespace(ctx, client, ns, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Resource().V1().ResourceClaims().Informer()
	}, cache.ResourceEventHandlerFuncs{AddFunc: w.observe})
	return w, err
}

func (w *podClaimWaiter) observe(obj any) {
	c, ok := obj.(*resourceapi.ResourceClaim)
	if !ok {
		return
	}
	pod := ownerPod(c)
	if pod == "" {
		return
	}
	key := pod + "/" + c.Annotations[resourceapi.PodResourceClaimAnnotation]
	w.mu.Lock()
	defer w.mu.Unlock()
	w.claims[key] = c
	if ch, ok := w.waiting[key]; ok {
		close(ch)
		delete(w.waiting, key)
	}
}

// wait blocks until the claim for key exists or ctx ends.
func (w *podClaimWaiter) wait(ctx context.Context, key string) (*resourceapi.ResourceClaim, error) {
	w.mu.Lock()
	if c, ok := w.claims[key]; ok {
		w.mu.Unlock()
		return c, nil
	}
	ch, ok := w.waiting[key]
	if !ok {
		ch = make(chan struct{})
		w.waiting[key] = ch
	}
	w.mu.Unlock()
	select {
	case <-ch:
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.claims[key], nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
