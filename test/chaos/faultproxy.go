package chaos

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// BindFault is one way FaultProxy answers a pods/binding POST instead of
// the API server.
type BindFault int

// The bind faults. Each answers with a metav1.Status as the API server
// would.
const (
	// TooManyRequests answers 429 with Retry-After: 1 before forwarding
	// (client-go retries it itself).
	TooManyRequests BindFault = iota
	// InternalError answers 500 before forwarding: the bind did not
	// happen.
	InternalError
	// Conflict answers 409 before forwarding, as for a pod already
	// bound, although it is not: berth must not take it for bound.
	Conflict
	// LostResponse forwards the bind, which the API server commits, and
	// answers 500 instead of its 201: berth believes a bind failed that
	// succeeded, as when a response is lost to a timeout.
	LostResponse
)

func (f BindFault) String() string {
	return [...]string{"429", "500", "409", "500-after-commit"}[f]
}

// FaultProxy is an HTTPS reverse proxy in front of the API server that
// terminates TLS with its own certificate (TCPProxy cannot see requests)
// and answers a fraction of pods/binding POSTs with an injected error.
// It reaches the API server with the admin credentials; its clients need
// none.
type FaultProxy struct {
	ln    net.Listener
	srv   *http.Server
	caPEM []byte

	mu       sync.Mutex
	fraction float64
	faults   []BindFault
	rnd      *mrand.Rand
	injected map[BindFault]int
	// watchDelay holds back every chunk of every watch response for
	// that long (0: none).
	watchDelay time.Duration
	// watches cancels each watch in flight.
	watches map[*http.Request]context.CancelFunc
}

// NewFaultProxy serves on a free 127.0.0.1 port, forwarding to the
// server of upstream with its credentials.
func NewFaultProxy(upstream *rest.Config) (*FaultProxy, error) {
	target, err := url.Parse(upstream.Host)
	if err != nil {
		return nil, err
	}
	up := rest.CopyConfig(upstream)
	// The proxy passes bodies through; it must not negotiate its own
	// content type or rate limit.
	up.QPS, up.Burst = -1, 0
	rt, err := rest.TransportFor(up)
	if err != nil {
		return nil, err
	}
	cert, caPEM, err := selfSigned()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &FaultProxy{ln: ln, caPEM: caPEM, rnd: mrand.New(mrand.NewPCG(1, 2)), injected: map[BindFault]int{}, watches: map[*http.Request]context.CancelFunc{}}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = rt
	rp.FlushInterval = -1 // watches stream
	rp.ErrorLog = nil
	p.srv = &http.Server{
		Handler:   p.handler(rp),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}},
	}
	go func() { _ = p.srv.ServeTLS(ln, "", "") }()
	return p, nil
}

func (p *FaultProxy) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/binding") {
			if f, ok := p.pick(); ok {
				p.inject(w, r, next, f)
				return
			}
		}
		if r.Method == http.MethodGet && r.URL.Query().Get("watch") == "true" {
			ctx, cancel := context.WithCancel(r.Context())
			r = r.WithContext(ctx)
			p.mu.Lock()
			p.watches[r] = cancel
			p.mu.Unlock()
			defer func() {
				p.mu.Lock()
				delete(p.watches, r)
				p.mu.Unlock()
				cancel()
			}()
			dw := newDelayWriter(w, p.delay)
			next.ServeHTTP(dw, r)
			dw.drain()
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (p *FaultProxy) pick() (BindFault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.faults) == 0 || p.rnd.Float64() >= p.fraction {
		return 0, false
	}
	f := p.faults[p.rnd.IntN(len(p.faults))]
	p.injected[f]++
	return f, true
}

