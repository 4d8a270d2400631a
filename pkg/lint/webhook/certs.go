package webhook

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
)

// File names in the certificate directory.
const (
	CAFile   = "ca.crt"
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
)

// Certificate lifetimes: the serving certificate is renewed (with a new
// CA) when it has less than renewBefore left.
const (
	caValidity    = 10 * 365 * 24 * time.Hour
	certValidity  = 365 * 24 * time.Hour
	renewBefore   = 30 * 24 * time.Hour
	maxBundledCAs = 4
)

// EnsureCerts makes sure dir holds a CA and a serving certificate for the
// DNS names and IPs that is valid for at least renewBefore, generating
// them if not, and returns the CA in PEM. Several replicas each keep
// their own CA; the caBundle holds them all (PatchCABundle).
func EnsureCerts(dir string, dnsNames []string, ips []net.IP, now time.Time) ([]byte, error) {
	if ca, err := loadValid(dir, dnsNames, ips, now); err == nil {
		return ca, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: fmt.Sprintf("berth-webhook-ca@%d", now.Unix())},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(caValidity),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	cn := "berth-webhook"
	if len(dnsNames) > 0 {
		cn = dnsNames[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(certValidity),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: dnsNames, IPAddresses: ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	files := map[string][]byte{
		CAFile:   caPEM,
		CertFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyFile:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	return caPEM, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

// loadValid returns the CA of dir's certificates if they cover the names
// and stay valid for renewBefore.
func loadValid(dir string, dnsNames []string, ips []net.IP, now time.Time) ([]byte, error) {
	caPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, err
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, err
	}
	if now.Add(renewBefore).After(cert.NotAfter) {
		return nil, fmt.Errorf("certificate expires %s", cert.NotAfter)
	}
	for _, n := range dnsNames {
		if !slices.Contains(cert.DNSNames, n) {
			return nil, fmt.Errorf("certificate lacks %s", n)
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return nil, fmt.Errorf("certificate lacks %s", ip)
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("no CA in %s", CAFile)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return nil, err
	}
	return caPEM, nil
}

// mergeBundle adds ca to a PEM bundle, keeping the maxBundledCAs newest
// certificates (by NotBefore) so replicas and restarts do not grow it
// without bound. It returns the bundle unchanged when ca is in it.
func mergeBundle(bundle, ca []byte) ([]byte, bool) {
	if bytes.Contains(bundle, bytes.TrimSpace(ca)) {
		return bundle, false
	}
	var certs []*x509.Certificate
	for rest := append(append([]byte{}, bundle...), ca...); ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil {
			certs = append(certs, c)
		}
	}
	sort.SliceStable(certs, func(i, j int) bool { return certs[i].NotBefore.After(certs[j].NotBefore) })
	var out []byte
	for i, c := range certs {
		if i == maxBundledCAs {
			break
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out, true
}

// PatchCABundle makes every webhook of the ValidatingWebhookConfiguration
// name trust ca (RBAC: get and update on that one object). It reports
// whether it changed anything.
func PatchCABundle(ctx context.Context, c kubernetes.Interface, name string, ca []byte) (bool, error) {
	changed := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		changed = false
		vwc, err := c.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for i := range vwc.Webhooks {
			b, ch := mergeBundle(vwc.Webhooks[i].ClientConfig.CABundle, ca)
			if ch {
				vwc.Webhooks[i].ClientConfig.CABundle, changed = b, true
			}
		}
		if !changed {
			return nil
		}
		_, err = c.AdmissionregistrationV1().ValidatingWebhookConfigurations().Update(ctx, vwc, metav1.UpdateOptions{})
		return err
	})
	return changed, err
}

// KeepCABundle patches the caBundle now and then every interval until ctx
// ends, so a configuration re-applied without it (kubectl apply, a Helm
// upgrade) is repaired. Errors are logged and retried.
func KeepCABundle(ctx context.Context, c kubernetes.Interface, name string, ca []byte, interval time.Duration) {
	logger := klog.FromContext(ctx)
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		changed, err := PatchCABundle(ctx, c, name, ca)
		switch {
		case err != nil:
			logger.Error(err, "Cannot patch the webhook configuration's caBundle", "validatingWebhookConfiguration", name)
		case changed:
			logger.Info("Patched the webhook configuration's caBundle", "validatingWebhookConfiguration", name)
		}
	}, interval)
}
