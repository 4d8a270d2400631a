package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/explain"
	"github.com/berthsched/berth/pkg/plugins"
	"github.com/berthsched/berth/pkg/scheduler"
)

func TestExplainHandler(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	node := st.MakeNode().Name("n1").Capacity("cpu", "1", "memory", "4Gi", "pods", "110").Obj()
	pending := st.MakePod().Name("big").UID("big").Namespace("default").SchedulerName(config.DefaultSchedulerName).Req("cpu", "2").Obj()
	bound := st.MakePod().Name("small").UID("small").Namespace("default").SchedulerName(config.DefaultSchedulerName).Req("cpu", "100m").Node("n1").Obj()
	client := fake.NewClientset(node, pending, bound)
	reg := plugins.NewInTreeRegistry()
	cfg, err := config.Load(nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	ev, err := scheduler.NewEvaluator(ctx, scheduler.EvaluatorOptions{Config: cfg, Registry: reg, InformerFactory: factory, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	pods := factory.Core().V1().Pods().Lister()
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	defer func() { cancel(); factory.Shutdown() }()
	logger := klog.FromContext(ctx)
	ev.Cache().AddNode(logger, node)
	if err := ev.Cache().AddPod(logger, bound); err != nil {
		t.Fatal(err)
	}
	h := explainHandler(explain.New(ev), pods)

	get := func(query string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, explainPath+query, nil))
		return rec
	}
	rec := get("?pod=default/big")
	if rec.Code != http.StatusOK {
		t.Fatalf("pending pod: %d %s", rec.Code, rec.Body)
	}
	var e explain.Explanation
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("decoding %s: %v", rec.Body, err)
	}
	if e.Schedulable || !strings.Contains(e.Message, "0/1 nodes are available: 1 Insufficient cpu") {
		t.Errorf("explanation = schedulable %v, message %q; want unschedulable for cpu", e.Schedulable, e.Message)
	}
	for query, want := range map[string]int{
		"?pod=default/small":              http.StatusConflict,
		"?pod=default/nope":               http.StatusNotFound,
		"?pod=nonamespace":                http.StatusBadRequest,
		"?pod=default/big&format=toml":    http.StatusBadRequest,
		"?pod=default/big&format=table":   http.StatusOK,
		"?pod=default/big&node=n1":        http.StatusOK,
		"?pod=default/big&format=yaml":    http.StatusOK,
		"?pod=default/small&format=table": http.StatusConflict,
	} {
		if got := get(query).Code; got != want {
			t.Errorf("GET %s = %d, want %d", query, got, want)
		}
	}
	if c := ev.Cache().NodeCount(); c != 1 {
		t.Errorf("cache has %d nodes after the calls, want 1", c)
	}
}
