package deploy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/berthsched/berth/internal/testenv"
)

// The fake DRA driver publishes the devices that the RBAC test allocates.
func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{DRA: true}) }

// berthNamespace is where the manifests install berth.
const berthNamespace = "berth-system"

// repoRoot is the directory of the main module's go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for ; ; dir = filepath.Dir(dir) {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/berthsched/berth\n")) {
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("cannot find the repository root")
		}
	}
}

// renderKustomize builds deploy/ like `kubectl kustomize deploy/`.
func renderKustomize(t testing.TB) []*unstructured.Unstructured {
	t.Helper()
	return renderKustomizeAt(t, "deploy")
}

// renderKustomizeAt builds the kustomization in dir (relative to the
// repository root).
func renderKustomizeAt(t testing.TB, dir string) []*unstructured.Unstructured {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(repoRoot(t), dir))
	if err != nil {
		t.Fatalf("kustomize build %s/: %v", dir, err)
	}
	out, err := rm.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return decodeYAML(t, out)
}

// decodeYAML splits a multi-document YAML stream into objects.
func decodeYAML(t testing.TB, data []byte) []*unstructured.Unstructured {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading YAML: %v", err)
		}
		if len(strings.TrimSpace(string(doc))) == 0 {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := utilyaml.Unmarshal(doc, &u.Object); err != nil {
			t.Fatalf("decoding %s: %v", doc, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		objs = append(objs, u)
	}
	if len(objs) == 0 {
		t.Fatal("no objects rendered")
	}
	return objs
}

func describe(u *unstructured.Unstructured) string {
	if ns := u.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s %s/%s", u.GetKind(), ns, u.GetName())
	}
	return fmt.Sprintf("%s %s", u.GetKind(), u.GetName())
}

// applier applies objects with server-side apply, as
// `kubectl apply --server-side` does.
type applier struct {
	dyn    dynamic.Interface
	mapper meta.RESTMapper
}

func newApplier(t testing.TB) *applier {
	t.Helper()
	env := testenv.Current()
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(env.Client.Discovery()))
	return &applier{dyn: dyn, mapper: mapper}
}

// apply applies u; dryRun asks the server to validate, default and admit
// the object without persisting it.
func (a *applier) apply(ctx context.Context, u *unstructured.Unstructured, dryRun bool) error {
	gvk := u.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("%s: no REST mapping: %w", describe(u), err)
	}
	data, err := u.MarshalJSON()
	if err != nil {
		return err
	}
	var ri dynamic.ResourceInterface = a.dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		if u.GetNamespace() == "" {
			return fmt.Errorf("%s: namespaced object without a namespace", describe(u))
		}
		ri = a.dyn.Resource(m.Resource).Namespace(u.GetNamespace())
	}
	force := true
	opts := metav1.PatchOptions{FieldManager: "berth-deploy-test", Force: &force}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if _, err := ri.Patch(ctx, u.GetName(), types.ApplyPatchType, data, opts); err != nil {
		return fmt.Errorf("%s: %w", describe(u), err)
	}
	return nil
}

// ensureBerthNamespace creates berth-system for real, enforcing the
// restricted Pod Security Standard as deploy/namespace.yaml does: a
// dry-run of the namespaced objects needs their namespace to exist.
func ensureBerthNamespace(t testing.TB) {
	t.Helper()
	err := newApplier(t).apply(context.Background(), &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{
			"name":   berthNamespace,
			"labels": map[string]any{"pod-security.kubernetes.io/enforce": "restricted"},
		},
	}}, false)
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// dryRunAll applies every object with dry-run and fails the test for each
// rejection.
func dryRunAll(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	ensureBerthNamespace(t)
	a := newApplier(t)
	for _, u := range objs {
		if err := a.apply(context.Background(), u, true); err != nil {
			t.Errorf("server-side dry-run rejected %v", err)
		}
	}
	// A Deployment is admitted whatever its pod template says; a pod of
	// that template must pass admission too (Pod Security "restricted",
	// ServiceAccount, priority class). The pod's ServiceAccount must exist
	// for that, so it is created for real.
	for _, u := range objs {
		if u.GetKind() == "ServiceAccount" {
			if err := a.apply(context.Background(), u, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, u := range objs {
		if u.GetKind() != "Deployment" {
			continue
		}
		tmpl, _, _ := unstructured.NestedMap(u.Object, "spec", "template")
		pod := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Pod",
			"metadata": map[string]any{"name": u.GetName() + "-admission-check", "namespace": u.GetNamespace(), "labels": tmpl["metadata"].(map[string]any)["labels"]},
			"spec":     tmpl["spec"],
		}}
		if err := a.apply(context.Background(), pod, true); err != nil {
			t.Errorf("a pod of the Deployment's template is not admitted: %v", err)
		}
	}
}

// kinds counts the rendered objects per kind.
func kinds(objs []*unstructured.Unstructured) map[string]int {
	m := map[string]int{}
	for _, u := range objs {
		m[u.GetKind()]++
	}
	return m
}

// find returns the object of kind and name, or fails the test.
func find(t testing.TB, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, u := range objs {
		if u.GetKind() == kind && u.GetName() == name {
			return u
		}
	}
	t.Fatalf("no %s %s in the rendered manifests", kind, name)
	return nil
}
