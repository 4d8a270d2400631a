package scheduler

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/metrics"
	"github.com/berthsched/berth/pkg/plugins"
)

// testSchedulerName is the default profile's schedulerName.
const testSchedulerName = config.DefaultSchedulerName

// fakeBroadcaster hands out recorders that drop events, so engine tests
// need no event sink. Methods other than NewRecorder are never called.
type fakeBroadcaster struct{ events.EventBroadcaster }

func (fakeBroadcaster) NewRecorder(*runtime.Scheme, string) events.EventRecorderLogger {
	return &events.FakeRecorder{}
}

// bindFunc answers one pods/binding create; a nil error means success.
type bindFunc func(b *v1.Binding) error

// testEnv is the engine over a fake clientset, informers and a fake clock.
// Tests drive it synchronously: create objects, sync, ScheduleOne,
// WaitForBinds.
type testEnv struct {
	t       *testing.T
	ctx     context.Context
	client  *fake.Clientset
	factory informers.SharedInformerFactory
	clock   *testingclock.FakeClock
	metrics *metrics.Metrics
	sched   *Scheduler

	mu       sync.Mutex
	bindings []*v1.Binding // successful binds, in order
	attempts int           // every pods/binding call
	bind     bindFunc
}

// envOptions tune newTestEnv.
type envOptions struct {
	// extra plugins added to the in-tree registry and enabled through
	// multiPoint after the defaults.
	extra []fakeRegistration
	// configYAML replaces the generated config when set.
	configYAML string
	// disabled plugins are left out of the generated config's multiPoint.
	disabled []string
	// bind answers bind calls; nil means success.
	bind bindFunc
	// bindConcurrency overrides DefaultBindConcurrency when > 0.
	bindConcurrency int
	// dynamic, when set, is the scheduler's DynamicInformerFactory; the
	// env starts and syncs it with the typed one.
	dynamic dynamicinformer.DynamicSharedInformerFactory
}

type fakeRegistration struct {
	name    string
	factory framework.PluginFactory
}

// newTestEnv builds a Scheduler over nodes and pods (created before the
// informers start, so they are listed at once).
func newTestEnv(t *testing.T, opts envOptions, objs ...runtime.Object) *testEnv {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)

	reg, cfg := testConfig(t, opts.configYAML, opts.disabled, opts.extra...)

	env := &testEnv{
		t:       t,
		ctx:     ctx,
		client:  fake.NewClientset(objs...),
		clock:   testingclock.NewFakeClock(time.Now()),
		metrics: metrics.New(prometheus.NewRegistry()),
		bind:    opts.bind,
	}
	env.client.PrependReactor("create", "pods", env.bindReactor)
	env.factory = informers.NewSharedInformerFactory(env.client, 0)
	var err error
	env.sched, err = New(ctx, Options{
		Config:           cfg,
		Registry:         reg,
		InformerFactory:  env.factory,
		BindClient:       env.client,
		StatusClient:     env.client,
		EventBroadcaster: fakeBroadcaster{},
		Metrics:          env.metrics,
		Clock:            env.clock,
		BindConcurrency:  opts.bindConcurrency,

		DynamicInformerFactory: opts.dynamic,
	})
	if err != nil {
		cancel()
		t.Fatalf("New: %v", err)
	}
	env.factory.Start(ctx.Done())
	if opts.dynamic != nil {
		opts.dynamic.Start(ctx.Done())
		for gvr, ok := range opts.dynamic.WaitForCacheSync(ctx.Done()) {
			if !ok {
				t.Fatalf("dynamic informer for %v did not sync", gvr)
			}
		}
	}
	t.Cleanup(func() {
		env.sched.queue.Close()
		cancel()
		env.factory.Shutdown()
	})
	for typ, ok := range env.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("informer for %v did not sync", typ)
		}
	}
	if err := env.sched.WaitForHandlersSync(ctx); err != nil {
		t.Fatal(err)
	}
	return env
}

