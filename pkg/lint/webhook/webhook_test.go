package webhook

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/berthsched/berth/pkg/lint"
)

const badDeployment = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{
"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"gen","operator":"Gt","values":["four"]}]}]}}},
"topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"kubernetes.io/hostname","whenUnsatisfiable":"ScheduleAnyway"}],
"containers":[{"name":"c","image":"x"}]}}}}`

func review(t *testing.T, h *Handler, path, raw string) *admissionv1.AdmissionResponse {
	t.Helper()
	mux := http.NewServeMux()
	h.Register(mux)
	body, _ := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "u1", Kind: metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"},
			Namespace: "shop", Name: "web", Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: []byte(raw)}},
	})
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body)))
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
		t.Fatalf("status %d body %s: %v", rec.Code, rec.Body, err)
	}
	if out.Response.UID != "u1" {
		t.Errorf("UID %q", out.Response.UID)
	}
	return out.Response
}

func TestWarnAndDeny(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	h := NewHandler(nil, m)
	resp := review(t, h, PathValidate, badDeployment)
	if !resp.Allowed || len(resp.Warnings) != 2 || !strings.HasPrefix(resp.Warnings[0], "berth lint BL003 (error) spec.template.spec.affinity") ||
		!strings.HasPrefix(resp.Warnings[1], "berth lint BL022 (warning)") {
		t.Errorf("warn mode: %+v", resp)
	}
	resp = review(t, h, PathDeny, badDeployment)
	if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "BL003") || strings.Contains(resp.Result.Message, "BL022") {
		t.Errorf("deny mode: %+v", resp)
	}
	// Only warnings: admitted even in deny mode.
	noErr := strings.Replace(badDeployment, `"four"`, `"4"`, 1)
	if resp := review(t, h, PathDeny, noErr); !resp.Allowed || len(resp.Warnings) != 1 {
		t.Errorf("deny mode without errors: %+v", resp)
	}
	if got := testutil.ToFloat64(m.Requests.WithLabelValues("CREATE", "Deployment", ResultDenied)); got != 1 {
		t.Errorf("denied requests = %v", got)
	}
	if got := testutil.ToFloat64(m.Findings.WithLabelValues("BL022", "warning")); got != 3 {
		t.Errorf("BL022 findings = %v", got)
	}
}

func TestFailOpen(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	h := NewHandler(func() *lint.Cluster { panic("facts broke") }, m)
	if resp := review(t, h, PathDeny, badDeployment); !resp.Allowed || resp.Result != nil {
		t.Errorf("a panic must admit: %+v", resp)
	}
	if got := testutil.ToFloat64(m.FailOpen.WithLabelValues(reasonPanic)); got != 1 {
		t.Errorf("fail_open{panic} = %v", got)
	}
	h = NewHandler(nil, m)
	if resp := review(t, h, PathDeny, `{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":"many"}}`); !resp.Allowed {
		t.Errorf("an undecodable object must be admitted: %+v", resp)
	}
	if got := testutil.ToFloat64(m.FailOpen.WithLabelValues(reasonDecode)); got != 1 {
		t.Errorf("fail_open{decode} = %v", got)
	}
	if got := testutil.ToFloat64(m.Requests.WithLabelValues("CREATE", "Deployment", ResultFailed)); got != 2 {
		t.Errorf("failed requests = %v", got)
	}
}

func TestCerts(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ips := []net.IP{net.ParseIP("127.0.0.1")}
	ca1, err := EnsureCerts(dir, []string{"svc.ns.svc"}, ips, now)
	if err != nil {
		t.Fatal(err)
	}
	if ca2, _ := EnsureCerts(dir, []string{"svc.ns.svc"}, ips, now.Add(24*time.Hour)); !bytes.Equal(ca1, ca2) {
		t.Error("valid certificates were regenerated")
	}
	ca3, _ := EnsureCerts(dir, []string{"svc.ns.svc"}, ips, now.Add(certValidity-renewBefore+time.Hour))
	if bytes.Equal(ca1, ca3) {
		t.Error("certificates close to expiry were kept")
	}
	ca4, _ := EnsureCerts(dir, []string{"other.ns.svc"}, ips, now)
	if bytes.Equal(ca3, ca4) {
		t.Error("certificates for other names were kept")
	}
	// The bundle keeps several CAs, newest first, at most maxBundledCAs.
	bundle, changed := mergeBundle(nil, ca1)
	if !changed {
		t.Fatal("empty bundle unchanged")
	}
	if _, changed := mergeBundle(bundle, ca1); changed {
		t.Error("adding a CA twice changed the bundle")
	}
	for i := 0; i < 5; i++ {
		ca, _ := EnsureCerts(t.TempDir(), []string{"x"}, nil, now.Add(time.Duration(i+1)*time.Hour))
		bundle, _ = mergeBundle(bundle, ca)
	}
	n := 0
	for rest := bundle; ; n++ {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			t.Fatal(err)
		}
	}
	if n != maxBundledCAs || bytes.Contains(bundle, bytes.TrimSpace(ca1)) {
		t.Errorf("bundle has %d certificates (want %d, without the oldest)", n, maxBundledCAs)
	}
}
