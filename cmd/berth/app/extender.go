package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/extender"
	"github.com/berthsched/berth/pkg/plugins"
)

type extenderOptions struct {
	configFile string
	kubeconfig string
	address    string
	profile    string
	certFile   string
	keyFile    string
	seed       uint64
	tieBreak   string
}

func newExtenderCommand() *cobra.Command {
	o := &extenderOptions{}
	cmd := &cobra.Command{
		Use:   "extender",
		Short: "Serve kube-scheduler's HTTP extender API (filter, prioritize, preempt, bind) with berth's profile",
		Long: `Serve kube-scheduler's scheduler extender API from berth's scheduling core,
for clusters that keep kube-scheduler. kube-scheduler calls POST /filter,
/prioritize, /preempt and /bind (configure the extender with
nodeCacheCapable: true); berth evaluates each pod with one of its profiles
on its own informer cache, and the bind verb reserves (GPU cards), writes
the assignment annotation, binds and records the placement in that cache at
once. /healthz, /livez, /readyz and /metrics are served on the same
address. Run one replica: see docs/extender.md.`,
		Example: `  berth extender --config berth.yaml --address :8888
  berth extender --config berth.yaml --tls-cert-file tls.crt --tls-private-key-file tls.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer cancel()
			return runExtender(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.configFile, "config", "", "berth's KubeSchedulerConfiguration file (default: built-in defaults)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "path to a kubeconfig (default: $KUBECONFIG, ~/.kube/config, the config's clientConnection.kubeconfig, or in-cluster)")
	f.StringVar(&o.address, "address", ":8888", "address to serve the verbs, health endpoints and metrics on")
	f.StringVar(&o.profile, "profile", "", "berth profile (schedulerName) every pod is evaluated with (default: the configuration's first profile)")
	f.StringVar(&o.certFile, "tls-cert-file", "", "serve HTTPS with this certificate (with --tls-private-key-file)")
	f.StringVar(&o.keyFile, "tls-private-key-file", "", "the key of --tls-cert-file")
	f.Uint64Var(&o.seed, "seed", 0, "seed of the random tie-breaking between equally scored nodes")
	f.StringVar(&o.tieBreak, "tie-break", tieBreakRandom, tieBreakUsage)
	f.AddGoFlagSet(goflagSet())
	return cmd
}

func runExtender(ctx context.Context, o *extenderOptions) error {
	logger := klog.FromContext(ctx)
	if (o.certFile == "") != (o.keyFile == "") {
		return errors.New("--tls-cert-file and --tls-private-key-file go together")
	}
	byName, err := parseTieBreak(o.tieBreak)
	if err != nil {
		return err
	}
	reg := plugins.NewInTreeRegistry()
	cfg, err := config.LoadFile(o.configFile, reg)
	if err != nil {
		return err
	}
	rc, err := clientConfig(o.kubeconfig, cfg).ClientConfig()
	if err != nil {
		return err
	}
	rc.UserAgent = "berth/extender"
	rc.QPS, rc.Burst = cfg.ClientConnection.QPS, int(cfg.ClientConnection.Burst)
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return err
	}
	if err := checkReachable(ctx, client); err != nil {
		return err
	}
	promReg := prometheus.NewRegistry()
	promReg.MustRegister(runtimeCollectors()...)
	var x *extender.Cluster
	metrics := extender.NewMetrics(promReg, func() int { return x.AssumedPods() })
	x, err = extender.FromCluster(ctx, extender.ClusterOptions{Client: client, Dynamic: dyn, Config: cfg, Registry: reg,
		Profile: o.profile, Seed: o.seed, TieBreakByName: byName, Metrics: metrics})
	if err != nil {
		return err
	}
	defer x.Shutdown()
	// Cancelled before Shutdown waits for the informers, whatever ends Run.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	x.Start(ctx)

	mux := http.NewServeMux()
	mux.Handle("/", x.Handler())
	addHealth(mux, x.Ready, promReg)
	srv := &http.Server{Addr: o.address, Handler: mux, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	if o.certFile != "" {
		reloader := &certReloader{certFile: o.certFile, keyFile: o.keyFile}
		if _, err := reloader.get(nil); err != nil {
			return err
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: reloader.get}
	}
	// In-flight binds finish their API calls (they ignore the request's
	// cancellation); give them time.
	g, gctx, err := serveAll(ctx, 30*time.Second, srv)
	if err != nil {
		return err
	}
	g.Go(func() error {
		if err := x.WaitForSync(gctx); err != nil {
			if gctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("waiting for the cache: %w", err)
		}
		logger.Info("Cache synced; ready")
		return nil
	})
	return g.Wait()
}
