package gang

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/crds"
	"github.com/berthsched/berth/internal/testenv"
	volcanov1beta1 "github.com/berthsched/berth/pkg/apis/volcano/v1beta1"
	xv1alpha1 "github.com/berthsched/berth/pkg/apis/xscheduling/v1alpha1"
)

// crdResource addresses CustomResourceDefinitions through the dynamic
// client.
var crdResource = crds.CRDResource

// cmpOpts compares quantities and times by value.
var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 }),
	cmp.Comparer(func(a, b metav1.Time) bool { return a.Equal(&b) }),
}

// TestCRDsInstall installs deploy/crds and checks the CRDs the API server
// accepted: names, scope, version and whether status is a subresource.
func TestCRDsInstall(t *testing.T) {
	dyn := dynamicClient(t)
	installCRDs(t)
	for name, want := range map[string]struct {
		kind   string
		status bool
	}{
		"podgroups.scheduling.x-k8s.io":   {"PodGroup", true},
		"podgroups.scheduling.volcano.sh": {"PodGroup", false}, // as Volcano's own CRD
		// NetworkAware's, as scheduler-plugins ships them.
		"appgroups.appgroup.diktyo.x-k8s.io":                {"AppGroup", false},
		"networktopologies.networktopology.diktyo.x-k8s.io": {"NetworkTopology", false},
	} {
		wantStatus := want.status
		crd, err := dyn.Resource(crdResource).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		scope, _, _ := unstructured.NestedString(crd.Object, "spec", "scope")
		kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
		if scope != "Namespaced" || kind != want.kind {
			t.Errorf("%s: scope %q kind %q, want Namespaced %s", name, scope, kind, want.kind)
		}
		versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
		if len(versions) != 1 {
			t.Fatalf("%s: %d versions, want 1", name, len(versions))
		}
		_, hasStatus, _ := unstructured.NestedMap(versions[0].(map[string]any), "subresources", "status")
		if hasStatus != wantStatus {
			t.Errorf("%s: status subresource %v, want %v", name, hasStatus, wantStatus)
		}
	}
}

// TestChartCRDsAreDeployCRDs keeps the chart's crds/ (Helm cannot read
// files outside the chart) identical to deploy/crds.
func TestChartCRDsAreDeployCRDs(t *testing.T) {
	root := repoRoot(t)
	deployDir, chartDir := filepath.Join(root, "deploy", "crds"), filepath.Join(root, "charts", "berth", "crds")
	yamls := func(dir string) []string {
		m, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range m {
			if filepath.Base(p) != "kustomization.yaml" {
				names = append(names, filepath.Base(p))
			}
		}
		return names
	}
	d, c := yamls(deployDir), yamls(chartDir)
	if !slices.Equal(d, c) || len(d) != 4 {
		t.Fatalf("deploy/crds has %v, charts/berth/crds has %v; want the same four files", d, c)
	}
	for _, name := range d {
		a, errA := os.ReadFile(filepath.Join(deployDir, name))
		b, errB := os.ReadFile(filepath.Join(chartDir, name))
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("charts/berth/crds/%s differs from deploy/crds/%s", name, name)
		}
	}
}

