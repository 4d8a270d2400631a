package deploy

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/plugins"
)

// pluginModeKinds are the objects of kube-scheduler-berth besides the
// namespace, in deploy/plugin-mode and in the chart with
// pluginMode.enabled.
var pluginModeKinds = map[string]int{"ServiceAccount": 1, "ClusterRole": 1, "ClusterRoleBinding": 3, "Role": 1, "RoleBinding": 2, "ConfigMap": 1, "Deployment": 1}

// TestPluginModeKustomize renders deploy/plugin-mode and checks it (see
// checkPluginMode).
func TestPluginModeKustomize(t *testing.T) {
	objs := renderKustomizeAt(t, "deploy/plugin-mode")
	checkKinds(t, objs, pluginModeKinds)
	checkPluginMode(t, objs, "kube-scheduler-berth", "berth:plugin-mode", "kube-scheduler-berth-config")
	dryRunAll(t, objs)
}

// TestPluginModeHelm renders the chart with pluginMode.enabled: the
// objects of deploy/plugin-mode with the same berth ClusterRole rules;
// without it, none of them.
func TestPluginModeHelm(t *testing.T) {
	objs, pm := chartComponent(t, "pluginMode.enabled", "plugin-mode")
	checkKinds(t, pm, pluginModeKinds)
	checkPluginMode(t, pm, "berth-kube-scheduler", "berth-kube-scheduler:berth-plugins", "berth-kube-scheduler-config")
	sameRules(t, objs, "berth-kube-scheduler:berth-plugins", "deploy/plugin-mode", "berth:plugin-mode")
	notSelectedByBerth(t, objs, "berth-kube-scheduler")
}

// checkPluginMode asserts what a second kube-scheduler with berth's
// plugins needs: kube-scheduler's own roles bound, berth's additions
// (the GPU annotation) without wildcards or secrets, a Role for exactly
// its own Lease, a configuration whose berth-plugins profile enables
// GPUShare with args berth's loader accepts (the decoding
// kube-scheduler-berth uses), and HTTPS probes on its serving port.
func checkPluginMode(t *testing.T, objs []*unstructured.Unstructured, name, role, configMap string) {
	t.Helper()
	var bound []string
	for _, o := range objs {
		if o.GetKind() == "ClusterRoleBinding" {
			var b rbacv1.ClusterRoleBinding
			fromUnstructured(t, o, &b)
			bound = append(bound, b.RoleRef.Name)
			if len(b.Subjects) != 1 || b.Subjects[0].Name != name {
				t.Errorf("ClusterRoleBinding %s binds %+v, want the ServiceAccount %s", b.Name, b.Subjects, name)
			}
		}
	}
	for _, want := range []string{"system:kube-scheduler", "system:volume-scheduler", role} {
		if !slices.Contains(bound, want) {
			t.Errorf("ClusterRoles bound %v lack %s", bound, want)
		}
	}
	var cr rbacv1.ClusterRole
	fromUnstructured(t, find(t, objs, "ClusterRole", role), &cr)
	patches := false
	for _, r := range cr.Rules {
		for _, s := range append(append(append([]string{}, r.Verbs...), r.Resources...), r.APIGroups...) {
			if s == "*" || s == "secrets" {
				t.Errorf("ClusterRole %s rule %+v has %q", role, r, s)
			}
		}
		patches = patches || (slices.Contains(r.Resources, "pods") && slices.Contains(r.Verbs, "patch"))
	}
	if !patches {
		t.Errorf("ClusterRole %s cannot patch pods (GPUShare's assignment annotation)", role)
	}

	var cm v1.ConfigMap
	fromUnstructured(t, find(t, objs, "ConfigMap", configMap), &cm)
	cfg, err := config.Load([]byte(cm.Data["config.yaml"]), plugins.NewInTreeRegistry())
	if err != nil {
		t.Fatalf("ConfigMap %s: %v", configMap, err)
	}
	if len(cfg.Profiles) != 1 || cfg.Profiles[0].SchedulerName != "berth-plugins" || cfg.Profiles[0].PluginArgs["GPUShare"] == nil {
		t.Errorf("ConfigMap %s: want one profile berth-plugins with GPUShare's args, got %+v", configMap, cfg.Profiles)
	}
	le := cfg.LeaderElection
	if !le.LeaderElect || le.ResourceNamespace != berthNamespace || le.ResourceName == "" {
		t.Errorf("leaderElection %+v: want a lease of its own in %s", le, berthNamespace)
	}
	for _, o := range objs {
		if o.GetKind() != "Role" {
			continue
		}
		var r rbacv1.Role
		fromUnstructured(t, o, &r)
		if r.Namespace != le.ResourceNamespace || len(r.Rules) != 2 || !slices.Equal(r.Rules[1].ResourceNames, []string{le.ResourceName}) {
			t.Errorf("Role %s/%s rules %+v: want updates of lease %s/%s only", r.Namespace, r.Name, r.Rules, le.ResourceNamespace, le.ResourceName)
		}
	}

	var d appsv1.Deployment
	fromUnstructured(t, find(t, objs, "Deployment", name), &d)
	ps := d.Spec.Template.Spec
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 || ps.ServiceAccountName != name {
		t.Errorf("Deployment %s: replicas %v serviceAccount %q, want 2 and %s", name, d.Spec.Replicas, ps.ServiceAccountName, name)
	}
	c := ps.Containers[0]
	args := strings.Join(c.Args, " ")
	if !strings.Contains(args, "--config=/etc/kube-scheduler-berth/config.yaml") || !strings.Contains(c.Image, "kube-scheduler-berth") {
		t.Errorf("container image %s args %q", c.Image, args)
	}
	for _, p := range []*v1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Scheme != v1.URISchemeHTTPS {
			t.Errorf("probe %+v: want HTTPS on kube-scheduler's port", p)
		}
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("container securityContext %+v: want a read-only root", sc)
	}
}
