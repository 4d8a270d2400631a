package deploy

import (
	"path/filepath"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

// chartComponent lints and renders the chart with enable (a value such as
// "extender.enabled") set to true and returns everything rendered and the
// objects labelled app.kubernetes.io/component=component. It fails t if
// the chart renders any such object with enable left false.
func chartComponent(t *testing.T, enable, component string) (all, comp []*unstructured.Unstructured) {
	t.Helper()
	chart := filepath.Join(repoRoot(t), "charts", "berth")
	helm(t, "lint", "--strict", chart, "--set", enable+"=true")
	all = decodeYAML(t, helm(t, "template", "berth", chart, "--namespace", berthNamespace, "--set", enable+"=true"))
	for _, o := range all {
		if o.GetLabels()["app.kubernetes.io/component"] == component {
			comp = append(comp, o)
		}
	}
	for _, o := range decodeYAML(t, helm(t, "template", "berth", chart, "--namespace", berthNamespace)) {
		if o.GetLabels()["app.kubernetes.io/component"] == component {
			t.Errorf("%s=false renders %s %s", enable, o.GetKind(), o.GetName())
		}
	}
	return all, comp
}

// sameRules checks that the chart's ClusterRole chartRole has the rules
// of the ClusterRole kRole of the kustomization in dir.
func sameRules(t *testing.T, chartObjs []*unstructured.Unstructured, chartRole, dir, kRole string) {
	t.Helper()
	var hr, dr rbacv1.ClusterRole
	fromUnstructured(t, find(t, chartObjs, "ClusterRole", chartRole), &hr)
	fromUnstructured(t, find(t, renderKustomizeAt(t, dir), "ClusterRole", kRole), &dr)
	if !reflect.DeepEqual(hr.Rules, dr.Rules) {
		t.Errorf("chart rules %+v differ from %s rules %+v", hr.Rules, dir, dr.Rules)
	}
}

// notSelectedByBerth checks that berth's own Deployment does not select
// the pods of the Deployment name.
func notSelectedByBerth(t *testing.T, objs []*unstructured.Unstructured, name string) {
	t.Helper()
	var berth, x appsv1.Deployment
	fromUnstructured(t, find(t, objs, "Deployment", "berth"), &berth)
	fromUnstructured(t, find(t, objs, "Deployment", name), &x)
	if sel := labels.SelectorFromSet(berth.Spec.Selector.MatchLabels); sel.Matches(labels.Set(x.Spec.Template.Labels)) {
		t.Errorf("berth's selector %s matches the pods of %s %v", sel, name, x.Spec.Template.Labels)
	}
}
