package crds

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// CRDResource addresses CustomResourceDefinitions through the dynamic
// client: the main module does not depend on k8s.io/apiextensions-apiserver,
// whose typed client would pull in the API server's own packages.
var CRDResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// ApplyCRDs builds the kustomization in root/deploy/crds, applies every
// CustomResourceDefinition it renders server-side as fieldManager (as
// `kubectl apply --server-side -k deploy/crds` does) and waits until the
// API server has accepted their names and established them. It returns
// the CRDs' names in the order rendered; anything but a CRD is an error.
// The tests and the demo install berth's CRDs this way, before berth
// starts (berth reads only the APIs served at startup).
func ApplyCRDs(ctx context.Context, dyn dynamic.Interface, root, fieldManager string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(root, "deploy", "crds"))
	if err != nil {
		return nil, fmt.Errorf("kustomize build deploy/crds: %w", err)
	}
	var names []string
	for _, r := range rm.Resources() {
		m, err := r.Map()
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() != "CustomResourceDefinition" {
			return nil, fmt.Errorf("deploy/crds renders a %s %s", u.GetKind(), u.GetName())
		}
		data, err := u.MarshalJSON()
		if err != nil {
			return nil, err
		}
		_, err = dyn.Resource(CRDResource).Patch(ctx, u.GetName(), types.ApplyPatchType, data,
			metav1.PatchOptions{FieldManager: fieldManager, Force: ptr.To(true)})
		if err != nil {
			return nil, fmt.Errorf("applying CRD %s: %w", u.GetName(), err)
		}
		names = append(names, u.GetName())
	}
	for _, name := range names {
		var conds []any
		err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			crd, err := dyn.Resource(CRDResource).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			conds, _, _ = unstructured.NestedSlice(crd.Object, "status", "conditions")
			return conditionTrue(conds, "NamesAccepted") && conditionTrue(conds, "Established"), nil
		})
		if err != nil {
			return nil, fmt.Errorf("CRD %s not established (conditions %v): %w", name, conds, err)
		}
	}
	return names, nil
}

// conditionTrue reports whether an unstructured condition list has typ
// with status True.
func conditionTrue(conds []any, typ string) bool {
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == typ && m["status"] == "True" {
			return true
		}
	}
	return false
}
