package extender

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	certutil "k8s.io/client-go/util/cert"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/gputest"
)

// writeServing writes a new self-signed CA and a serving certificate for
// 127.0.0.1 it signed into dir (replacing the files atomically, as a
// Secret volume's update does) and returns them.
func writeServing(t *testing.T, dir string) *serving {
	t.Helper()
	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey("berth-extender", []net.IP{net.ParseIP("127.0.0.1")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &serving{certFile: filepath.Join(dir, "tls.crt"), keyFile: filepath.Join(dir, "tls.key"), caPEM: certPEM}
	for path, data := range map[string][]byte{s.certFile: certPEM, s.keyFile: keyPEM} {
		tmp := path + ".new"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// leaf is the first certificate of a PEM bundle (the serving one).
func leaf(t *testing.T, bundle []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(bundle)
	if b == nil {
		t.Fatal("no certificate in the bundle")
	}
	return b.Bytes
}

// TestHTTPS: kube-scheduler reaches berth extender over HTTPS
// (enableHTTPS with the CA in tlsConfig.caData) and a GPU share is
// filtered, prioritized and bound through it with its card assignment;
// then the certificate files are replaced and the extender serves the new
// certificate without a restart.
func TestHTTPS(t *testing.T) {
	dir := t.TempDir()
	first := writeServing(t, dir)
	g := gputest.NewGroup(t, "tls", 2, 1)
	g.SchedulerName = kubeSchedulerName
	s := startShells(t, first)

	asks := map[string]gputest.Ask{"share": gputest.Share(400, "")}
	gputest.CreatePod(t, g.Pod("share", asks["share"]))
	pods := gputest.WaitBound(t, g.NS, 60*time.Second, []string{"share"})
	s.alive(t)
	gputest.CheckAssignments(t, g, pods, asks)
	if got := s.metric(t, bindSuccess); got != 1 {
		t.Errorf("the extender bound %v pods over HTTPS, want 1", got)
	}

	second := writeServing(t, dir)
	u, err := url.Parse(s.extenderURL)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(second.caPEM)
	want := leaf(t, second.caPEM)
	berthtest.WaitFor(t, 30*time.Second, "the extender to serve the replaced certificate", func() (bool, string) {
		conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
		if err != nil {
			return false, err.Error()
		}
		defer conn.Close()
		got := conn.ConnectionState().PeerCertificates[0].Raw
		return bytes.Equal(got, want), "still the first certificate"
	})
}