// TestSchedulerPluginsPodGroup writes a scheduler-plugins PodGroup from
// berth's Go type, reads it back into it, and writes its status through
// the status subresource, as a gang scheduler does.
func TestSchedulerPluginsPodGroup(t *testing.T) {
	ctx := context.Background()
	installCRDs(t)
	ns := testenv.Current().CreateNamespace(t, "gang-x")
	pgs := dynamicClient(t).Resource(xv1alpha1.PodGroupResource).Namespace(ns)

	pg := &xv1alpha1.PodGroup{
		TypeMeta:   typeMeta(xv1alpha1.PodGroupKind),
		ObjectMeta: metav1.ObjectMeta{Name: "trainer", Labels: map[string]string{"team": "vision"}},
		Spec: xv1alpha1.PodGroupSpec{
			MinMember: 3,
			MinResources: v1.ResourceList{
				v1.ResourceCPU:    resource.MustParse("6"),
				v1.ResourceMemory: resource.MustParse("12Gi"),
				"nvidia.com/gpu":  resource.MustParse("3"),
			},
			ScheduleTimeoutSeconds: ptr.To[int32](90),
		},
		// Dropped on create: status is a subresource.
		Status: xv1alpha1.PodGroupStatus{Phase: xv1alpha1.PodGroupRunning, Running: 3},
	}
	if err := create(pgs, toUnstructured(t, pg)); err != nil {
		t.Fatalf("creating the PodGroup: %v", err)
	}
	var got xv1alpha1.PodGroup
	fromUnstructured(t, get(t, pgs, pg.Name), &got)
	if diff := cmp.Diff(pg.Spec, got.Spec, cmpOpts); diff != "" {
		t.Errorf("spec read back differs (-sent +read):\n%s", diff)
	}
	if diff := cmp.Diff(xv1alpha1.PodGroupStatus{}, got.Status, cmpOpts); diff != "" {
		t.Errorf("status set on create was kept (-want +got):\n%s", diff)
	}

	// Update the status; the spec change in the same object is ignored.
	want := xv1alpha1.PodGroupStatus{
		Phase:             xv1alpha1.PodGroupScheduling,
		OccupiedBy:        ns + "/trainer",
		Running:           1,
		Succeeded:         1,
		Failed:            1,
		ScheduleStartTime: metav1.NewTime(time.Now().Truncate(time.Second)),
	}
	got.Status = want
	got.Spec.MinMember = 99
	if _, err := pgs.UpdateStatus(ctx, toUnstructured(t, &got), metav1.UpdateOptions{}); err != nil {
		t.Fatalf("updating the status: %v", err)
	}
	// And a merge patch of the status subresource, the other verb berth
	// is granted.
	patch := fmt.Sprintf(`{"status":{"phase":%q,"running":3}}`, xv1alpha1.PodGroupRunning)
	if _, err := pgs.Patch(ctx, pg.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "status"); err != nil {
		t.Fatalf("patching the status: %v", err)
	}
	want.Phase, want.Running = xv1alpha1.PodGroupRunning, 3
	var after xv1alpha1.PodGroup
	fromUnstructured(t, get(t, pgs, pg.Name), &after)
	if diff := cmp.Diff(want, after.Status, cmpOpts); diff != "" {
		t.Errorf("status read back differs (-want +got):\n%s", diff)
	}
	if after.Spec.MinMember != 3 {
		t.Errorf("spec.minMember = %d after a status update that changed it, want 3", after.Spec.MinMember)
	}

	// The list decodes into the list type.
	l, err := pgs.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var list xv1alpha1.PodGroupList
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(l.UnstructuredContent(), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != pg.Name || list.Items[0].Spec.MinMember != 3 {
		t.Errorf("listed %+v, want the one PodGroup", list.Items)
	}

	// The CRD validates what the type cannot: a gang of fewer than one
	// and a malformed quantity.
	for name, spec := range map[string]map[string]any{
		"negative":     {"minMember": int64(-1)},
		"bad-quantity": {"minMember": int64(1), "minResources": map[string]any{"cpu": "lots"}},
	} {
		bad := toUnstructured(t, &xv1alpha1.PodGroup{TypeMeta: typeMeta(xv1alpha1.PodGroupKind), ObjectMeta: metav1.ObjectMeta{Name: name}})
		bad.Object["spec"] = spec
		if err := create(pgs, bad); !apierrors.IsInvalid(err) {
			t.Errorf("creating PodGroup %s: %v, want Invalid", name, err)
		}
	}
}

// TestVolcanoPodGroup writes a Volcano PodGroup from berth's Go type,
// reads it back into it, and writes its status as Volcano does: with the
// whole object, Volcano's CRD having no status subresource. Fields berth's
// type does not model survive, both in the CRD and in the way the status
// is written.
func TestVolcanoPodGroup(t *testing.T) {
	ctx := context.Background()
	installCRDs(t)
	ns := testenv.Current().CreateNamespace(t, "gang-volcano")
	pgs := dynamicClient(t).Resource(volcanov1beta1.PodGroupResource).Namespace(ns)

	minRes := v1.ResourceList{v1.ResourceCPU: resource.MustParse("10"), v1.ResourceMemory: resource.MustParse("40Gi")}
	pg := &volcanov1beta1.PodGroup{
		TypeMeta:   typeMeta(volcanov1beta1.PodGroupKind),
		ObjectMeta: metav1.ObjectMeta{Name: "mpi"},
		Spec: volcanov1beta1.PodGroupSpec{
			MinMember:         5,
			MinTaskMember:     map[string]int32{"launcher": 1, "worker": 4},
			PriorityClassName: "batch-high",
			MinResources:      &minRes,
		},
	}
	u := toUnstructured(t, pg)
	// A field of Volcano's that berth's type leaves out.
	topology := map[string]any{"mode": "hard", "highestTierAllowed": int64(2)}
	if err := unstructured.SetNestedMap(u.Object, topology, "spec", "networkTopology"); err != nil {
		t.Fatal(err)
	}
	if err := create(pgs, u); err != nil {
		t.Fatalf("creating the PodGroup: %v", err)
	}
	read := get(t, pgs, pg.Name)
	var got volcanov1beta1.PodGroup
	fromUnstructured(t, read, &got)
	want := pg.Spec
	want.Queue = volcanov1beta1.DefaultQueue // defaulted by the CRD
	if diff := cmp.Diff(want, got.Spec, cmpOpts); diff != "" {
		t.Errorf("spec read back differs (-want +got):\n%s", diff)
	}
	if nt, _, _ := unstructured.NestedMap(read.Object, "spec", "networkTopology"); !cmp.Equal(nt, topology) {
		t.Errorf("spec.networkTopology = %v, want %v kept", nt, topology)
	}

	// No status subresource, as in Volcano.
	if _, err := pgs.UpdateStatus(ctx, read, metav1.UpdateOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("updating podgroups/status: %v, want NotFound (Volcano's CRD has no status subresource)", err)
	}
	// Write the status into the object as read, not from the typed value,
	// which would drop networkTopology.
	status := volcanov1beta1.PodGroupStatus{
		Phase: volcanov1beta1.PodGroupInqueue,
		Conditions: []volcanov1beta1.PodGroupCondition{{
			Type:               volcanov1beta1.PodGroupConditionUnschedulable,
			Status:             v1.ConditionTrue,
			TransitionID:       "session-1",
			LastTransitionTime: metav1.NewTime(time.Now().Truncate(time.Second)),
			Reason:             "NotEnoughResources",
			Message:            "4/5 tasks in gang unschedulable",
		}},
		Running: 1,
	}
	sm, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&status)
	if err != nil {
		t.Fatal(err)
	}
	read.Object["status"] = sm
	if _, err := pgs.Update(ctx, read, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("updating the PodGroup's status: %v", err)
	}
	read = get(t, pgs, pg.Name)
	var after volcanov1beta1.PodGroup
	fromUnstructured(t, read, &after)
	if diff := cmp.Diff(status, after.Status, cmpOpts); diff != "" {
		t.Errorf("status read back differs (-want +got):\n%s", diff)
	}
	if nt, _, _ := unstructured.NestedMap(read.Object, "spec", "networkTopology"); !cmp.Equal(nt, topology) {
		t.Errorf("spec.networkTopology = %v after the status update, want %v kept", nt, topology)
	}

	// Volcano's CRD allows only its five phases.
	if err := unstructured.SetNestedField(read.Object, "Scheduling", "status", "phase"); err != nil {
		t.Fatal(err)
	}
	if _, err := pgs.Update(ctx, read, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("setting status.phase Scheduling: %v, want Invalid", err)
	}
}

