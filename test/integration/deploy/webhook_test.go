package deploy

import (
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

// webhookKinds are the objects of berth webhook, in deploy/webhook and in
// the chart with webhook.enabled.
var webhookKinds = map[string]int{
	"ServiceAccount": 1, "ClusterRole": 1, "ClusterRoleBinding": 1, "Role": 1, "RoleBinding": 1,
	"Deployment": 1, "Service": 1, "ValidatingWebhookConfiguration": 1,
}

// TestWebhookKustomize renders deploy/webhook, checks that the webhook
// fails open with least privilege, and dry-runs it.
func TestWebhookKustomize(t *testing.T) {
	objs := renderKustomizeAt(t, "deploy/webhook")
	want := map[string]int{"Namespace": 1}
	for k, v := range webhookKinds {
		want[k] += v
	}
	if got := kinds(objs); !equalCounts(got, want) {
		t.Errorf("rendered kinds = %v, want %v", got, want)
	}
	checkWebhook(t, objs, "berth-webhook", "berth:webhook", "berth-lint", true)
	dryRunAll(t, objs)
}

// TestWebhookHelm renders the chart with webhook.enabled, self-managed
// and with cert-manager: the objects of deploy/webhook with the same
// RBAC, beside an unchanged scheduler.
func TestWebhookHelm(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: building hack/helmcheck (Helm's chart packages) takes a minute the first time")
	}
	chart := repoRoot(t) + "/charts/berth"
	helm(t, "lint", "--strict", chart, "--set", "webhook.enabled=true")
	objs := decodeYAML(t, helm(t, "template", "berth", chart, "--namespace", berthNamespace, "--set", "webhook.enabled=true"))
	want := map[string]int{
		"ServiceAccount": 1, "ClusterRole": 3, "ClusterRoleBinding": 2,
		"Role": 1, "RoleBinding": 2, "ConfigMap": 1, "Deployment": 1,
		"PodDisruptionBudget": 1, "Service": 1,
	}
	for k, v := range webhookKinds {
		want[k] += v
	}
	if got := kinds(objs); !equalCounts(got, want) {
		t.Errorf("rendered kinds = %v, want %v", got, want)
	}
	checkWebhook(t, objs, "berth-webhook", "berth:webhook", "berth-lint", true)
	k := renderKustomizeAt(t, "deploy/webhook")
	for _, kr := range []struct{ kind, name string }{{"ClusterRole", "berth:webhook"}, {"Role", "berth:webhook-config"}} {
		var hr, dr rbacv1.ClusterRole
		fromUnstructured(t, find(t, objs, kr.kind, kr.name), &hr)
		fromUnstructured(t, find(t, k, kr.kind, kr.name), &dr)
		if !rulesEqual(hr.Rules, dr.Rules) {
			t.Errorf("%s %s: chart rules %+v differ from deploy/webhook rules %+v", kr.kind, kr.name, hr.Rules, dr.Rules)
		}
	}
	// The scheduler's Deployment must not select the webhook's pods.
	var sched, wh appsv1.Deployment
	fromUnstructured(t, find(t, objs, "Deployment", "berth"), &sched)
	fromUnstructured(t, find(t, objs, "Deployment", "berth-webhook"), &wh)
	sel, _ := metav1.LabelSelectorAsSelector(sched.Spec.Selector)
	if sel.Matches(labels.Set(wh.Spec.Template.Labels)) {
		t.Errorf("berth's selector %s matches the webhook's pods %v", sel, wh.Spec.Template.Labels)
	}
	checkManifests(t, objs, "berth", "berth-config")
	dryRunAll(t, objs)

	// cert-manager: a Certificate (and self-signed Issuer), the CA
	// injected by annotation, and no right to patch the configuration.
	objs = decodeYAML(t, helm(t, "template", "berth", chart, "--namespace", berthNamespace, "--set", "webhook.enabled=true", "--set", "webhook.certManager.enabled=true"))
	if got := kinds(objs); got["Certificate"] != 1 || got["Issuer"] != 1 {
		t.Errorf("cert-manager kinds = %v", got)
	}
	checkWebhook(t, objs, "berth-webhook", "berth:webhook", "berth-lint", false)
	vwc := find(t, objs, "ValidatingWebhookConfiguration", "berth-lint")
	if vwc.GetAnnotations()["cert-manager.io/inject-ca-from"] != berthNamespace+"/berth-webhook" {
		t.Errorf("annotations %v", vwc.GetAnnotations())
	}
}

// checkWebhook asserts what makes the webhook safe: every entry fails
// open with a short timeout and no side effects; the RBAC reads only the
// facts the rules use and may change only its own configuration (when it
// patches the caBundle at all), never secrets; the Deployment serves
// health probes and keeps its certificates in a writable volume.
func checkWebhook(t *testing.T, objs []*unstructured.Unstructured, name, role, config string, patchesCA bool) {
	t.Helper()
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	fromUnstructured(t, find(t, objs, "ValidatingWebhookConfiguration", config), &vwc)
	paths := map[string]bool{}
	for _, w := range vwc.Webhooks {
		if w.FailurePolicy == nil || *w.FailurePolicy != admissionregistrationv1.Ignore {
			t.Errorf("webhook %s: failurePolicy %v, want Ignore", w.Name, w.FailurePolicy)
		}
		if w.TimeoutSeconds == nil || *w.TimeoutSeconds > 5 {
			t.Errorf("webhook %s: timeoutSeconds %v, want at most 5", w.Name, w.TimeoutSeconds)
		}
		if w.SideEffects == nil || *w.SideEffects != admissionregistrationv1.SideEffectClassNone {
			t.Errorf("webhook %s: sideEffects %v", w.Name, w.SideEffects)
		}
		if w.ClientConfig.Service == nil || w.ClientConfig.Service.Name != name || w.ClientConfig.Service.Path == nil {
			t.Fatalf("webhook %s: clientConfig %+v", w.Name, w.ClientConfig)
		}
		paths[*w.ClientConfig.Service.Path] = true
	}
	if len(vwc.Webhooks) != 2 || !paths["/validate"] || !paths["/deny"] {
		t.Errorf("webhooks %+v, want one on /validate and one on /deny", vwc.Webhooks)
	}
	var cr rbacv1.ClusterRole
	fromUnstructured(t, find(t, objs, "ClusterRole", role), &cr)
	patch := false
	for _, r := range cr.Rules {
		for _, s := range append(append(append([]string{}, r.Verbs...), r.Resources...), r.APIGroups...) {
			if s == "*" || s == "secrets" {
				t.Errorf("ClusterRole %s rule %+v has %q", role, r, s)
			}
		}
		for _, v := range r.Verbs {
			if v == "get" || v == "list" || v == "watch" {
				continue
			}
			if len(r.Resources) != 1 || r.Resources[0] != "validatingwebhookconfigurations" || len(r.ResourceNames) != 1 || r.ResourceNames[0] != config {
				t.Errorf("ClusterRole %s may %s %v %v: only its own configuration may be changed", role, v, r.Resources, r.ResourceNames)
			}
			patch = true
		}
	}
	if patch != patchesCA {
		t.Errorf("ClusterRole %s may change the configuration: %v, want %v", role, patch, patchesCA)
	}
	var d appsv1.Deployment
	fromUnstructured(t, find(t, objs, "Deployment", name), &d)
	c := d.Spec.Template.Spec.Containers[0]
	if c.Args[0] != "webhook" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe == nil {
		t.Errorf("container %s: args %v probes %+v %+v", c.Name, c.Args, c.ReadinessProbe, c.LivenessProbe)
	}
	if args := strings.Join(c.Args, " "); patchesCA != strings.Contains(args, "--webhook-config-name="+config) {
		t.Errorf("args %q: --webhook-config-name=%s expected %v", args, config, patchesCA)
	}
	if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/var/run/berth-webhook/certs" {
		t.Errorf("volume mounts %+v", c.VolumeMounts)
	}
}
