package scheduler

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic/dynamicinformer"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2/ktesting"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/metrics"
)

var widgets = schema.GroupVersionResource{Group: "example.berth.io", Version: "v1", Resource: "widgets"}

const widgetResource framework.EventResource = "widgets.example.berth.io"

// widgetGate rejects every pod until a Widget named after the pod exists.
// It reads Widgets through the handle's dynamic informer factory and asks
// for Widget events, without saying how to watch them.
type widgetGate struct {
	h framework.Handle
}

func (p *widgetGate) Name() string { return "WidgetGate" }

func (p *widgetGate) Filter(_ context.Context, _ *framework.CycleState, pod *v1.Pod, _ *framework.NodeInfo) *framework.Status {
	if _, err := p.h.DynamicInformerFactory().ForResource(widgets).Lister().ByNamespace(pod.Namespace).Get(pod.Name); err != nil {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, "no widget for the pod")
	}
	return nil
}

func (p *widgetGate) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{{Event: framework.ClusterEvent{Resource: widgetResource, ActionType: framework.Add, Label: "WidgetAdd"}}}, nil
}

// widgetSource is widgetGate that declares its event source.
type widgetSource struct{ widgetGate }

func (p *widgetSource) EventSources() []framework.EventSource {
	return []framework.EventSource{{Resource: widgetResource, GVR: widgets}}
}

func newDynamic() (*dynamicfake.FakeDynamicClient, dynamicinformer.DynamicSharedInformerFactory) {
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{widgets: "WidgetList"})
	return client, dynamicinformer.NewDynamicSharedInformerFactory(client, 0)
}

func widget(ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("example.berth.io/v1")
	u.SetKind("Widget")
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// newWithPlugin builds a Scheduler with pl enabled and returns New's error.
func newWithPlugin(t *testing.T, pl framework.Plugin, dyn dynamicinformer.DynamicSharedInformerFactory) error {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	reg, cfg := testConfig(t, "", nil, register(pl.Name(), pl, nil))
	client := fake.NewClientset()
	_, err := New(ctx, Options{
		Config: cfg, Registry: reg, InformerFactory: informers.NewSharedInformerFactory(client, 0),
		DynamicInformerFactory: dyn, BindClient: client, StatusClient: client,
		EventBroadcaster: fakeBroadcaster{}, Metrics: metrics.New(prometheus.NewRegistry()),
	})
	return err
}

func TestNewRefusesEventsNothingFeeds(t *testing.T) {
	_, dyn := newDynamic()
	err := newWithPlugin(t, &widgetGate{}, dyn)
	if err == nil {
		t.Fatal("New accepted a plugin whose Widget events nothing would deliver")
	}
	for _, want := range []string{`plugin "WidgetGate"`, string(widgetResource), "framework.EventSourcer"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

func TestNewRefusesDeclaredSourceWithoutDynamicFactory(t *testing.T) {
	err := newWithPlugin(t, &widgetSource{}, nil)
	if err == nil || !strings.Contains(err.Error(), "dynamic informer factory") || !strings.Contains(err.Error(), widgets.String()) {
		t.Fatalf("New = %v, want an error naming the missing dynamic informer factory and %s", err, widgets)
	}
}

// TestCustomResourceEventRequeuesPod: a pod rejected by a plugin that
// waits for a custom resource moves back to the active queue when the
// resource appears, through the source the plugin declared, and binds.
func TestCustomResourceEventRequeuesPod(t *testing.T) {
	client, dyn := newDynamic()
	gate := &widgetSource{}
	env := newTestEnv(t, envOptions{
		extra:   []fakeRegistration{register(gate.Name(), gate, func(h framework.Handle) { gate.h = h })},
		dynamic: dyn,
	}, node("n1", "4").Obj())
	pod := pendingPod("p").Req("cpu", "1").Obj()
	env.createPods(pod)
	env.scheduleOne()
	env.waitFor("the pod to be unschedulable", func() bool {
		_, _, unsched := env.queueLen()
		return unsched == 1
	})
	if len(env.boundTo()) != 0 {
		t.Fatalf("pod bound before its widget existed: %v", env.boundTo())
	}

	if _, err := client.Resource(widgets).Namespace(pod.Namespace).Create(env.ctx, widget(pod.Namespace, pod.Name), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The event moves the pod out of the pool (to backoff: it has just
	// failed); once the backoff expires it binds.
	env.waitFor("the Widget event to move the pod", func() bool { _, _, u := env.queueLen(); return u == 0 })
	env.clock.Step(2 * time.Second)
	env.sched.queue.FlushBackoffQCompleted(env.logger())
	env.scheduleOne()
	if got := env.boundTo()["p"]; got != "n1" {
		t.Fatalf("pod bound to %q after its widget appeared, want n1", got)
	}
}
