package lint

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/testenv"
)

const (
	webhookConfig = "berth-lint-test"
	denyLabel     = "lint.berth.io/mode"
)

// badDeployment passes the API server's validation but is wrong: Gt with
// a value that is not an integer (BL003, an error) and a spread
// constraint without labelSelector (BL022, a warning).
const badDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions:
              - {key: example.com/cpu-gen, operator: Gt, values: ["gen4"]}
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway}
      containers:
      - {name: web, image: nginx}
`

// webhookConfiguration points two entries at the webhook on 127.0.0.1:
// /validate for namespaces without the deny label, /deny for those with
// it; both fail open with a short timeout.
func webhookConfiguration(port int) *admissionregistrationv1.ValidatingWebhookConfiguration {
	entry := func(name, path string, op metav1.LabelSelectorOperator) admissionregistrationv1.ValidatingWebhook {
		return admissionregistrationv1.ValidatingWebhook{
			Name:                    name,
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To(fmt.Sprintf("https://127.0.0.1:%d%s", port, path))},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}, Rule: admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}}}},
			NamespaceSelector:       &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: denyLabel, Operator: op, Values: []string{"deny"}}}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			TimeoutSeconds:          ptr.To[int32](3),
			AdmissionReviewVersions: []string{"v1"},
		}
	}
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: webhookConfig},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			entry("warn.lint.berth.io", "/validate", metav1.LabelSelectorOpNotIn),
			entry("deny.lint.berth.io", "/deny", metav1.LabelSelectorOpIn),
		},
	}
}

// kubectlApply applies a Deployment named name into ns with kubectl and
// returns its combined output and error.
func kubectlApply(t *testing.T, ns, name string) (string, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(badDeployment, name)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("kubectl", "--kubeconfig", testenv.Current().Kubeconfig, "apply", "-n", ns, "-f", file).CombinedOutput()
	return string(out), err
}

// failOpenCount sums the API server's apiserver_admission_webhook_fail_open_count.
func failOpenCount(t *testing.T) float64 {
	t.Helper()
	body, err := testenv.Current().Client.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_admission_webhook_fail_open_count{") || !strings.Contains(line, webhookConfig) && !strings.Contains(line, "lint.berth.io") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// TestWebhook: kubectl apply of a bad Deployment prints berth's warning;
// in a namespace labelled for deny mode the Deployment is rejected with
// the finding; with the webhook killed, apply succeeds and the API server
// counts the fail-open.
func TestWebhook(t *testing.T) {
	env := testenv.Current()
	ctx := context.Background()
	c := env.Client
	ports, err := testenv.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, webhookConfiguration(ports[0]), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(context.Background(), webhookConfig, metav1.DeleteOptions{})
	})
	health := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
	p := berthtest.StartProcess(t, "webhook", "webhook", "-v=2",
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(ports[0]), "--health-address", health,
		"--cert-dir", filepath.Join(t.TempDir(), "certs"), "--cert-dns-names", "localhost", "--cert-ips", "127.0.0.1",
		"--webhook-config-name", webhookConfig)
	hc := &http.Client{Timeout: time.Second}
	berthtest.WaitFor(t, 60*time.Second, "the webhook to become ready and patch its caBundle", func() (bool, string) {
		if p.Exited() {
			t.Fatalf("the webhook exited:\n%s", testenv.TailFile(p.Log, 20))
		}
		resp, err := hc.Get("http://" + health + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, resp.Status
		}
		vwc, err := c.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, webhookConfig, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, w := range vwc.Webhooks {
			if len(w.ClientConfig.CABundle) == 0 {
				return false, "caBundle of " + w.Name + " empty"
			}
		}
		return true, ""
	})

	// Warn mode. The API server picks up the patched caBundle a moment
	// later; until then the call fails open without a warning.
	warnNS := env.CreateNamespace(t, "lint-warn")
	var out string
	i := 0
	berthtest.WaitFor(t, 60*time.Second, "kubectl apply to print berth's warning", func() (bool, string) {
		i++
		out, err = kubectlApply(t, warnNS, fmt.Sprintf("web-%d", i))
		if err != nil {
			t.Fatalf("kubectl apply in warn mode failed: %v\n%s", err, out)
		}
		return strings.Contains(out, "Warning: berth lint BL003"), out
	})
	t.Logf("kubectl apply (warn mode):\n%s", out)
	for _, want := range []string{"Warning: berth lint BL003 (error) spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values[0]",
		"Warning: berth lint BL022 (warning) spec.template.spec.topologySpreadConstraints[0]", "created"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl apply output lacks %q:\n%s", want, out)
		}
	}

	// Deny mode.
	denyNS := env.CreateNamespace(t, "lint-deny")
	nsObj, err := c.CoreV1().Namespaces().Get(ctx, denyNS, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nsObj.Labels = map[string]string{denyLabel: "deny"}
	if _, err := c.CoreV1().Namespaces().Update(ctx, nsObj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	berthtest.WaitFor(t, 60*time.Second, "kubectl apply to be denied", func() (bool, string) {
		i++
		out, err = kubectlApply(t, denyNS, fmt.Sprintf("web-%d", i))
		return err != nil, out
	})
	t.Logf("kubectl apply (deny mode):\n%s", out)
	for _, want := range []string{`admission webhook "deny.lint.berth.io" denied the request: berth lint: BL003`, "is not one"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl apply output lacks %q:\n%s", want, out)
		}
	}
	if _, err := c.AppsV1().Deployments(denyNS).Get(ctx, fmt.Sprintf("web-%d", i), metav1.GetOptions{}); err == nil {
		t.Error("the denied Deployment exists")
	}

	// Fail open: with the webhook gone the same apply succeeds.
	before := failOpenCount(t)
	p.Kill(t)
	i++
	out, err = kubectlApply(t, denyNS, fmt.Sprintf("web-%d", i))
	if err != nil || strings.Contains(out, "Warning: berth lint") {
		t.Fatalf("with the webhook down kubectl apply = %v:\n%s", err, out)
	}
	t.Logf("kubectl apply (webhook down):\n%s", out)
	if after := failOpenCount(t); after <= before {
		t.Errorf("apiserver_admission_webhook_fail_open_count %v -> %v, want an increase", before, after)
	}
	if _, err := c.CoreV1().Namespaces().Get(ctx, denyNS, metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
}
