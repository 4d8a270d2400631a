package deploy

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/plugins"
)

// extenderKinds are the objects of berth extender besides the namespace,
// in deploy/extender and in the chart with extender.enabled.
var extenderKinds = map[string]int{"ServiceAccount": 1, "ClusterRole": 1, "ClusterRoleBinding": 1, "ConfigMap": 1, "Service": 1, "Deployment": 1}

// TestExtenderKustomize renders deploy/extender and checks it (see
// checkExtender).
func TestExtenderKustomize(t *testing.T) {
	objs := renderKustomizeAt(t, "deploy/extender")
	checkKinds(t, objs, extenderKinds)
	checkExtender(t, objs, "berth-extender", "berth:extender", "berth-extender-config")
}

// TestExtenderHelm renders the chart with extender.enabled: the objects of
// deploy/extender with the same ClusterRole rules; without it, none of
// them.
func TestExtenderHelm(t *testing.T) {
	objs, ext := chartComponent(t, "extender.enabled", "extender")
	checkKinds(t, ext, extenderKinds)
	checkExtender(t, objs, "berth-extender", "berth:extender", "berth-extender-config")
	sameRules(t, objs, "berth:extender", "deploy/extender", "berth:extender")
	notSelectedByBerth(t, objs, "berth-extender")
}

func checkKinds(t *testing.T, objs []*unstructured.Unstructured, want map[string]int) {
	t.Helper()
	got := map[string]int{}
	for _, o := range objs {
		if o.GetKind() != "Namespace" {
			got[o.GetKind()]++
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("objects by kind %v, want %v", got, want)
	}
}

// checkExtender asserts what the extender's design needs: one replica,
// never two at once (Recreate); probes on its serving port; a Service that
// selects its pods; a berth configuration that loads; and RBAC that binds
// but cannot evict (kube-scheduler preempts), touch secrets or use
// wildcards.
func checkExtender(t *testing.T, objs []*unstructured.Unstructured, name, role, configMap string) {
	t.Helper()
	var d appsv1.Deployment
	fromUnstructured(t, find(t, objs, "Deployment", name), &d)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("Deployment %s: replicas %v strategy %q, want 1 and Recreate", name, d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Args[0] != "extender" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe == nil {
		t.Errorf("container %s: args %v probes %+v %+v", c.Name, c.Args, c.ReadinessProbe, c.LivenessProbe)
	}
	var svc v1.Service
	fromUnstructured(t, find(t, objs, "Service", name), &svc)
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("Service %s selects %v, not the extender's pods %v", name, svc.Spec.Selector, d.Spec.Template.Labels)
	}
	var cm v1.ConfigMap
	fromUnstructured(t, find(t, objs, "ConfigMap", configMap), &cm)
	cfg, err := config.Load([]byte(cm.Data["config.yaml"]), plugins.NewInTreeRegistry())
	if err != nil {
		t.Fatalf("ConfigMap %s: %v", configMap, err)
	}
	if cfg.LeaderElection.LeaderElect {
		t.Errorf("ConfigMap %s enables leader election; the extender runs one replica without it", configMap)
	}
	var cr rbacv1.ClusterRole
	fromUnstructured(t, find(t, objs, "ClusterRole", role), &cr)
	binds := false
	for _, r := range cr.Rules {
		for _, s := range append(append(append([]string{}, r.Verbs...), r.Resources...), r.APIGroups...) {
			if s == "*" || s == "secrets" {
				t.Errorf("ClusterRole %s rule %+v has %q", role, r, s)
			}
		}
		for _, res := range r.Resources {
			for _, v := range r.Verbs {
				if res == "pods" && v == "delete" {
					t.Errorf("ClusterRole %s may delete pods; kube-scheduler evicts, not the extender", role)
				}
				binds = binds || (res == "pods/binding" && v == "create")
			}
		}
	}
	if !binds {
		t.Errorf("ClusterRole %s cannot create pods/binding", role)
	}
}