// testConfig returns the in-tree registry plus extra and a config: yaml
// when set, otherwise the defaults with extra enabled through multiPoint
// and disabled left out.
func testConfig(t *testing.T, yaml string, disabled []string, extra ...fakeRegistration) (framework.Registry, *config.Config) {
	t.Helper()
	reg := plugins.NewInTreeRegistry()
	var enabled []string
	for _, r := range extra {
		reg[r.name] = framework.Registration{Factory: r.factory}
		enabled = append(enabled, "          - name: "+r.name)
	}
	if yaml == "" && len(enabled)+len(disabled) > 0 {
		var off string
		if len(disabled) > 0 {
			off = "        disabled:\n"
			for _, name := range disabled {
				off += "          - name: " + name + "\n"
			}
		}
		yaml = fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
  - schedulerName: %s
    plugins:
      multiPoint:
        enabled:
%s
%s`, testSchedulerName, strings.Join(enabled, "\n"), off)
	}
	cfg, err := config.Load([]byte(yaml), reg)
	if err != nil {
		t.Fatalf("loading config: %v", err)
	}
	return reg, cfg
}

// bindReactor handles pods/binding: it asks env.bind and, on success, sets
// the pod's nodeName in the tracker so the informer confirms the bind.
func (e *testEnv) bindReactor(action clienttesting.Action) (bool, runtime.Object, error) {
	if action.GetSubresource() != "binding" {
		return false, nil, nil
	}
	b := action.(clienttesting.CreateAction).GetObject().(*v1.Binding)
	e.mu.Lock()
	e.attempts++
	fn := e.bind
	e.mu.Unlock()
	if fn != nil {
		if err := fn(b); err != nil {
			return true, nil, err
		}
	}
	e.mu.Lock()
	e.bindings = append(e.bindings, b.DeepCopy())
	e.mu.Unlock()
	obj, err := e.client.Tracker().Get(v1.SchemeGroupVersion.WithResource("pods"), b.Namespace, b.Name)
	if err != nil {
		return true, nil, err
	}
	pod := obj.(*v1.Pod).DeepCopy()
	pod.Spec.NodeName = b.Target.Name
	if err := e.client.Tracker().Update(v1.SchemeGroupVersion.WithResource("pods"), pod, b.Namespace); err != nil {
		return true, nil, err
	}
	return true, b, nil
}

func (e *testEnv) boundTo() map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]string{}
	for _, b := range e.bindings {
		out[b.Name] = b.Target.Name
	}
	return out
}

func (e *testEnv) bindAttempts() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.attempts
}

// createPods creates pending pods and waits until the queue holds them all.
func (e *testEnv) createPods(pods ...*v1.Pod) {
	e.t.Helper()
	for _, p := range pods {
		if _, err := e.client.CoreV1().Pods(p.Namespace).Create(e.ctx, p, metav1.CreateOptions{}); err != nil {
			e.t.Fatalf("creating pod %s: %v", p.Name, err)
		}
	}
	e.waitFor("the pods to be queued", func() bool {
		for _, p := range pods {
			if _, err := e.sched.podLister.Pods(p.Namespace).Get(p.Name); err != nil {
				return false
			}
		}
		queued, _ := e.sched.queue.PendingPods()
		have := map[string]bool{}
		for _, q := range queued {
			have[q.Name] = true
		}
		for _, p := range pods {
			if !have[p.Name] {
				return false
			}
		}
		return true
	})
}

// waitFor polls cond (informer deliveries are asynchronous).
func (e *testEnv) waitFor(what string, cond func() bool) {
	e.t.Helper()
	err := wait.PollUntilContextTimeout(e.ctx, time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return cond(), nil
	})
	if err != nil {
		e.t.Fatalf("timed out waiting for %s", what)
	}
}

// scheduleOne runs one scheduling cycle and waits for its binding cycle.
func (e *testEnv) scheduleOne() {
	e.t.Helper()
	e.sched.ScheduleOne(e.ctx)
	e.sched.WaitForBinds()
}

// queueLen returns the sizes of activeQ, backoffQ and the pool.
func (e *testEnv) queueLen() (active, backoff, unschedulable int) {
	return e.sched.queue.Len()
}

// assumed reports whether the cache holds pod as assumed.
func (e *testEnv) assumed(pod *v1.Pod) bool {
	ok, _ := e.sched.cache.IsAssumedPod(pod)
	return ok
}

// inCache reports whether the cache holds pod at all.
func (e *testEnv) inCache(pod *v1.Pod) bool {
	_, err := e.sched.cache.GetPod(pod)
	return err == nil
}

// lastReport returns the failure message queued for pod, if any.
func (e *testEnv) lastReport(pod *v1.Pod) (failureReport, bool) {
	r := e.sched.reporter
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, rep := range r.pending {
		if k.Name == pod.Name && k.Namespace == pod.Namespace {
			return rep, true
		}
	}
	return failureReport{}, false
}

// --- fake plugins ---------------------------------------------------------

// filterPlugin runs fn as its Filter.
type filterPlugin struct {
	name string
	fn   func(pod *v1.Pod, ni *framework.NodeInfo) *framework.Status
}

var _ framework.FilterPlugin = (*filterPlugin)(nil)

func (p *filterPlugin) Name() string { return p.name }
func (p *filterPlugin) Filter(_ context.Context, _ *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	return p.fn(pod, ni)
}

// reservePlugin records Reserve and Unreserve calls.
type reservePlugin struct {
	name    string
	reserve func(pod *v1.Pod, node string) *framework.Status

	mu         sync.Mutex
	reserved   []string
	unreserved []string
}

var _ framework.ReservePlugin = (*reservePlugin)(nil)

func (p *reservePlugin) Name() string { return p.name }
func (p *reservePlugin) Reserve(_ context.Context, _ *framework.CycleState, pod *v1.Pod, node string) *framework.Status {
	p.mu.Lock()
	p.reserved = append(p.reserved, pod.Name+"@"+node)
	p.mu.Unlock()
	if p.reserve != nil {
		return p.reserve(pod, node)
	}
	return nil
}
func (p *reservePlugin) Unreserve(_ context.Context, _ *framework.CycleState, pod *v1.Pod, node string) {
	p.mu.Lock()
	p.unreserved = append(p.unreserved, pod.Name+"@"+node)
	p.mu.Unlock()
}

func (p *reservePlugin) calls() (reserved, unreserved []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.reserved...), append([]string(nil), p.unreserved...)
}

// permitPlugin asks every pod to wait for timeout; it keeps the handle so
// the test can allow or reject through GetWaitingPod.
type permitPlugin struct {
	name    string
	timeout time.Duration
	handle  framework.Handle
}

var _ framework.PermitPlugin = (*permitPlugin)(nil)

func (p *permitPlugin) Name() string { return p.name }
func (p *permitPlugin) Permit(context.Context, *framework.CycleState, *v1.Pod, string) (*framework.Status, time.Duration) {
	return framework.NewStatus(framework.Wait), p.timeout
}

// register returns a registration whose factory hands out pl, letting
// setup (e.g. capturing the handle) run first.
func register(name string, pl framework.Plugin, setup func(framework.Handle)) fakeRegistration {
	return fakeRegistration{name: name, factory: func(_ context.Context, _ runtime.Object, h framework.Handle) (framework.Plugin, error) {
		if setup != nil {
			setup(h)
		}
		return pl, nil
	}}
}

// logger returns the env's context logger.
func (e *testEnv) logger() klog.Logger { return klog.FromContext(e.ctx) }

// counterValue reads a counter (prometheus/testutil would pull a module
// the main module does not otherwise need).
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