var (
	installOnce sync.Once
	installErr  error
)

// installCRDs applies the kustomization in deploy/crds (as
// `kubectl apply --server-side -k deploy/crds` does) once per test binary
// and waits until the API server serves all four CRDs (the two PodGroups,
// AppGroup and NetworkTopology).
func installCRDs(t testing.TB) {
	t.Helper()
	installOnce.Do(func() { installErr = install(repoRoot(t), dynamicClient(t)) })
	if installErr != nil {
		t.Fatal(installErr)
	}
}

func install(root string, dyn dynamic.Interface) error {
	names, err := crds.ApplyCRDs(context.Background(), dyn, root, "berth-gang-test")
	if err != nil {
		return err
	}
	if len(names) != 4 {
		return fmt.Errorf("deploy/crds renders %v, want four CRDs", names)
	}
	return nil
}

// create creates a PodGroup. Right after a CRD is established the API
// server's handler for it may not serve it yet for a moment, so NotFound
// is retried briefly; any other answer, including Invalid, is returned.
func create(ri dynamic.ResourceInterface, u *unstructured.Unstructured) error {
	var err error
	_ = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err = ri.Create(ctx, u, metav1.CreateOptions{})
		return !apierrors.IsNotFound(err), nil
	})
	return err
}

// get reads a PodGroup.
func get(t *testing.T, ri dynamic.ResourceInterface, name string) *unstructured.Unstructured {
	t.Helper()
	u, err := ri.Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading PodGroup %s: %v", name, err)
	}
	return u
}

func dynamicClient(t testing.TB) dynamic.Interface {
	t.Helper()
	dyn, err := dynamic.NewForConfig(testenv.Current().Config)
	if err != nil {
		t.Fatal(err)
	}
	return dyn
}

func typeMeta(gvk schema.GroupVersionKind) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind}
}

func toUnstructured(t testing.TB, obj runtime.Object) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

func fromUnstructured(t testing.TB, u *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
		t.Fatalf("decoding %s %s: %v", u.GetKind(), u.GetName(), err)
	}
}

// repoRoot is the directory of the main module's go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for ; ; dir = filepath.Dir(dir) {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/berthsched/berth\n") {
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("cannot find the repository root")
		}
	}
}
