package deploy

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/plugins"
)

// helmcheckDir is the module of the command that lints and renders the
// chart with Helm's library packages (hack/helmcheck/doc.go says why not
// the Helm CLI).
const helmcheckDir = "hack/helmcheck"

func TestKustomizeBase(t *testing.T) {
	objs := renderKustomize(t)
	want := map[string]int{
		"Namespace": 1, "ServiceAccount": 1, "ClusterRole": 3, "ClusterRoleBinding": 2,
		"Role": 1, "RoleBinding": 2, "ConfigMap": 1, "Deployment": 1,
		"PodDisruptionBudget": 1, "Service": 1,
	}
	if got := kinds(objs); !equalCounts(got, want) {
		t.Errorf("rendered kinds = %v, want %v", got, want)
	}
	checkManifests(t, objs, "berth", "berth-config")
	dryRunAll(t, objs)
}

func TestHelmChart(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: building hack/helmcheck (Helm's chart packages) takes a minute the first time")
	}
	chart := filepath.Join(repoRoot(t), "charts", "berth")
	start := time.Now()
	lint := helm(t, "lint", "--strict", chart)
	t.Logf("helm lint (%s, including building helmcheck if not cached):\n%s", time.Since(start).Round(time.Second), lint)

	out := helm(t, "template", "berth", chart, "--namespace", berthNamespace)
	objs := decodeYAML(t, out)
	want := map[string]int{
		"ServiceAccount": 1, "ClusterRole": 3, "ClusterRoleBinding": 2,
		"Role": 1, "RoleBinding": 2, "ConfigMap": 1, "Deployment": 1,
		"PodDisruptionBudget": 1, "Service": 1,
	}
	if got := kinds(objs); !equalCounts(got, want) {
		t.Errorf("rendered kinds = %v, want %v (the namespace comes from helm install --create-namespace)", got, want)
	}
	checkManifests(t, objs, "berth", "berth-config")
	dryRunAll(t, objs)

	// The RBAC rules must be the same as the kustomize base's.
	k := renderKustomize(t)
	for _, kind := range []string{"ClusterRole", "Role"} {
		for _, u := range objs {
			if u.GetKind() != kind {
				continue
			}
			var hr, kr rbacv1.ClusterRole
			fromUnstructured(t, u, &hr)
			fromUnstructured(t, find(t, k, kind, u.GetName()), &kr)
			if !rulesEqual(hr.Rules, kr.Rules) {
				t.Errorf("%s %s: chart rules %+v differ from deploy/ rules %+v", kind, u.GetName(), hr.Rules, kr.Rules)
			}
		}
	}

	// Values: another namespace, image, replicas and lease name.
	out = helm(t, "template", "sched", chart, "--namespace", "other",
		"--set", "image.tag=v9.9.9", "--set", "replicas=3",
		"--set", "config.leaderElection.resourceName=my-lease")
	objs = decodeYAML(t, out)
	var d appsv1.Deployment
	fromUnstructured(t, find(t, objs, "Deployment", "sched-berth"), &d)
	if *d.Spec.Replicas != 3 || d.Spec.Template.Spec.Containers[0].Image != "ghcr.io/berthsched/berth:v9.9.9" {
		t.Errorf("values not applied: replicas %d image %s", *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Image)
	}
	cfg := loadConfig(t, find(t, objs, "ConfigMap", "sched-berth-config"))
	if cfg.LeaderElection.ResourceNamespace != "other" || cfg.LeaderElection.ResourceName != "my-lease" {
		t.Errorf("lease = %s/%s, want other/my-lease", cfg.LeaderElection.ResourceNamespace, cfg.LeaderElection.ResourceName)
	}
	var role rbacv1.Role
	fromUnstructured(t, find(t, objs, "Role", "sched-berth:leader-election"), &role)
	if role.Namespace != "other" || !strings.Contains(strings.Join(role.Rules[1].ResourceNames, ","), "my-lease") {
		t.Errorf("leader election Role %s/%s rules %+v do not follow the lease", role.Namespace, role.Name, role.Rules)
	}
}

