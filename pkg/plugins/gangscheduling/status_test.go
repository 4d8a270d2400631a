package gangscheduling

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	schedv1beta1 "k8s.io/api/scheduling/v1beta1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/berthsched/berth/internal/st"
	volcanov1beta1 "github.com/berthsched/berth/pkg/apis/volcano/v1beta1"
	xv1alpha1 "github.com/berthsched/berth/pkg/apis/xscheduling/v1alpha1"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/placement/gang"
)

// request is one write the API server received.
type request struct {
	Method, Path, ContentType string
	Body                      []byte
}

// apiServer is an httptest API server: it answers discovery for the
// podgroups resources and records every other request (answering 200).
// A fake clientset's discovery has no REST client, so the status writer
// needs a real one to write at all.
type apiServer struct {
	srv    *httptest.Server
	served map[string]*metav1.APIResourceList
	mu     sync.Mutex
	writes []request
}

func newAPIServer(t *testing.T) *apiServer {
	t.Helper()
	s := &apiServer{served: map[string]*metav1.APIResourceList{}}
	for _, l := range discovery(allGVRs...) {
		s.served["/apis/"+l.GroupVersion] = l
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *apiServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodGet {
		if l := s.served[r.URL.Path]; l != nil {
			_ = json.NewEncoder(w).Encode(l)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound})
		return
	}
	s.mu.Lock()
	s.writes = append(s.writes, request{Method: r.Method, Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"), Body: body})
	s.mu.Unlock()
	_, _ = w.Write([]byte(`{}`))
}

func (s *apiServer) received() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.writes...)
}

func (s *apiServer) clientset(t *testing.T) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: s.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// waitWrites waits until the server has received n writes and returns
// them.
func (s *apiServer) waitWrites(t *testing.T, n int) []request {
	t.Helper()
	waitFor(t, "a status write", func() bool { return len(s.received()) >= n })
	return s.received()
}

// report is the engine's report of an attempt for pod's group.
func (f *fixture) report(t *testing.T, pod *v1.Pod, outcome framework.GroupOutcome, scheduled int, msg string) framework.GroupReport {
	t.Helper()
	g, st := f.pl.PodGroup(pod)
	if st != nil || g == nil {
		t.Fatalf("PodGroup = %v, %v", g, st)
	}
	return framework.GroupReport{Group: g, Outcome: outcome, Placed: scheduled, Scheduled: scheduled, Message: msg}
}

// processNow does what a status worker does with r, on the test's
// goroutine, so that the test knows when the write (if any) is done.
func (f *fixture) processNow(t *testing.T, r framework.GroupReport) {
	t.Helper()
	w := f.pl.status
	w.mu.Lock()
	w.latest[r.Group.Key] = r
	w.mu.Unlock()
	if err := w.process(r.Group.Key); err != nil {
		t.Fatalf("process: %v", err)
	}
}

// events drains the events recorded so far.
func (f *fixture) events() []string { return st.Events(f.rec) }

func (f *fixture) waitEvent(t *testing.T) string {
	t.Helper()
	select {
	case e := <-f.rec.Events:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for an event")
		return ""
	}
}

