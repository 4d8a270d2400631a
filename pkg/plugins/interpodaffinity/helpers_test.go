package interpodaffinity

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

const zoneKey = "topology.kubernetes.io/zone"

func namespace(name string, kv ...string) *v1.Namespace {
	ns := &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	for i := 0; i+1 < len(kv); i += 2 {
		ns.Labels[kv[i]] = kv[i+1]
	}
	return ns
}

// defaultNamespaces are the namespaces every test cluster has.
func defaultNamespaces() []*v1.Namespace {
	return []*v1.Namespace{
		namespace("default", "kubernetes.io/metadata.name", "default"),
		namespace("team-a", "team", "a", "kubernetes.io/metadata.name", "team-a"),
		namespace("team-b", "team", "b", "kubernetes.io/metadata.name", "team-b"),
	}
}

// newTestPlugin builds the plugin over a snapshot of pods and nodes with
// the namespace informer started and synced.
func newTestPlugin(t testing.TB, args *configv1.InterPodAffinityArgs, pods []*v1.Pod, nodes []*v1.Node) (*InterPodAffinity, *st.Snapshot) {
	t.Helper()
	snap := st.NewSnapshot(pods, nodes)
	var objs []runtime.Object
	for _, ns := range defaultNamespaces() {
		objs = append(objs, ns)
	}
	h := st.NewHandle(snap, objs...)
	var obj runtime.Object
	if args != nil {
		obj = args
	}
	p, err := New(context.Background(), obj, h)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h.Informers.Start(ctx.Done())
	for typ, ok := range h.Informers.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("informer for %v did not sync", typ)
		}
	}
	return p.(*InterPodAffinity), snap
}

func zoneNode(name, zone string) *v1.Node {
	return st.MakeNode().Name(name).Label(zoneKey, zone).Obj()
}

// filterAll runs PreFilter and then Filter on every node, returning the
// PreFilter status and the Filter statuses by node name (absent when the
// node passed).
func filterAll(t *testing.T, pl *InterPodAffinity, snap *st.Snapshot, pod *v1.Pod) (*framework.Status, map[string]*framework.Status) {
	t.Helper()
	ctx := context.Background()
	state := framework.NewCycleState()
	_, status := pl.PreFilter(ctx, state, pod, snap.List())
	if !status.IsSuccess() {
		return status, nil
	}
	got := map[string]*framework.Status{}
	for _, ni := range snap.List() {
		if s := pl.Filter(ctx, state, pod, ni); !s.IsSuccess() {
			got[ni.Node().Name] = s
		}
	}
	return nil, got
}

func int32p(v int32) *int32 { return &v }
