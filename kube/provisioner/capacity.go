package provisioner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/klog/v2"
)

// publishDelay coalesces a burst of events (a node fleet being created, a
// batch of volumes) into one reconcile.
const publishDelay = 100 * time.Millisecond

// capacityKey identifies one CSIStorageCapacity object.
type capacityKey struct{ class, host string }

// publishLoop reconciles the CSIStorageCapacity objects after events, every
// ResyncPeriod, and a second after a failed write.
func (p *Provisioner) publishLoop(ctx context.Context) {
	logger := klog.FromContext(ctx)
	resync := time.NewTicker(p.o.ResyncPeriod)
	defer resync.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.kick:
		case <-resync.C:
		case <-retry.C:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(publishDelay):
		}
		select {
		case <-p.kick:
		default:
		}
		if err := p.publish(ctx); err != nil && ctx.Err() == nil {
			logger.Error(err, "Publishing storage capacity failed; retrying")
			retry.Reset(time.Second)
		}
	}
}

// desiredCapacities computes, for every StorageClass of this provisioner
// and every node in its allowed topologies, the free local storage of the
// node.
func (p *Provisioner) desiredCapacities() (map[capacityKey]int64, error) {
	classes, err := p.classes.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var ours []*storagev1.StorageClass
	for _, c := range classes {
		if c.Provisioner == p.o.Name {
			ours = append(ours, c)
		}
	}
	want := map[capacityKey]int64{}
	if len(ours) == 0 {
		return want, nil
	}
	nodes, err := p.nodes.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	used := p.usedByHostLocked()
	p.mu.Unlock()
	for _, n := range nodes {
		host := hostOf(n)
		if len(validation.IsValidLabelValue(host)) > 0 {
			continue // cannot be selected by a label selector
		}
		free := max(p.capacityOf(n)-used[host], 0)
		for _, c := range ours {
			if nodeAllowed(c, n) {
				want[capacityKey{c.Name, host}] = free
			}
		}
	}
	return want, nil
}

// keyOf recognises a CSIStorageCapacity object written by publish.
func keyOf(c *storagev1.CSIStorageCapacity) (capacityKey, bool) {
	t := c.NodeTopology
	if t == nil || len(t.MatchExpressions) > 0 || len(t.MatchLabels) != 1 {
		return capacityKey{}, false
	}
	host, ok := t.MatchLabels[v1.LabelHostname]
	return capacityKey{c.StorageClassName, host}, ok && host != ""
}

func (p *Provisioner) capacityObject(k capacityKey, bytes int64) *storagev1.CSIStorageCapacity {
	return &storagev1.CSIStorageCapacity{
		ObjectMeta: metav1.ObjectMeta{
			Name:      capacityName(k.class, k.host),
			Namespace: p.o.Namespace,
			Labels:    map[string]string{ManagedByLabel: p.o.Name},
		},
		StorageClassName: k.class,
		NodeTopology:     &metav1.LabelSelector{MatchLabels: map[string]string{v1.LabelHostname: k.host}},
		Capacity:         resource.NewQuantity(bytes, resource.BinarySI),
	}
}

// publish brings the CSIStorageCapacity objects in line with
// desiredCapacities, writing only the objects that are missing, differ or
// are no longer wanted, at most Workers at a time. Creates that race with
// the informer (AlreadyExists) and updates of stale copies (Conflict) are
// left to the reconcile their watch events trigger.
func (p *Provisioner) publish(ctx context.Context) error {
	want, err := p.desiredCapacities()
	if err != nil {
		return err
	}
	existing, err := p.capacities.CSIStorageCapacities(p.o.Namespace).List(labels.Everything())
	if err != nil {
		return err
	}
	type op struct {
		verb string
		obj  *storagev1.CSIStorageCapacity
	}
	var ops []op
	seen := make(map[capacityKey]bool, len(existing))
	for _, c := range existing {
		k, ok := keyOf(c)
		bytes, wanted := want[k]
		if !ok || !wanted || seen[k] {
			ops = append(ops, op{"delete", c})
			continue
		}
		seen[k] = true
		if c.Capacity == nil || c.Capacity.Value() != bytes || c.MaximumVolumeSize != nil {
			u := c.DeepCopy()
			u.Capacity = resource.NewQuantity(bytes, resource.BinarySI)
			u.MaximumVolumeSize = nil
			ops = append(ops, op{"update", u})
		}
	}
	for k, bytes := range want {
		if !seen[k] {
			ops = append(ops, op{"create", p.capacityObject(k, bytes)})
		}
	}
	if len(ops) == 0 {
		return nil
	}

	api := p.client.StorageV1().CSIStorageCapacities(p.o.Namespace)
	var (
		mu      sync.Mutex
		errs    []error
		counts  = map[string]int{}
		wg      sync.WaitGroup
		workers = make(chan struct{}, p.o.Workers)
	)
	for _, o := range ops {
		if ctx.Err() != nil {
			break
		}
		workers <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-workers; wg.Done() }()
			var err error
			switch o.verb {
			case "create":
				_, err = api.Create(ctx, o.obj, metav1.CreateOptions{})
				if apierrors.IsAlreadyExists(err) {
					err = nil
				}
			case "update":
				_, err = api.Update(ctx, o.obj, metav1.UpdateOptions{})
				if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
					err = nil
				}
			case "delete":
				err = api.Delete(ctx, o.obj.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &o.obj.UID}})
				if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
					err = nil
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s CSIStorageCapacity %s/%s: %w", o.verb, p.o.Namespace, o.obj.Name, err))
				return
			}
			counts[o.verb]++
		}()
	}
	wg.Wait()
	klog.FromContext(ctx).V(2).Info("Published storage capacity",
		"created", counts["create"], "updated", counts["update"], "deleted", counts["delete"], "failed", len(errs))
	if len(errs) > 3 {
		errs = append(errs[:3], fmt.Errorf("and %d more", len(errs)-3))
	}
	return errors.Join(errs...)
}