// applyStatus does to the group object what the API server does with a
// merge patch of its status, and waits until the plugin's informer has
// it.
func (f *fixture) applyStatus(t *testing.T, gvr schema.GroupVersionResource, name string, body []byte) {
	t.Helper()
	var patch map[string]any
	if err := utiljson.Unmarshal(body, &patch); err != nil {
		t.Fatal(err)
	}
	u, err := f.dyn.Resource(gvr).Namespace(ns).Get(f.ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	status, _, _ := unstructured.NestedMap(u.Object, "status")
	if status == nil {
		status = map[string]any{}
	}
	for k, v := range patch["status"].(map[string]any) {
		status[k] = v
	}
	u.Object["status"] = status
	if _, err := f.dyn.Resource(gvr).Namespace(ns).Update(f.ctx, u, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	want := u.Object["status"]
	waitFor(t, "the informer to see the status", func() bool {
		src := f.pl.sources[gang.API(gvr.Group)]
		obj, err := src.lister.ByNamespace(ns).Get(name)
		if err != nil {
			return false
		}
		return reflect.DeepEqual(obj.(*unstructured.Unstructured).Object["status"], want)
	})
}

func withStatus(u *unstructured.Unstructured, status map[string]any) *unstructured.Unstructured {
	u.Object["status"] = status
	return u
}

// TestSchedulerPluginsStatus: a report leads, through the status
// workers, to a merge patch of the group's status subresource with the
// phase and counts scheduler-plugins' controller would derive from the
// members, and the scheduleStartTime nobody set yet.
func TestSchedulerPluginsStatus(t *testing.T) {
	srv := newAPIServer(t)
	pods := []*v1.Pod{
		spPod("a", "train").Node("n1").Phase(v1.PodRunning).Obj(),
		spPod("b", "train").Node("n2").Phase(v1.PodPending).Obj(),
		spPod("c", "train").Obj(),
		spPod("d", "train").Node("n1").Phase(v1.PodFailed).Obj(),
		// not members
		spPod("x", "other").Node("n1").Phase(v1.PodRunning).Obj(),
		spPod("y", "train").Namespace("elsewhere").Node("n1").Phase(v1.PodRunning).Obj(),
	}
	f := newFixture(t, options{pods: pods, groups: []*unstructured.Unstructured{spGroup("train", 3)}, client: srv.clientset(t)})
	before := time.Now().Add(-time.Second) // RFC 3339 drops the fraction
	f.pl.ReportGroup(f.ctx, f.report(t, pods[2], framework.GroupPlaced, 3, "placed 3 of 3 members"))
	writes := srv.waitWrites(t, 1)
	after := time.Now()
	w := writes[0]
	if w.Method != http.MethodPatch || w.Path != "/apis/scheduling.x-k8s.io/v1alpha1/namespaces/default/podgroups/train/status" {
		t.Fatalf("write = %s %s, want PATCH of the status subresource", w.Method, w.Path)
	}
	if w.ContentType != "application/merge-patch+json" {
		t.Errorf("content type = %q, want a JSON merge patch", w.ContentType)
	}
	var raw map[string]map[string]any
	if err := json.Unmarshal(w.Body, &raw); err != nil {
		t.Fatalf("body %s: %v", w.Body, err)
	}
	if len(raw) != 1 || raw["status"] == nil {
		t.Errorf("body %s touches more than the status", w.Body)
	}
	var got struct{ Status xv1alpha1.PodGroupStatus }
	if err := json.Unmarshal(w.Body, &got); err != nil {
		t.Fatal(err)
	}
	// Members: a, b, c (d failed); 1 running, 1 failed, none succeeded:
	// minMember 3 exist, fewer than 3 run, and failed+running+succeeded
	// is 2 < 3: Scheduling.
	if got.Status.Phase != xv1alpha1.PodGroupScheduling {
		t.Errorf("phase = %q, want Scheduling", got.Status.Phase)
	}
	if got.Status.Running != 1 || got.Status.Succeeded != 0 || got.Status.Failed != 1 {
		t.Errorf("counts running %d succeeded %d failed %d, want 1 0 1", got.Status.Running, got.Status.Succeeded, got.Status.Failed)
	}
	if _, ok := raw["status"]["succeeded"]; !ok {
		t.Errorf("body %s leaves out succeeded: a stale count would stay", w.Body)
	}
	if st := got.Status.ScheduleStartTime.Time; st.Before(before) || st.After(after) {
		t.Errorf("scheduleStartTime = %v, want between %v and %v", st, before, after)
	}
	if e := f.waitEvent(t); e != "Normal Scheduled placed 3 of 3 members" {
		t.Errorf("event = %q", e)
	}
}

// TestSchedulerPluginsStatusOnlyWhenChanged: a group whose status
// already says what the members give is not written again, and a set
// scheduleStartTime is kept.
func TestSchedulerPluginsStatusOnlyWhenChanged(t *testing.T) {
	srv := newAPIServer(t)
	var pods []*v1.Pod
	for _, g := range []string{"done", "stale"} {
		pods = append(pods,
			spPod(g+"-a", g).Node("n1").Phase(v1.PodSucceeded).Obj(),
			spPod(g+"-b", g).Node("n1").Phase(v1.PodSucceeded).Obj(),
			spPod(g+"-c", g).Node("n2").Phase(v1.PodRunning).Obj())
	}
	start := "2026-01-02T03:04:05Z"
	groups := []*unstructured.Unstructured{
		// Two of minimum 2 succeeded: Finished, 1 running, 2 succeeded.
		withStatus(spGroup("done", 2), map[string]any{"phase": "Finished", "running": int64(1), "succeeded": int64(2), "failed": int64(0), "scheduleStartTime": start}),
		withStatus(spGroup("stale", 2), map[string]any{"phase": "Running", "running": int64(3), "scheduleStartTime": start}),
	}
	f := newFixture(t, options{pods: pods, groups: groups, client: srv.clientset(t)})

	f.processNow(t, f.report(t, pods[0], framework.GroupBound, 2, "bound"))
	if w := srv.received(); len(w) != 0 {
		t.Fatalf("unchanged status written: %s %s", w[0].Path, w[0].Body)
	}

	f.processNow(t, f.report(t, pods[3], framework.GroupBound, 2, "bound"))
	w := srv.received()
	if len(w) != 1 || w[0].Path != "/apis/scheduling.x-k8s.io/v1alpha1/namespaces/default/podgroups/stale/status" {
		t.Fatalf("writes = %+v, want one PATCH of stale's status", w)
	}
	var raw map[string]map[string]any
	if err := json.Unmarshal(w[0].Body, &raw); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"phase": "Finished", "running": float64(1), "succeeded": float64(2), "failed": float64(0)}
	if diff := cmp.Diff(want, raw["status"]); diff != "" {
		t.Errorf("status patch (-want +got):\n%s", diff)
	}
}

// TestStatusUpdatesOff: with updateStatus false the group still gets its
// events, and nothing is written.
func TestStatusUpdatesOff(t *testing.T) {
	srv := newAPIServer(t)
	off := false
	pod := spPod("a", "g").Obj()
	f := newFixture(t, options{pods: []*v1.Pod{pod}, groups: []*unstructured.Unstructured{spGroup("g", 1)},
		client: srv.clientset(t), args: &Args{UpdateStatus: &off}})
	f.processNow(t, f.report(t, pod, framework.GroupUnschedulable, 0, "no room"))
	if w := srv.received(); len(w) != 0 {
		t.Errorf("status written with updateStatus off: %+v", w)
	}
	if diff := cmp.Diff([]string{"Warning Unschedulable no room"}, f.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func upstreamCondition(t *testing.T, body []byte) (metav1.Condition, []metav1.Condition) {
	t.Helper()
	var got struct{ Status schedv1beta1.PodGroupStatus }
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	c := apimeta.FindStatusCondition(got.Status.Conditions, schedv1beta1.PodGroupInitiallyScheduled)
	if c == nil {
		t.Fatalf("no %s condition in %s", schedv1beta1.PodGroupInitiallyScheduled, body)
	}
	return *c, got.Status.Conditions
}

// TestUpstreamStatus: Kubernetes' PodGroupInitiallyScheduled condition
// goes False with the reason of each failure, True once placed, and
// never back to False.
func TestUpstreamStatus(t *testing.T) {
	srv := newAPIServer(t)
	pods := []*v1.Pod{upPod("a", "ug").Obj(), upPod("b", "ug").Obj()}
	ug := upGang("ug", 2)
	ug.SetGeneration(4)
	// Another condition, which the patch (a merge patch replaces lists
	// whole) must carry along.
	withStatus(ug, map[string]any{"conditions": []any{map[string]any{
		"type": "DisruptionTarget", "status": "False", "reason": "Nothing", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z",
	}}})
	f := newFixture(t, options{pods: pods, groups: []*unstructured.Unstructured{ug}, client: srv.clientset(t)})
	const path = "/apis/scheduling.k8s.io/v1beta1/namespaces/default/podgroups/ug/status"

	// Unschedulable: False/Unschedulable.
	f.pl.ReportGroup(f.ctx, f.report(t, pods[0], framework.GroupUnschedulable, 0, "0/3 nodes fit"))
	w := srv.waitWrites(t, 1)[0]
	if w.Method != http.MethodPatch || w.Path != path || w.ContentType != "application/merge-patch+json" {
		t.Fatalf("write = %s %s (%s)", w.Method, w.Path, w.ContentType)
	}
	c, all := upstreamCondition(t, w.Body)
	if c.Status != metav1.ConditionFalse || c.Reason != schedv1beta1.PodGroupReasonUnschedulable || c.Message != "0/3 nodes fit" || c.ObservedGeneration != 4 {
		t.Errorf("condition = %+v, want False/Unschedulable, the message, generation 4", c)
	}
	if c.LastTransitionTime.IsZero() {
		t.Error("condition without lastTransitionTime")
	}
	if len(all) != 2 || apimeta.FindStatusCondition(all, "DisruptionTarget") == nil {
		t.Errorf("conditions = %+v, want the DisruptionTarget condition kept", all)
	}
	if e := f.waitEvent(t); e != "Warning Unschedulable 0/3 nodes fit" {
		t.Errorf("event = %q", e)
	}
	f.applyStatus(t, upGVR, "ug", w.Body)

	// The same report again: nothing changes, nothing is written or told.
	f.processNow(t, f.report(t, pods[0], framework.GroupUnschedulable, 0, "0/3 nodes fit"))
	if n := len(srv.received()); n != 1 {
		t.Errorf("%d writes after an identical report, want still 1", n)
	}
	if ev := f.events(); len(ev) != 0 {
		t.Errorf("events after an identical report: %q", ev)
	}

	// Error: False/SchedulerError.
	f.processNow(t, f.report(t, pods[0], framework.GroupError, 0, "internal error"))
	writes := srv.received()
	if len(writes) != 2 {
		t.Fatalf("%d writes, want 2", len(writes))
	}
	c, _ = upstreamCondition(t, writes[1].Body)
	if c.Status != metav1.ConditionFalse || c.Reason != schedv1beta1.PodGroupReasonSchedulerError || c.Message != "internal error" {
		t.Errorf("condition = %+v, want False/SchedulerError", c)
	}
	f.applyStatus(t, upGVR, "ug", writes[1].Body)

	// Placed: True/Scheduled.
	f.pl.ReportGroup(f.ctx, f.report(t, pods[0], framework.GroupPlaced, 2, "placed 2 of 2"))
	w = srv.waitWrites(t, 3)[2]
	if w.Path != path {
		t.Fatalf("write to %s", w.Path)
	}
	c, all = upstreamCondition(t, w.Body)
	if c.Status != metav1.ConditionTrue || c.Reason != "Scheduled" || c.Message != "placed 2 of 2" || c.ObservedGeneration != 4 {
		t.Errorf("condition = %+v, want True/Scheduled", c)
	}
	if len(all) != 2 {
		t.Errorf("conditions = %+v, want 2", all)
	}
	f.applyStatus(t, upGVR, "ug", w.Body)
	f.events()

	// Later failures do not revert it: no write at all, but the event
	// still says what happened.
	f.processNow(t, f.report(t, pods[0], framework.GroupUnschedulable, 0, "a node went away"))
	f.processNow(t, f.report(t, pods[0], framework.GroupError, 0, "oops"))
	if n := len(srv.received()); n != 3 {
		t.Errorf("%d writes after the group was scheduled, want still 3: %s", n, srv.received()[n-1].Body)
	}
	if diff := cmp.Diff([]string{"Warning Unschedulable a node went away", "Warning SchedulerError oops"}, f.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestUpstreamBoundIsScheduled: a Bound report sets the condition True
// too.
func TestUpstreamBoundIsScheduled(t *testing.T) {
	srv := newAPIServer(t)
	pod := upPod("a", "ug").Obj()
	f := newFixture(t, options{pods: []*v1.Pod{pod}, groups: []*unstructured.Unstructured{upGang("ug", 1)}, client: srv.clientset(t)})
	f.processNow(t, f.report(t, pod, framework.GroupBound, 1, "bound 1"))
	w := srv.received()
	if len(w) != 1 {
		t.Fatalf("%d writes, want 1", len(w))
	}
	if c, _ := upstreamCondition(t, w[0].Body); c.Status != metav1.ConditionTrue || c.Reason != "Scheduled" {
		t.Errorf("condition = %+v, want True/Scheduled", c)
	}
}

// TestVolcanoStatus: Volcano's CRD has no status subresource, so the
// object itself is patched, with its phase, counts and condition.
func TestVolcanoStatus(t *testing.T) {
	srv := newAPIServer(t)
	pods := []*v1.Pod{vcPod("a", "vg").Obj(), vcPod("b", "vg").Obj(), vcPod("c", "vg").Obj()}
	f := newFixture(t, options{pods: pods, groups: []*unstructured.Unstructured{vcGroup("vg", 2)}, client: srv.clientset(t)})
	const path = "/apis/scheduling.volcano.sh/v1beta1/namespaces/default/podgroups/vg"
	decode := func(body []byte) volcanov1beta1.PodGroupStatus {
		t.Helper()
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(body, &raw); err != nil {
			t.Fatal(err)
		}
		if len(raw) != 1 || raw["status"] == nil {
			t.Errorf("body %s patches more than the status of the object", body)
		}
		var got struct{ Status volcanov1beta1.PodGroupStatus }
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		return got.Status
	}

	// Placed: the engine reserved 2 (the pods are not bound yet): the
	// minimum is allocated, which Volcano's scheduler calls Running
	// (before any container starts); condition Scheduled.
	f.pl.ReportGroup(f.ctx, f.report(t, pods[0], framework.GroupPlaced, 2, "placed 2 of 2"))
	w := srv.waitWrites(t, 1)[0]
	if w.Method != http.MethodPatch || w.Path != path {
		t.Fatalf("write = %s %s, want PATCH of the object (no /status)", w.Method, w.Path)
	}
	if w.ContentType != "application/merge-patch+json" {
		t.Errorf("content type = %q", w.ContentType)
	}
	s := decode(w.Body)
	if s.Phase != volcanov1beta1.PodGroupRunning {
		t.Errorf("phase = %q, want Running", s.Phase)
	}
	if len(s.Conditions) != 1 {
		t.Fatalf("conditions = %+v", s.Conditions)
	}
	c := s.Conditions[0]
	if c.Type != volcanov1beta1.PodGroupConditionScheduled || c.Status != v1.ConditionTrue || c.Reason != "Placed" || c.Message != "placed 2 of 2" || c.LastTransitionTime.IsZero() {
		t.Errorf("condition = %+v, want Scheduled True", c)
	}
	if s.Running != 0 || s.Succeeded != 0 || s.Failed != 0 {
		t.Errorf("counts = %d %d %d", s.Running, s.Succeeded, s.Failed)
	}
	if e := f.waitEvent(t); e != "Normal Scheduled placed 2 of 2" {
		t.Errorf("event = %q", e)
	}

	// Unschedulable: nothing placed: Pending, condition Unschedulable.
	f.processNow(t, f.report(t, pods[0], framework.GroupUnschedulable, 0, "no room"))
	writes := srv.received()
	if len(writes) != 2 || writes[1].Path != path {
		t.Fatalf("writes = %d, want 2 to %s", len(writes), path)
	}
	s = decode(writes[1].Body)
	if s.Phase != volcanov1beta1.PodGroupPending || len(s.Conditions) != 1 {
		t.Fatalf("status = %+v, want Pending with one condition", s)
	}
	c = s.Conditions[0]
	if c.Type != volcanov1beta1.PodGroupConditionUnschedulable || c.Status != v1.ConditionTrue || c.Reason != "Unschedulable" || c.Message != "no room" {
		t.Errorf("condition = %+v, want Unschedulable True", c)
	}
}

// TestVolcanoStatusCountsBoundMembers: members bound (and running) count
// even when the report says fewer.
func TestVolcanoStatusCountsBoundMembers(t *testing.T) {
	srv := newAPIServer(t)
	pods := []*v1.Pod{
		vcPod("a", "vg").Node("n1").Phase(v1.PodRunning).Obj(),
		vcPod("b", "vg").Node("n2").Phase(v1.PodRunning).Obj(),
		vcPod("c", "vg").Node("n2").Phase(v1.PodFailed).Obj(),
	}
	f := newFixture(t, options{pods: pods, groups: []*unstructured.Unstructured{vcGroup("vg", 2)}, client: srv.clientset(t)})
	f.processNow(t, f.report(t, pods[0], framework.GroupBound, 0, "bound"))
	w := srv.received()
	if len(w) != 1 {
		t.Fatalf("%d writes", len(w))
	}
	var got struct{ Status volcanov1beta1.PodGroupStatus }
	if err := json.Unmarshal(w[0].Body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != volcanov1beta1.PodGroupRunning || got.Status.Running != 2 || got.Status.Failed != 1 {
		t.Errorf("status = %+v, want Running with 2 running and 1 failed", got.Status)
	}
}

// TestEventsDeduplicated: a group is told each outcome once, however
// many attempts end the same way; a change (or a return to an earlier
// outcome) is told again.
func TestEventsDeduplicated(t *testing.T) {
	pa, pb := spPod("a", "g").Obj(), spPod("b", "h").Obj()
	f := newFixture(t, options{pods: []*v1.Pod{pa, pb}, groups: []*unstructured.Unstructured{spGroup("g", 1), spGroup("h", 1)}})
	steps := []struct {
		pod     *v1.Pod
		outcome framework.GroupOutcome
		msg     string
		want    []string
	}{
		{pa, framework.GroupUnschedulable, "0/3 nodes", []string{"Warning Unschedulable 0/3 nodes"}},
		{pa, framework.GroupUnschedulable, "0/3 nodes", nil},
		{pa, framework.GroupUnschedulable, "0/3 nodes", nil},
		// Another group's identical report is its own.
		{pb, framework.GroupUnschedulable, "0/3 nodes", []string{"Warning Unschedulable 0/3 nodes"}},
		{pa, framework.GroupUnschedulable, "0/4 nodes", []string{"Warning Unschedulable 0/4 nodes"}},
		{pa, framework.GroupUnschedulable, "0/3 nodes", []string{"Warning Unschedulable 0/3 nodes"}},
		{pa, framework.GroupWaiting, "0/3 nodes", []string{"Normal Waiting 0/3 nodes"}},
		{pa, framework.GroupPlaced, "placed 1", []string{"Normal Scheduled placed 1"}},
		{pa, framework.GroupPlaced, "placed 1", nil},
		{pa, framework.GroupBound, "bound 1", []string{"Normal Bound bound 1"}},
		{pa, framework.GroupError, "boom", []string{"Warning SchedulerError boom"}},
		{pa, framework.GroupError, "boom", nil},
		// The message is not a format.
		{pa, framework.GroupUnschedulable, "100% full", []string{"Warning Unschedulable 100% full"}},
	}
	for i, s := range steps {
		f.processNow(t, f.report(t, s.pod, s.outcome, 0, s.msg))
		if diff := cmp.Diff(s.want, f.events()); diff != "" {
			t.Errorf("step %d (%s %q): events (-want +got):\n%s", i, s.outcome, s.msg, diff)
		}
	}
}

// TestEventsAsync: the same deduplication through ReportGroup and the
// workers.
func TestEventsAsync(t *testing.T) {
	pod := spPod("a", "g").Obj()
	f := newFixture(t, options{pods: []*v1.Pod{pod}, groups: []*unstructured.Unstructured{spGroup("g", 1)}})
	f.rec.Verbose = true
	f.pl.ReportGroup(f.ctx, f.report(t, pod, framework.GroupUnschedulable, 0, "first"))
	// The event is on the PodGroup object.
	if e := f.waitEvent(t); e != "Warning Unschedulable Scheduling first {kind=PodGroup,apiVersion=scheduling.x-k8s.io/v1alpha1}" {
		t.Errorf("event = %q", e)
	}
	f.pl.ReportGroup(f.ctx, f.report(t, pod, framework.GroupPlaced, 1, "second"))
	if e := f.waitEvent(t); !strings.HasPrefix(e, "Normal Scheduled Scheduling second") {
		t.Errorf("event = %q", e)
	}
}

// TestScheduleTimeoutEvent: a group unplaced past its
// scheduleTimeoutSeconds is told so once.
func TestScheduleTimeoutEvent(t *testing.T) {
	old := metav1.NewTime(time.Now().Add(-time.Hour))
	mk := func(name string, created metav1.Time) *unstructured.Unstructured {
		u := group(gang.SchedulerPlugins, ns, name, map[string]any{"minMember": int64(1), "scheduleTimeoutSeconds": int64(60)})
		u.SetCreationTimestamp(created)
		return u
	}
	pods := []*v1.Pod{spPod("late", "late").Obj(), spPod("fresh", "fresh").Obj(), spPod("waiting", "waiting").Obj(), spPod("placed", "placed").Obj(), spPod("nolimit", "nolimit").Obj()}
	groups := []*unstructured.Unstructured{
		mk("late", old), mk("fresh", metav1.Now()), mk("waiting", old), mk("placed", old),
		withCreation(spGroup("nolimit", 1), old),
	}
	f := newFixture(t, options{pods: pods, groups: groups})
	const timeout = "Warning ScheduleTimeout not placed within scheduleTimeoutSeconds (1m0s); berth keeps trying: "

	f.processNow(t, f.report(t, pods[0], framework.GroupUnschedulable, 0, "u1"))
	if diff := cmp.Diff([]string{timeout + "u1", "Warning Unschedulable u1"}, f.events()); diff != "" {
		t.Errorf("first late report (-want +got):\n%s", diff)
	}
	f.processNow(t, f.report(t, pods[0], framework.GroupUnschedulable, 0, "u2"))
	if diff := cmp.Diff([]string{"Warning Unschedulable u2"}, f.events()); diff != "" {
		t.Errorf("second late report (-want +got):\n%s", diff)
	}
	f.processNow(t, f.report(t, pods[1], framework.GroupUnschedulable, 0, "u"))
	if diff := cmp.Diff([]string{"Warning Unschedulable u"}, f.events()); diff != "" {
		t.Errorf("group within its timeout (-want +got):\n%s", diff)
	}
	f.processNow(t, f.report(t, pods[2], framework.GroupWaiting, 0, "w"))
	if diff := cmp.Diff([]string{timeout + "w", "Normal Waiting w"}, f.events()); diff != "" {
		t.Errorf("late waiting group (-want +got):\n%s", diff)
	}
	f.processNow(t, f.report(t, pods[3], framework.GroupPlaced, 1, "p"))
	if diff := cmp.Diff([]string{"Normal Scheduled p"}, f.events()); diff != "" {
		t.Errorf("late but placed group (-want +got):\n%s", diff)
	}
	f.processNow(t, f.report(t, pods[4], framework.GroupUnschedulable, 0, "n"))
	if diff := cmp.Diff([]string{"Warning Unschedulable n"}, f.events()); diff != "" {
		t.Errorf("group without timeout (-want +got):\n%s", diff)
	}
}

func withCreation(u *unstructured.Unstructured, t metav1.Time) *unstructured.Unstructured {
	u.SetCreationTimestamp(t)
	return u
}

// TestReportOfDeletedGroup: a group deleted before its report is
// processed gets no event and no write.
func TestReportOfDeletedGroup(t *testing.T) {
	srv := newAPIServer(t)
	f := newFixture(t, options{client: srv.clientset(t)})
	g := &framework.PodGroup{Key: gang.Key(gang.SchedulerPlugins, ns, "gone"), API: string(gang.SchedulerPlugins), Namespace: ns, Name: "gone", MinMember: 2}
	f.processNow(t, framework.GroupReport{Group: g, Outcome: framework.GroupUnschedulable, Message: "x"})
	if ev := f.events(); len(ev) != 0 {
		t.Errorf("events for a deleted group: %q", ev)
	}
	if w := srv.received(); len(w) != 0 {
		t.Errorf("writes for a deleted group: %+v", w)
	}
}

// TestFakeClientsetSkipsStatus: with a fake clientset (its discovery has
// no REST client) status writing is skipped without error, and events
// still flow.
func TestFakeClientsetSkipsStatus(t *testing.T) {
	pod := upPod("a", "ug").Obj()
	f := newFixture(t, options{pods: []*v1.Pod{pod}, groups: []*unstructured.Unstructured{upGang("ug", 1)}})
	f.processNow(t, f.report(t, pod, framework.GroupPlaced, 1, "placed"))
	if diff := cmp.Diff([]string{"Normal Scheduled placed"}, f.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	for _, a := range f.cs.Actions() {
		if a.GetVerb() == "patch" || a.GetVerb() == "update" {
			t.Errorf("unexpected write through the fake clientset: %v", a)
		}
	}
}

// TestStatusFollowsMemberChanges: after berth reported on a group, a
// member failing or being deleted rewrites the group's status from the
// pods as they now are, without a new report (and without repeating the
// report's event); a group berth never reported on is left alone.
func TestStatusFollowsMemberChanges(t *testing.T) {
	srv := newAPIServer(t)
	pods := []*v1.Pod{
		spPod("a", "g").Node("n1").Phase(v1.PodRunning).Obj(),
		spPod("b", "g").Node("n2").Phase(v1.PodRunning).Obj(),
		spPod("h1", "h").Node("n1").Phase(v1.PodRunning).Obj(),
	}
	f := newFixture(t, options{pods: pods, groups: []*unstructured.Unstructured{spGroup("g", 2), spGroup("h", 1)}, client: srv.clientset(t)})
	const path = "/apis/scheduling.x-k8s.io/v1alpha1/namespaces/default/podgroups/g/status"
	statusOf := func(w request) map[string]any {
		t.Helper()
		if w.Path != path {
			t.Fatalf("write to %s, want %s", w.Path, path)
		}
		var raw map[string]map[string]any
		if err := json.Unmarshal(w.Body, &raw); err != nil {
			t.Fatal(err)
		}
		return raw["status"]
	}
	setPhase := func(name string, phase v1.PodPhase) {
		t.Helper()
		p, err := f.cs.CoreV1().Pods(ns).Get(f.ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Phase = phase
		if _, err := f.cs.CoreV1().Pods(ns).UpdateStatus(f.ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	f.pl.ReportGroup(f.ctx, f.report(t, pods[0], framework.GroupBound, 2, "bound 2"))
	w := srv.waitWrites(t, 1)
	if s := statusOf(w[0]); s["phase"] != "Running" || s["running"] != float64(2) {
		t.Fatalf("first status %v, want Running with 2 running", s)
	}
	f.applyStatus(t, spGVR, "g", w[0].Body)

	// b fails: a runs, b failed; failed+running reach 2 while running
	// alone does not: Failed.
	setPhase("b", v1.PodFailed)
	w = srv.waitWrites(t, 2)
	s := statusOf(w[1])
	want := map[string]any{"phase": "Failed", "running": float64(1), "succeeded": float64(0), "failed": float64(1)}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("status after b failed (-want +got):\n%s", diff)
	}
	f.applyStatus(t, spGVR, "g", w[1].Body)

	// h was never reported on: its pod's changes write nothing.
	setPhase("h1", v1.PodSucceeded)
	// a is deleted: only the failed b is left: fewer than 2 exist.
	if err := f.cs.CoreV1().Pods(ns).Delete(f.ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	w = srv.waitWrites(t, 3)
	want = map[string]any{"phase": "Pending", "running": float64(0), "succeeded": float64(0), "failed": float64(1)}
	if diff := cmp.Diff(want, statusOf(w[2])); diff != "" {
		t.Errorf("status after a was deleted (-want +got):\n%s", diff)
	}
	time.Sleep(200 * time.Millisecond) // let a stray write of h show
	for _, w := range srv.received() {
		if w.Path != path {
			t.Errorf("write to %s: %s", w.Path, w.Body)
		}
	}
	if diff := cmp.Diff([]string{"Normal Bound bound 2"}, f.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestDeletedGroupForgotten: what the status writer keeps about a group
// (its last report and event) and its cached conversion go when the
// PodGroup is deleted, so that a cluster creating groups all day does not
// grow berth's memory.
func TestDeletedGroupForgotten(t *testing.T) {
	pod := upPod("a", "ug").Obj()
	f := newFixture(t, options{pods: []*v1.Pod{pod}, groups: []*unstructured.Unstructured{upGang("ug", 1)}})
	r := f.report(t, pod, framework.GroupPlaced, 1, "placed")
	f.processNow(t, r)
	w := f.pl.status
	known := func() bool {
		w.mu.Lock()
		_, a := w.latest[r.Group.Key]
		_, b := w.told[r.Group.Key]
		w.mu.Unlock()
		f.pl.convMu.Lock()
		_, c := f.pl.conv[r.Group.Key]
		f.pl.convMu.Unlock()
		return a || b || c
	}
	if !known() {
		t.Fatal("the writer kept nothing about the group it reported on")
	}
	if err := f.dyn.Resource(upGVR).Namespace(ns).Delete(f.ctx, "ug", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted group to be forgotten", func() bool { return !known() })
}