// helmcheckBins holds each test's helmcheck binary (in its TempDir, so
// removed with it): the first build compiles Helm's packages, the next ones
// only relink from the build cache.
var helmcheckBins sync.Map // testing.TB → path

// helm runs hack/helmcheck with `helm`'s arguments (lint --strict,
// template NAME CHART --namespace --set) and returns its stdout.
func helm(t *testing.T, args ...string) []byte {
	t.Helper()
	bin, ok := helmcheckBins.Load(t)
	if !ok {
		bin = filepath.Join(t.TempDir(), "helmcheck")
		cmd := exec.Command("go", "build", "-o", bin.(string), ".")
		cmd.Dir = filepath.Join(repoRoot(t), helmcheckDir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", helmcheckDir, err, out)
		}
		helmcheckBins.Store(t, bin)
		t.Cleanup(func() { helmcheckBins.Delete(t) })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin.(string), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

// checkManifests asserts the properties the issue asks for, on either
// rendering.
func checkManifests(t *testing.T, objs []*unstructured.Unstructured, name, configMap string) {
	t.Helper()
	var d appsv1.Deployment
	fromUnstructured(t, find(t, objs, "Deployment", name), &d)
	if d.Namespace != berthNamespace {
		t.Errorf("Deployment namespace %q", d.Namespace)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %v, want 2", d.Spec.Replicas)
	}
	ps := d.Spec.Template.Spec
	if ps.ServiceAccountName != name {
		t.Errorf("serviceAccountName %q", ps.ServiceAccountName)
	}
	if psc := ps.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != v1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and seccomp RuntimeDefault", psc)
	}
	if len(ps.Containers) != 1 {
		t.Fatalf("%d containers", len(ps.Containers))
	}
	c := ps.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != v1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container securityContext %+v", sc)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/livez" {
		t.Errorf("liveness probe %+v, want GET /livez", c.LivenessProbe)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe %+v, want GET /readyz", c.ReadinessProbe)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Errorf("resource requests %v", c.Resources.Requests)
	}
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"--config=/etc/berth/config.yaml", "--secure-port=10359", "--health-address=0"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %s", args, want)
		}
	}
	cfg := loadConfig(t, find(t, objs, "ConfigMap", configMap))
	if !cfg.LeaderElection.LeaderElect || cfg.LeaderElection.ResourceNamespace != berthNamespace {
		t.Errorf("leaderElection %+v: want leaderElect in %s", cfg.LeaderElection, berthNamespace)
	}
	pdb := find(t, objs, "PodDisruptionBudget", name)
	if v, _, _ := unstructured.NestedFieldNoCopy(pdb.Object, "spec", "minAvailable"); v != int64(1) && v != float64(1) {
		t.Errorf("PDB minAvailable %v (%T), want 1", v, v)
	}
	// No wildcard and no secrets anywhere.
	for _, u := range objs {
		if u.GetKind() != "ClusterRole" && u.GetKind() != "Role" {
			continue
		}
		var r rbacv1.ClusterRole
		fromUnstructured(t, u, &r)
		for _, rule := range r.Rules {
			for _, s := range append(append(append([]string{}, rule.Verbs...), rule.Resources...), rule.APIGroups...) {
				if s == "*" || s == "secrets" {
					t.Errorf("%s: rule %+v has %q", describe(u), rule, s)
				}
			}
		}
	}
}

// loadConfig loads config.yaml of the ConfigMap with berth's own loader.
func loadConfig(t testing.TB, cm *unstructured.Unstructured) *config.Config {
	t.Helper()
	data, _, _ := unstructured.NestedString(cm.Object, "data", "config.yaml")
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(path, plugins.NewInTreeRegistry())
	if err != nil {
		t.Fatalf("berth rejects the ConfigMap's configuration: %v\n%s", err, data)
	}
	return cfg
}

func fromUnstructured(t testing.TB, u *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
		t.Fatalf("%s: %v", describe(u), err)
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func rulesEqual(a, b []rbacv1.PolicyRule) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].String() != b[i].String() {
			return false
		}
	}
	return true
}
