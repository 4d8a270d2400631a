package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/lint"
	"github.com/berthsched/berth/pkg/lint/webhook"
)

type webhookOptions struct {
	bindAddress   string
	securePort    int
	healthAddress string
	certFile      string
	keyFile       string
	certDir       string
	certDNSNames  []string
	certIPs       []string
	webhookConfig string
	kubeconfig    string
	configFile    string
	configMap     string
	minSeverity   string
}

func newWebhookCommand() *cobra.Command {
	o := &webhookOptions{}
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Serve berth lint's rules as a validating admission webhook (warnings by default)",
		Long: `Run the rules of berth lint on Pods and workloads as they are created or
updated. POST /validate answers with admission warnings (kubectl prints
them as "Warning: ..."); POST /deny also rejects objects with an
error-severity finding. Point two webhook entries with namespaceSelectors
at the two paths to deny only in labelled namespaces (deploy/webhook).

The webhook fails open: install it with failurePolicy: Ignore, and any
internal error admits the object and counts berth_webhook_fail_open_total.

TLS: --tls-cert-file and --tls-private-key-file (reloaded when they
change, e.g. by cert-manager), or else a CA and serving certificate that
berth generates into --cert-dir, with the CA kept in the caBundle of
--webhook-config-name. /healthz, /readyz and /metrics are served over HTTP
on --health-address. See docs/webhook.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer cancel()
			return runWebhook(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.bindAddress, "bind-address", "0.0.0.0", "address of the HTTPS admission server")
	f.IntVar(&o.securePort, "secure-port", 9443, "port of the HTTPS admission server")
	f.StringVar(&o.healthAddress, "health-address", "0.0.0.0:8081", "HTTP address of /healthz, /readyz and /metrics (empty: off)")
	f.StringVar(&o.certFile, "tls-cert-file", "", "serving certificate (PEM); with --tls-private-key-file, berth manages no certificate")
	f.StringVar(&o.keyFile, "tls-private-key-file", "", "serving certificate's private key (PEM)")
	f.StringVar(&o.certDir, "cert-dir", "/var/run/berth-webhook/certs", "where berth keeps the CA and serving certificate it generates (without --tls-cert-file)")
	f.StringSliceVar(&o.certDNSNames, "cert-dns-names", []string{"berth-webhook.berth-system.svc", "berth-webhook.berth-system.svc.cluster.local"}, "DNS names of the generated serving certificate (the Service's)")
	f.StringSliceVar(&o.certIPs, "cert-ips", nil, "IP addresses of the generated serving certificate")
	f.StringVar(&o.webhookConfig, "webhook-config-name", "berth-lint", "ValidatingWebhookConfiguration whose caBundle berth keeps patched with its generated CA (empty: do not patch)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "path to a kubeconfig (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	f.StringVar(&o.configFile, "config", "", "berth's KubeSchedulerConfiguration, for its profile names (default: the ConfigMap of --scheduler-configmap)")
	f.StringVar(&o.configMap, "scheduler-configmap", "berth-system/berth-config", "NAMESPACE/NAME of the ConfigMap with berth's config.yaml, read once at start when --config is not given")
	f.StringVar(&o.minSeverity, "min-severity", string(lint.Warning), "mildest finding reported as a warning: error, warning or info")
	f.AddGoFlagSet(goflagSet())
	return cmd
}

func runWebhook(ctx context.Context, o *webhookOptions) error {
	logger := klog.FromContext(ctx)
	minSev, ok := lint.ParseSeverity(o.minSeverity)
	if !ok {
		return fmt.Errorf("unknown --min-severity %q", o.minSeverity)
	}
	if (o.certFile == "") != (o.keyFile == "") {
		return errors.New("--tls-cert-file and --tls-private-key-file go together")
	}
	rc, err := clientConfig(o.kubeconfig, nil).ClientConfig()
	if err != nil {
		return err
	}
	rc.UserAgent = "berth/webhook"
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	if err := checkReachable(ctx, client); err != nil {
		return err
	}
	base := lint.Cluster{SchedulerNames: nil}
	if v, err := webhook.ServerVersion(client); err == nil {
		base.ServerVersion = v
	}
	cfg, err := schedulerConfig(ctx, client, o.configFile, o.configMap)
	if err != nil {
		return err
	}
	if cfg != nil {
		var copts lint.ClusterOptions
		applySchedulerConfig(&copts, cfg)
		base.SchedulerNames = map[string]bool{v1.DefaultSchedulerName: true}
		for _, n := range copts.SchedulerNames {
			base.SchedulerNames[n] = true
		}
		base.GPUResource, base.GPUModelLabel, base.GPUMemoryLabel = copts.GPUResource, copts.GPUModelLabel, copts.GPUMemoryLabel
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	facts := webhook.NewInformerFacts(factory, base)
	factory.Start(ctx.Done())
	defer factory.Shutdown()

	reg := prometheus.NewRegistry()
	reg.MustRegister(runtimeCollectors()...)
	h := webhook.NewHandler(facts.Cluster, webhook.NewMetrics(reg))
	h.MinSeverity = minSev

	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	certFile, keyFile := o.certFile, o.keyFile
	if certFile == "" {
		var ips []net.IP
		for _, s := range o.certIPs {
			ip := net.ParseIP(s)
			if ip == nil {
				return fmt.Errorf("--cert-ips: %q is not an IP address", s)
			}
			ips = append(ips, ip)
		}
		ca, err := webhook.EnsureCerts(o.certDir, o.certDNSNames, ips, time.Now())
		if err != nil {
			return fmt.Errorf("generating the webhook certificate in %s: %w", o.certDir, err)
		}
		certFile, keyFile = o.certDir+"/"+webhook.CertFile, o.certDir+"/"+webhook.KeyFile
		if o.webhookConfig != "" {
			go webhook.KeepCABundle(ctx, client, o.webhookConfig, ca, time.Minute)
		}
	}
	reloader := &certReloader{certFile: certFile, keyFile: keyFile}
	if _, err := reloader.get(nil); err != nil {
		return err
	}
	tlsConfig.GetCertificate = reloader.get

	mux := http.NewServeMux()
	h.Register(mux)
	servers := []*http.Server{{
		Addr: net.JoinHostPort(o.bindAddress, fmt.Sprint(o.securePort)), Handler: mux, TLSConfig: tlsConfig,
		ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx },
	}}
	if o.healthAddress != "" {
		hm := http.NewServeMux()
		addHealth(hm, facts.HasSynced, reg)
		servers = append(servers, &http.Server{Addr: o.healthAddress, Handler: hm, ReadHeaderTimeout: 10 * time.Second})
	}
	g, _, err := serveAll(ctx, 10*time.Second, servers...)
	if err != nil {
		return err
	}
	if err := facts.WaitForSync(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	logger.Info("Informer caches synced; ready")
	return g.Wait()
}

// certReloader serves the certificate files, reloading them when they
// change (cert-manager renews in place).
type certReloader struct {
	certFile, keyFile string
	mu                sync.Mutex
	cert              *tls.Certificate
	modTime           time.Time
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	st, err := os.Stat(r.certFile)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cert != nil && st.ModTime().Equal(r.modTime) {
		return r.cert, nil
	}
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		if r.cert != nil {
			return r.cert, nil // mid-rotation: keep the old pair
		}
		return nil, err
	}
	r.cert, r.modTime = &c, st.ModTime()
	return r.cert, nil
}