func (p *FaultProxy) inject(w http.ResponseWriter, r *http.Request, next http.Handler, f BindFault) {
	status := metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure}
	switch f {
	case TooManyRequests:
		w.Header().Set("Retry-After", "1")
		status.Code, status.Reason, status.Message = http.StatusTooManyRequests, metav1.StatusReasonTooManyRequests, "chaos: too many requests"
	case InternalError:
		status.Code, status.Reason, status.Message = http.StatusInternalServerError, metav1.StatusReasonInternalError, "chaos: internal error"
	case Conflict:
		status.Code, status.Reason, status.Message = http.StatusConflict, metav1.StatusReasonConflict, "chaos: conflict"
	case LostResponse:
		rec := &discard{header: http.Header{}}
		next.ServeHTTP(rec, r)
		status.Code, status.Reason, status.Message = http.StatusInternalServerError, metav1.StatusReasonInternalError, fmt.Sprintf("chaos: the API server answered %d, the proxy lost it", rec.code)
	}
	body, _ := json.Marshal(status)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(status.Code))
	_, _ = w.Write(body)
}

func (p *FaultProxy) delay() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.watchDelay
}

// DelayWatches holds back each chunk of every watch response (the
// headers pass at once, so the watch is established) for d, from now on,
// keeping their order: the client sees every event d late, while its
// requests (binds) are served at once. 0 ends the delay for new chunks.
// The watches open when the delay starts are ended, so that the client's
// new ones are delayed too.
func (p *FaultProxy) DelayWatches(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.watchDelay = d
	if d > 0 {
		for _, cancel := range p.watches {
			cancel()
		}
	}
}

// delayWriter is a delay line in front of a streaming ResponseWriter.
type delayWriter struct {
	w     http.ResponseWriter
	delay func() time.Duration
	ch    chan delayed
	done  chan struct{}
}

type delayed struct {
	data []byte
	at   time.Time
}

func newDelayWriter(w http.ResponseWriter, delay func() time.Duration) *delayWriter {
	d := &delayWriter{w: w, delay: delay, ch: make(chan delayed, 4096), done: make(chan struct{})}
	go func() {
		defer close(d.done)
		f, _ := w.(http.Flusher)
		broken := false
		for c := range d.ch {
			if broken {
				continue
			}
			time.Sleep(time.Until(c.at))
			if _, err := w.Write(c.data); err != nil {
				broken = true
				continue
			}
			if f != nil {
				f.Flush()
			}
		}
	}()
	return d
}

func (d *delayWriter) Header() http.Header { return d.w.Header() }

func (d *delayWriter) WriteHeader(code int) {
	d.w.WriteHeader(code)
	if f, ok := d.w.(http.Flusher); ok {
		f.Flush()
	}
}

func (d *delayWriter) Write(b []byte) (int, error) {
	d.ch <- delayed{data: append([]byte(nil), b...), at: time.Now().Add(d.delay())}
	return len(b), nil
}

// Flush is a no-op: the delay line flushes each chunk it writes.
func (d *delayWriter) Flush() {}

// drain waits until every chunk has been written (the handler must not
// return before).
func (d *delayWriter) drain() {
	close(d.ch)
	<-d.done
}

// discard is a ResponseWriter that keeps only the status code.
type discard struct {
	header http.Header
	code   int
}

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(code int)        { d.code = code }

// SetBindFaults makes the proxy answer fraction of the binds (0 to 1)
// with one of faults, chosen at random; fraction 0 or no faults turns
// injection off.
func (p *FaultProxy) SetBindFaults(fraction float64, faults ...BindFault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fraction, p.faults = fraction, faults
}

// Injected returns how many binds got each fault.
func (p *FaultProxy) Injected() map[BindFault]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[BindFault]int{}
	for k, v := range p.injected {
		out[k] = v
	}
	return out
}

// WriteKubeconfig writes a kubeconfig for the proxy (its CA, no user
// credentials) to path.
func (p *FaultProxy) WriteKubeconfig(path string) error {
	return writeKubeconfig(path, "https://"+p.ln.Addr().String(), p.caPEM, nil, nil)
}

// Close stops the proxy.
func (p *FaultProxy) Close() { _ = p.srv.Close() }

// writeKubeconfig writes a one-context kubeconfig for server.
func writeKubeconfig(path, server string, caPEM, certPEM, keyPEM []byte) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["chaos"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["chaos"] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts["chaos"] = &clientcmdapi.Context{Cluster: "chaos", AuthInfo: "chaos"}
	cfg.CurrentContext = "chaos"
	return clientcmd.WriteToFile(*cfg, path)
}

// selfSigned makes a serving certificate for 127.0.0.1 that is its own
// CA.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "berth-chaos-proxy"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
