package extender

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	v1 "k8s.io/api/core/v1"
	extenderv1 "k8s.io/kube-scheduler/extender/v1"
)

func post(t *testing.T, h http.Handler, path string, body any, into any) int {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(b)))
	if into != nil && rec.Code == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), into); err != nil {
			t.Fatalf("%s answered %q: %v", path, rec.Body.String(), err)
		}
	}
	return rec.Code
}

// TestHandler drives the verbs through HTTP as kube-scheduler does: JSON
// of the extender/v1 types in and out, and each answer counted by verb
// and result.
func TestHandler(t *testing.T) {
	p := sharePod("s", "500")
	x, _ := newTestExtender(t, []*v1.Node{gpuNode("gpu-a", 1), cpuNode("cpu-b")}, p)
	reg := prometheus.NewRegistry()
	x.metrics = NewMetrics(reg, x.AssumedPods)
	h := x.Handler()

	var fr extenderv1.ExtenderFilterResult
	if code := post(t, h, "/filter", extenderv1.ExtenderArgs{Pod: p, NodeNames: names("gpu-a", "cpu-b")}, &fr); code != http.StatusOK {
		t.Fatalf("filter: HTTP %d", code)
	}
	if fr.NodeNames == nil || len(*fr.NodeNames) != 1 || (*fr.NodeNames)[0] != "gpu-a" || fr.FailedAndUnresolvableNodes["cpu-b"] == "" || fr.Nodes != nil {
		t.Errorf("filter answered %+v; want gpu-a by name and cpu-b unresolvable", fr)
	}
	var pr extenderv1.HostPriorityList
	if code := post(t, h, "/prioritize", extenderv1.ExtenderArgs{Pod: p, NodeNames: names("gpu-a")}, &pr); code != http.StatusOK || len(pr) != 1 || pr[0].Score != extenderv1.MaxExtenderPriority {
		t.Errorf("prioritize: HTTP %d, %+v", code, pr)
	}
	var pre extenderv1.ExtenderPreemptionResult
	victims := map[string]*extenderv1.MetaVictims{"gpu-a": {Pods: []*extenderv1.MetaPod{{UID: "v1"}}}, "cpu-b": {Pods: []*extenderv1.MetaPod{{UID: "v2"}}}}
	if code := post(t, h, "/preempt", extenderv1.ExtenderPreemptionArgs{Pod: p, NodeNameToMetaVictims: victims}, &pre); code != http.StatusOK {
		t.Fatalf("preempt: HTTP %d", code)
	}
	if len(pre.NodeNameToMetaVictims) != 1 || pre.NodeNameToMetaVictims["gpu-a"] == nil || pre.NodeNameToMetaVictims["gpu-a"].Pods[0].UID != "v1" {
		t.Errorf("preempt answered %+v; want gpu-a with its victim, cpu-b (no GPUs) dropped", pre.NodeNameToMetaVictims)
	}
	var br extenderv1.ExtenderBindingResult
	bind := extenderv1.ExtenderBindingArgs{PodName: p.Name, PodNamespace: p.Namespace, PodUID: p.UID, Node: "gpu-a"}
	if code := post(t, h, "/bind", bind, &br); code != http.StatusOK || br.Error != "" {
		t.Errorf("bind: HTTP %d, %+v", code, br)
	}
	// Binding it again fails, in the result.
	if code := post(t, h, "/bind", bind, &br); code != http.StatusOK || !strings.Contains(br.Error, "already bound") {
		t.Errorf("second bind: HTTP %d, %+v", code, br)
	}
	if code := post(t, h, "/prioritize", "not an ExtenderArgs", nil); code != http.StatusInternalServerError {
		t.Errorf("malformed prioritize: HTTP %d, want 500", code)
	}

	for _, c := range []struct {
		verb, result string
		want         float64
	}{
		{VerbFilter, ResultSuccess, 1}, {VerbPrioritize, ResultSuccess, 1}, {VerbPrioritize, ResultError, 1},
		{VerbPreempt, ResultSuccess, 1}, {VerbBind, ResultSuccess, 1}, {VerbBind, ResultError, 1},
	} {
		if got := testutil.ToFloat64(x.metrics.Requests.WithLabelValues(c.verb, c.result)); got != c.want {
			t.Errorf("berth_extender_requests_total{verb=%q,result=%q} = %v, want %v", c.verb, c.result, got, c.want)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "berth_extender_assumed_pods"); err != nil || n != 1 {
		t.Errorf("berth_extender_assumed_pods: %d series, %v", n, err)
	}
}

// TestNotReady: before the cache has synced every verb fails, so
// kube-scheduler never places a pod on a partial view.
func TestNotReady(t *testing.T) {
	p := sharePod("s", "500")
	x, _ := newTestExtender(t, []*v1.Node{gpuNode("gpu-a", 1)}, p)
	x.notReady.Store(true)
	h := x.Handler()
	var fr extenderv1.ExtenderFilterResult
	if code := post(t, h, "/filter", extenderv1.ExtenderArgs{Pod: p, NodeNames: names("gpu-a")}, &fr); code != http.StatusOK || !strings.Contains(fr.Error, "not synced") {
		t.Errorf("filter: HTTP %d, %+v", code, fr)
	}
	var br extenderv1.ExtenderBindingResult
	if code := post(t, h, "/bind", extenderv1.ExtenderBindingArgs{PodName: p.Name, PodNamespace: p.Namespace, Node: "gpu-a"}, &br); code != http.StatusOK || !strings.Contains(br.Error, "not synced") {
		t.Errorf("bind: HTTP %d, %+v", code, br)
	}
	if code := post(t, h, "/prioritize", extenderv1.ExtenderArgs{Pod: p, NodeNames: names("gpu-a")}, nil); code != http.StatusInternalServerError {
		t.Errorf("prioritize: HTTP %d, want 500", code)
	}
	if _, err := x.ev.Cache().GetPod(p); err == nil {
		t.Errorf("the pod was placed in the cache by a verb before sync")
	}
}
