package devcluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// pki is the set of credential files generated for one instance.
type pki struct {
	dir                       string
	caCert, caKey             string
	servingCert, servingKey   string
	adminCert, adminKey       string
	saPublicKey, saPrivateKey string
	kcmKubeconfig             string
}

func newPKI(dir string) pki {
	p := func(n string) string { return filepath.Join(dir, n) }
	return pki{
		dir:    dir,
		caCert: p("ca.crt"), caKey: p("ca.key"),
		servingCert: p("apiserver.crt"), servingKey: p("apiserver.key"),
		adminCert: p("admin.crt"), adminKey: p("admin.key"),
		saPublicKey: p("sa.pub"), saPrivateKey: p("sa.key"),
		kcmKubeconfig: p("controller-manager.kubeconfig"),
	}
}

// keyPair is an issued certificate and its key, PEM encoded.
type keyPair struct {
	cert            *x509.Certificate
	key             crypto.Signer
	certPEM, keyPEM []byte
}

func newSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// issue creates a certificate from tmpl signed by parent (or self-signed
// when parent is nil) with a new ECDSA P-256 key.
func issue(tmpl *x509.Certificate, parent *keyPair) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(365 * 24 * time.Hour)
	signerCert, signerKey := tmpl, crypto.Signer(key)
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, key.Public(), signerKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &keyPair{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  keyPEM,
	}, nil
}

func clientTemplate(cn string, orgs ...string) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: orgs},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

// generate writes a fresh CA, serving certificate, admin and
// controller-manager client credentials and a service-account key pair,
// and the admin kubeconfig contents (returned, written later once the
// cluster is ready).
func (p pki) generate(server string) (adminKubeconfig []byte, err error) {
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %v", p.dir, err)
	}
	ca, err := issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "devcluster-ca"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("generate CA: %v", err)
	}
	serving, err := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
	}, ca)
	if err != nil {
		return nil, fmt.Errorf("generate serving certificate: %v", err)
	}
	admin, err := issue(clientTemplate("devcluster-admin", "system:masters"), ca)
	if err != nil {
		return nil, fmt.Errorf("generate admin certificate: %v", err)
	}
	// The controller manager runs with --use-service-account-credentials=false,
	// so a single identity needs the union of all controller permissions;
	// system:masters is the simple answer for a development cluster.
	kcm, err := issue(clientTemplate("system:kube-controller-manager", "system:masters"), ca)
	if err != nil {
		return nil, fmt.Errorf("generate controller-manager certificate: %v", err)
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate service-account key: %v", err)
	}
	saPriv, err := encodeKey(saKey)
	if err != nil {
		return nil, err
	}
	saPubDER, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		p.caCert: ca.certPEM, p.caKey: ca.keyPEM,
		p.servingCert: serving.certPEM, p.servingKey: serving.keyPEM,
		p.adminCert: admin.certPEM, p.adminKey: admin.keyPEM,
		p.saPrivateKey: saPriv,
		p.saPublicKey:  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPubDER}),
	}
	kcmConfig, err := kubeconfig(server, "system:kube-controller-manager", ca.certPEM, kcm)
	if err != nil {
		return nil, err
	}
	files[p.kcmKubeconfig] = kcmConfig
	for name, data := range files {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %v", name, err)
		}
	}
	return kubeconfig(server, "devcluster-admin", ca.certPEM, admin)
}

// kubeconfig renders a single-context kubeconfig for a client certificate.
func kubeconfig(server, user string, caPEM []byte, kp *keyPair) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["devcluster"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: kp.certPEM, ClientKeyData: kp.keyPEM}
	cfg.Contexts["devcluster"] = &clientcmdapi.Context{Cluster: "devcluster", AuthInfo: user}
	cfg.CurrentContext = "devcluster"
	return clientcmd.Write(*cfg)
}
