package inprocbench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/klog/v2"
)

// Instance is one scheduler under test over its own fake clientset that
// holds a copy of the cluster. Binds are answered at once and recorded;
// they do not change the fake's objects, so no informer event follows a
// bind and the schedulers keep the pods assumed.
type Instance struct {
	// Name says which scheduler this is ("kube-scheduler" or "berth").
	Name string

	scheduleOne func(context.Context)
	closeQueue  func()
	cancel      context.CancelFunc
	factory     informers.SharedInformerFactory

	mu     sync.Mutex
	placed map[string]string // pod name → node
	want   int
	done   chan struct{}
	last   time.Time // of the last bind
}

// newInstance makes the fake clientset holding c (pending pods naming
// schedulerName) and hooks binds.
func newInstance(name string, c *Cluster, schedulerName string) (*Instance, *fake.Clientset) {
	objs := make([]runtime.Object, 0, len(c.Nodes)+len(c.Existing)+len(c.Pending))
	for _, n := range c.Nodes {
		objs = append(objs, n.DeepCopy())
	}
	for _, p := range c.Objects(schedulerName) {
		objs = append(objs, p)
	}
	client := fake.NewClientset(objs...)
	in := &Instance{Name: name, placed: map[string]string{}}
	client.PrependReactor("create", "pods", func(action clienttesting.Action) (bool, runtime.Object, error) {
		if action.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b, ok := action.(clienttesting.CreateAction).GetObject().(*v1.Binding)
		if !ok {
			return true, nil, fmt.Errorf("binding of type %T", action.(clienttesting.CreateAction).GetObject())
		}
		in.bound(b.Name, b.Target.Name)
		return true, nil, nil
	})
	return in, client
}

func (in *Instance) bound(pod, node string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.placed[pod] = node
	in.last = time.Now()
	if in.done != nil && len(in.placed) >= in.want {
		close(in.done)
		in.done = nil
	}
}

// Placed returns a copy of the binds so far, pod name → node name.
func (in *Instance) Placed() map[string]string {
	in.mu.Lock()
	defer in.mu.Unlock()
	m := make(map[string]string, len(in.placed))
	for k, v := range in.placed {
		m[k] = v
	}
	return m
}

// Close stops the scheduler and its informers.
func (in *Instance) Close() {
	in.closeQueue()
	in.cancel()
	in.factory.Shutdown()
}

// startInformers starts and syncs factory, then waits for the scheduler's
// handlers (handlersSynced) to have seen every listed object, so every
// pending pod is in its queue.
func startInformers(ctx context.Context, factory informers.SharedInformerFactory, handlersSynced func(context.Context) error) error {
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("informer for %v did not sync", typ)
		}
	}
	return handlersSynced(ctx)
}

// Result is one measured run.
type Result struct {
	// Pods is how many pods were scheduled and bound.
	Pods int
	// Wall is the time from the first scheduling cycle to the last bind.
	Wall time.Duration
	// CPU is the process's user+system CPU time over Wall: every
	// goroutine, the informers and GC included.
	CPU time.Duration
}

// CPUPerPod is CPU time per scheduled pod in microseconds.
func (r Result) CPUPerPod() float64 { return float64(r.CPU.Microseconds()) / float64(r.Pods) }

// PodsPerSecond is the scheduling throughput.
func (r Result) PodsPerSecond() float64 { return float64(r.Pods) / r.Wall.Seconds() }

// ErrStalled is returned by Measure when binds stop before every pod is
// bound (a pod was found unschedulable, or the scheduler is stuck).
var ErrStalled = errors.New("binds stalled")

// Measure runs n scheduling cycles (the queue holds the cluster's pending
// pods) and waits until n pods are bound, failing with ErrStalled when no
// bind arrives for stall.
func (in *Instance) Measure(ctx context.Context, n int, stall time.Duration) (Result, error) {
	done := make(chan struct{})
	in.mu.Lock()
	in.want, in.done, in.last = n, done, time.Now()
	if len(in.placed) >= n {
		close(done)
		in.done = nil
	}
	in.mu.Unlock()

	start, cpu0 := time.Now(), ProcessCPU()
	go func() {
		for range n {
			in.scheduleOne(ctx)
		}
	}()
	t := time.NewTicker(stall / 4)
	defer t.Stop()
	for {
		select {
		case <-done:
			return Result{Pods: n, Wall: time.Since(start), CPU: ProcessCPU() - cpu0}, nil
		case <-ctx.Done():
			return Result{}, ctx.Err()
		case <-t.C:
			in.mu.Lock()
			got, last := len(in.placed), in.last
			in.mu.Unlock()
			if time.Since(last) > stall {
				return Result{}, fmt.Errorf("%s: %w: %d of %d pods bound, none in %v", in.Name, ErrStalled, got, n, stall)
			}
		}
	}
}

// ProcessCPU is the user+system CPU time the process has used.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// quietContext is ctx with a logger that drops everything, so logging
// costs neither scheduler anything.
func quietContext(ctx context.Context) context.Context {
	return klog.NewContext(ctx, logr.Discard())
}
