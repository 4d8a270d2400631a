package extender

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/testenv"
)

// kubeSchedulerName is the schedulerName of the kube-scheduler profile
// that consults berth.
const kubeSchedulerName = "extended"

// shells is berth extender and the stock kube-scheduler that calls it.
type shells struct {
	extender, kubeScheduler *berthtest.Process
	// extenderURL is where the extender serves verbs and /metrics.
	extenderURL string
	// client reaches extenderURL (trusting the test's CA under TLS).
	client *http.Client
}

// serving is the extender's certificate for the HTTPS tests: the files
// berth extender serves, and the CA bundle (PEM) kube-scheduler's stanza
// and the test's client trust.
type serving struct {
	certFile, keyFile string
	caPEM             []byte
}

// startShells starts `berth extender` (default berth profile, which
// enables GPUShare) and waits for its /readyz, then the stock
// kube-scheduler (no leader election, no secure serving) with a profile
// kubeSchedulerName whose extender stanza points at it.
// With tlsFiles set, the extender serves HTTPS with its files and the stanza
// sets enableHTTPS with the CA.
func startShells(t *testing.T, tlsFiles *serving) *shells {
	t.Helper()
	ports, err := testenv.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	s := &shells{extenderURL: "http://" + addr, client: &http.Client{Timeout: 5 * time.Second}}
	args := []string{"extender", "--address", addr, "-v=4"}
	https := ""
	if tlsFiles != nil {
		s.extenderURL = "https://" + addr
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(tlsFiles.caPEM) {
			t.Fatal("the test's CA bundle holds no certificate")
		}
		s.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
		args = append(args, "--tls-cert-file", tlsFiles.certFile, "--tls-private-key-file", tlsFiles.keyFile)
		https = "  enableHTTPS: true\n  tlsConfig:\n    caData: " + base64.StdEncoding.EncodeToString(tlsFiles.caPEM) + "\n"
	}
	s.extender = berthtest.StartProcess(t, "berth-extender", args...)
	berthtest.WaitFor(t, berthtest.ReadyTimeout, "berth extender to become ready", func() (bool, string) {
		if s.extender.Exited() {
			t.Fatalf("berth extender exited during startup (%v); last lines of its log:\n%s", s.extender.Cmd.ProcessState, testenv.TailFile(s.extender.Log, 20))
		}
		resp, err := s.client.Get(s.extenderURL + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	// No managedResources: kube-scheduler consults an extender that lists
	// some only for pods requesting one of them, and GPU shares request
	// none (they ask through an annotation).
	cfg := berthtest.WriteConfig(t, berthtest.ExtenderConfig(testenv.Current().Kubeconfig, kubeSchedulerName, s.extenderURL, 10, https))
	s.kubeScheduler = berthtest.StartBinary(t, "kube-scheduler", "kube-scheduler", "--config", cfg, "--secure-port=0", "-v=2")
	return s
}

// alive fails t if either process has exited.
func (s *shells) alive(t *testing.T) {
	t.Helper()
	for _, p := range []*berthtest.Process{s.extender, s.kubeScheduler} {
		if p.Exited() {
			t.Fatalf("%s exited (%v); last lines of its log:\n%s", p.Name, p.Cmd.ProcessState, testenv.TailFile(p.Log, 30))
		}
	}
}

// metric returns the value of the extender's sample whose name and labels
// are exactly series (as the text exposition writes them, e.g.
// `berth_extender_requests_total{result="success",verb="bind"}`), 0 when
// it is absent.
func (s *shells) metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := s.client.Get(s.extenderURL + "/metrics")
	if err != nil {
		t.Fatalf("reading the extender's metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return f
		}
	}
	return 0
}
