package gang

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/berthsched/berth/internal/testenv"
	volcanov1beta1 "github.com/berthsched/berth/pkg/apis/volcano/v1beta1"
	xv1alpha1 "github.com/berthsched/berth/pkg/apis/xscheduling/v1alpha1"
)

// TestRBACWritesGroupStatus installs berth's ServiceAccount and
// ClusterRole from deploy/ and makes, with the ServiceAccount's token, the
// writes GangScheduling makes: a merge patch of a scheduler-plugins
// group's status subresource and of a Volcano group itself (its CRD has
// no status subresource). It also checks that the spec of a
// scheduler-plugins group stays out of reach and that groups cannot be
// created or deleted.
func TestRBACWritesGroupStatus(t *testing.T) {
	ctx := context.Background()
	installCRDs(t)
	admin := dynamicClient(t)
	installBerthRBAC(t, admin)
	sa := serviceAccountClient(t, "berth-system", "berth")

	ns := testenv.Current().CreateNamespace(t, "gang-rbac")
	x := toUnstructured(t, &xv1alpha1.PodGroup{TypeMeta: typeMeta(xv1alpha1.PodGroupKind), ObjectMeta: metav1.ObjectMeta{Name: "x"}, Spec: xv1alpha1.PodGroupSpec{MinMember: 2}})
	vc := toUnstructured(t, &volcanov1beta1.PodGroup{TypeMeta: typeMeta(volcanov1beta1.PodGroupKind), ObjectMeta: metav1.ObjectMeta{Name: "v"}, Spec: volcanov1beta1.PodGroupSpec{MinMember: 2}})
	if err := create(admin.Resource(xv1alpha1.PodGroupResource).Namespace(ns), x); err != nil {
		t.Fatal(err)
	}
	if err := create(admin.Resource(volcanov1beta1.PodGroupResource).Namespace(ns), vc); err != nil {
		t.Fatal(err)
	}
	xs := sa.Resource(xv1alpha1.PodGroupResource).Namespace(ns)
	vs := sa.Resource(volcanov1beta1.PodGroupResource).Namespace(ns)

	// The role may take a moment to reach the authorizer's cache.
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 15*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := xs.List(ctx, metav1.ListOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("berth's ServiceAccount cannot list scheduler-plugins PodGroups: %v", err)
	}
	for _, r := range []schema.GroupVersionResource{volcanov1beta1.PodGroupResource, xv1alpha1.PodGroupResource} {
		if _, err := sa.Resource(r).List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("listing %s cluster-wide as berth: %v", r.GroupResource(), err)
		}
	}

	patch := func(ri dynamic.ResourceInterface, name, body string, sub ...string) error {
		_, err := ri.Patch(ctx, name, types.MergePatchType, []byte(body), metav1.PatchOptions{}, sub...)
		return err
	}
	if err := patch(xs, "x", fmt.Sprintf(`{"status":{"phase":%q}}`, xv1alpha1.PodGroupScheduling), "status"); err != nil {
		t.Errorf("patching a scheduler-plugins group's status as berth: %v", err)
	}
	if err := patch(vs, "v", fmt.Sprintf(`{"status":{"phase":%q,"running":1}}`, volcanov1beta1.PodGroupRunning)); err != nil {
		t.Errorf("patching a Volcano group's status (the object itself) as berth: %v", err)
	}
	got, err := admin.Resource(volcanov1beta1.PodGroupResource).Namespace(ns).Get(ctx, "v", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if phase, _, _ := unstructured.NestedString(got.Object, "status", "phase"); phase != string(volcanov1beta1.PodGroupRunning) {
		t.Errorf("Volcano group phase %q after berth's patch, want Running", phase)
	}

	if err := patch(xs, "x", `{"spec":{"minMember":1}}`); !apierrors.IsForbidden(err) {
		t.Errorf("patching a scheduler-plugins group's spec as berth: %v, want Forbidden", err)
	}
	if err := create(xs, toUnstructured(t, &xv1alpha1.PodGroup{TypeMeta: typeMeta(xv1alpha1.PodGroupKind), ObjectMeta: metav1.ObjectMeta{Name: "new"}})); !apierrors.IsForbidden(err) {
		t.Errorf("creating a PodGroup as berth: %v, want Forbidden", err)
	}
	if err := vs.Delete(ctx, "v", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("deleting a Volcano PodGroup as berth: %v, want Forbidden", err)
	}
}

// rbacResources maps the kinds of deploy/ this test installs to their
// resources.
var rbacResources = map[string]schema.GroupVersionResource{
	"Namespace":          {Version: "v1", Resource: "namespaces"},
	"ServiceAccount":     {Version: "v1", Resource: "serviceaccounts"},
	"ClusterRole":        {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
	"ClusterRoleBinding": {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
}

// installBerthRBAC applies the Namespace, ServiceAccount, ClusterRoles and
// ClusterRoleBindings of the kustomize base deploy/.
func installBerthRBAC(t *testing.T, dyn dynamic.Interface) {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(repoRoot(t), "deploy"))
	if err != nil {
		t.Fatalf("kustomize build deploy/: %v", err)
	}
	for _, r := range rm.Resources() {
		m, err := r.Map()
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{Object: m}
		gvr, ok := rbacResources[u.GetKind()]
		if !ok {
			continue
		}
		data, err := u.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(gvr)
		if u.GetNamespace() != "" {
			ri = dyn.Resource(gvr).Namespace(u.GetNamespace())
		}
		_, err = ri.Patch(context.Background(), u.GetName(), types.ApplyPatchType, data,
			metav1.PatchOptions{FieldManager: "berth-gang-test", Force: ptr.To(true)})
		if err != nil {
			t.Fatalf("applying %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
}

// serviceAccountClient is a dynamic client that authenticates with a
// short-lived token of the ServiceAccount and nothing else.
func serviceAccountClient(t *testing.T, ns, name string) dynamic.Interface {
	t.Helper()
	env := testenv.Current()
	tr, err := env.Client.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", ns, name, err)
	}
	cfg := rest.AnonymousClientConfig(env.Config)
	cfg.BearerToken = tr.Status.Token
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dyn
}
