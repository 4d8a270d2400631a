package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"sigs.k8s.io/yaml"

	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/explain"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/metrics"
	"github.com/berthsched/berth/pkg/metricsource"
	"github.com/berthsched/berth/pkg/plugins"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
	"github.com/berthsched/berth/pkg/scheduler"
	"github.com/berthsched/berth/pkg/version"
)

// RunOptions are `berth run`'s flags.
type RunOptions struct {
	// ConfigFile is a KubeSchedulerConfiguration; empty for defaults.
	ConfigFile string
	// Kubeconfig overrides clientConnection.kubeconfig; empty for
	// in-cluster config.
	Kubeconfig string
	// WriteConfigTo writes the effective config there and exits.
	WriteConfigTo string
	// HealthAddress serves /healthz, /readyz, /metrics (and pprof).
	HealthAddress string
	// EnablePprof serves /debug/pprof on the same address.
	EnablePprof bool
	// LeaderElect overrides leaderElection.leaderElect when set.
	LeaderElect *bool
	// Identity is the leader election identity; hostname_uuid if empty.
	Identity string
	// BindConcurrency bounds binding cycles in flight.
	BindConcurrency int
	// AssumedPodTTL, ConsistencyCheckInterval: see scheduler.Options.
	AssumedPodTTL            time.Duration
	ConsistencyCheckInterval time.Duration
	// TieBreak is how equally scored nodes are chosen between: "random"
	// (empty: the default) or "name" (see scheduler.Options).
	TieBreak string

	// Registry overrides the in-tree plugin registry (tests, plugin
	// authors). Nil means plugins.NewInTreeRegistry().
	Registry framework.Registry
	// Ready, if set, is closed when informers are synced.
	Ready chan struct{}
	// Listener, if set, is used instead of listening on HealthAddress.
	Listener net.Listener
	// Secure configures the HTTPS endpoint with delegated authn/authz
	// (secure.go); nil or port 0 disables it.
	Secure *SecureServingOptions
	// WrapTransport, if set, wraps the transport of every API client
	// berth builds (tests count responses with it); not of the
	// TokenReview/SubjectAccessReview clients of the secure port.
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

func newRunCommand() *cobra.Command {
	o := &RunOptions{}
	var leaderElect bool
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the scheduler",
		Long: `Run berth against a cluster. Pods whose spec.schedulerName names one of the
configured profiles (default: "berth") are scheduled and bound.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("leader-elect") {
				o.LeaderElect = &leaderElect
			}
			ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer cancel()
			return Run(ctx, o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.ConfigFile, "config", "", "path to a kubescheduler.config.k8s.io/v1 KubeSchedulerConfiguration file")
	f.StringVar(&o.Kubeconfig, "kubeconfig", "", "path to a kubeconfig (overrides clientConnection.kubeconfig; default: in-cluster)")
	f.StringVar(&o.WriteConfigTo, "write-config-to", "", "write the effective configuration to this file (- for stdout) and exit")
	f.StringVar(&o.HealthAddress, "health-address", "127.0.0.1:10351", "address for plain-HTTP /healthz, /livez, /readyz and unauthenticated /metrics, for localhost and development; 0 disables (use --secure-port in clusters)")
	o.Secure = addServingFlags(f)
	f.BoolVar(&o.EnablePprof, "enable-pprof", false, "serve /debug/pprof on the health address")
	f.BoolVar(&leaderElect, "leader-elect", true, "override leaderElection.leaderElect from the config")
	f.StringVar(&o.Identity, "leader-elect-identity", "", "leader election identity (default: hostname_uuid)")
	f.IntVar(&o.BindConcurrency, "bind-concurrency", scheduler.DefaultBindConcurrency, "maximum binding cycles in flight")
	f.DurationVar(&o.AssumedPodTTL, "assumed-pod-ttl", scheduler.DefaultAssumedPodTTL, "how long a sent bind may stay unconfirmed before the assumed pod is expired")
	f.DurationVar(&o.ConsistencyCheckInterval, "consistency-check-interval", scheduler.DefaultConsistencyCheckInterval, "period of the cache/informer consistency check")
	f.StringVar(&o.TieBreak, "tie-break", tieBreakRandom, tieBreakUsage)
	klogFlags := goflagSet()
	f.AddGoFlagSet(klogFlags)
	return cmd
}

// The --tie-break values of berth run and berth extender.
const (
	tieBreakRandom = "random"
	tieBreakName   = "name"
	tieBreakUsage  = "how to choose between equally scored nodes: random (uniformly, as kube-scheduler) or name (the smallest name: reproducible, and the same choice in berth run, berth extender and berth simulate whatif)"
)

// parseTieBreak reads a --tie-break value: whether ties go by name.
func parseTieBreak(v string) (byName bool, err error) {
	switch v {
	case "", tieBreakRandom:
		return false, nil
	case tieBreakName:
		return true, nil
	}
	return false, fmt.Errorf("unknown --tie-break %q (want %s or %s)", v, tieBreakRandom, tieBreakName)
}

// Run runs the scheduler until ctx is done. It returns an error for bad
// configuration or an unreachable API server; losing the leader lease
// returns an error too (the process must exit so a fresh replica takes over).
func Run(ctx context.Context, o *RunOptions, out interface{ Write([]byte) (int, error) }) error {
	logger := klog.FromContext(ctx)
	reg := o.Registry
	if reg == nil {
		reg = plugins.NewInTreeRegistry()
	}
	if _, err := parseTieBreak(o.TieBreak); err != nil {
		return err
	}
	cfg, err := config.LoadFile(o.ConfigFile, reg)
	if err != nil {
		return err
	}
	if o.LeaderElect != nil {
		cfg.LeaderElection.LeaderElect = *o.LeaderElect
		cfg.Raw.LeaderElection.LeaderElect = o.LeaderElect
	}
	if o.WriteConfigTo != "" {
		return writeConfig(cfg, o.WriteConfigTo, out)
	}
	logger.Info("Starting berth", "version", version.Get().String())

	c, err := wire(ctx, o, cfg, reg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.srv.serve(gctx) })
	c.broadcaster.StartRecordingToSink(ctx.Done())
	defer c.broadcaster.Shutdown()
	if err := c.syncInformers(ctx, o); err != nil {
		return err
	}

	if !cfg.LeaderElection.LeaderElect {
		c.metrics.IsLeader.Set(1)
		g.Go(func() error { c.sched.Run(gctx); return nil })
		err := g.Wait()
		defer c.factory.Shutdown()
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	err = runLeaderElected(gctx, cfg.LeaderElection, c.leClient, o.Identity, c.metrics, c.sched.Run)
	cancel()
	_ = g.Wait()
	c.factory.Shutdown()
	return err
}

// components are what Run wires together before anything runs: one API
// client per purpose (each with its own user agent and rate limits), the
// metrics, the informers, the scheduler and the HTTP server.
type components struct {
	leClient    kubernetes.Interface
	metrics     *metrics.Metrics
	factory     informers.SharedInformerFactory
	dynFactory  dynamicinformer.DynamicSharedInformerFactory
	broadcaster events.EventBroadcaster
	sched       *scheduler.Scheduler
	srv         *server
}

// wire builds the components; it fails fast when the API server cannot be
// reached or the configuration does not make a scheduler.
func wire(ctx context.Context, o *RunOptions, cfg *config.Config, reg framework.Registry) (*components, error) {
	logger := klog.FromContext(ctx)
	restCfg, err := restConfig(o, cfg)
	if err != nil {
		return nil, err
	}
	newClient := func(name string) (kubernetes.Interface, error) {
		c := rest.CopyConfig(restCfg)
		c.UserAgent = "berth/" + name
		return kubernetes.NewForConfig(c)
	}
	informerClient, err := newClient("informers")
	if err != nil {
		return nil, err
	}
	bindClient, err := newClient("binder")
	if err != nil {
		return nil, err
	}
	statusClient, err := newClient("status")
	if err != nil {
		return nil, err
	}
	leClient, err := newClient("leader-election")
	if err != nil {
		return nil, err
	}
	if err := checkReachable(ctx, informerClient); err != nil {
		return nil, err
	}

	promReg := prometheus.NewRegistry()
	promReg.MustRegister(runtimeCollectors()...)
	// The load-aware metrics are package-level: sources are shared by
	// every profile (and explain's evaluator) in the process.
	promReg.MustRegister(metricsource.Collectors()...)
	// So are the GPU metrics, which every GPUShare instance publishes.
	promReg.MustRegister(gpushare.Collectors()...)
	m := metrics.New(promReg)

	factory := informers.NewSharedInformerFactoryWithOptions(informerClient, 0, informers.WithTransform(scheduler.StripManagedFields))
	// Custom resources that plugins declare as event sources are watched
	// through the dynamic client; nothing is listed unless one does.
	dynCfg := rest.CopyConfig(restCfg)
	dynCfg.UserAgent = "berth/informers"
	dynClient, err := dynamic.NewForConfig(dynCfg)
	if err != nil {
		return nil, err
	}
	dynFactory := dynamicinformer.NewDynamicSharedInformerFactory(dynClient, 0)
	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: statusClient.EventsV1()})
	// Run has already refused a bad value.
	byName, _ := parseTieBreak(o.TieBreak)
	sched, err := scheduler.New(ctx, scheduler.Options{
		Config: cfg, Registry: reg, InformerFactory: factory, DynamicInformerFactory: dynFactory,
		BindClient: bindClient, StatusClient: statusClient, EventBroadcaster: broadcaster,
		Metrics: m, BindConcurrency: o.BindConcurrency, TieBreakByName: byName,
		AssumedPodTTL: o.AssumedPodTTL, ConsistencyCheckInterval: o.ConsistencyCheckInterval,
	})
	if err != nil {
		return nil, err
	}
	for name, p := range sched.Profiles() {
		logger.Info("Profile configured", "schedulerName", name, "plugins", p.ListPlugins())
	}
	// /debug/explain evaluates pods with profiles of its own over the
	// scheduler's cache; they register their informers before the start.
	ev, err := sched.NewEvaluator(ctx, cfg, reg, bindClient)
	if err != nil {
		return nil, fmt.Errorf("building the /debug/explain evaluator: %w", err)
	}
	srv, err := newServer(o, promReg, explainHandler(explain.New(ev), factory.Core().V1().Pods().Lister()))
	if err != nil {
		return nil, err
	}
	return &components{leClient: leClient, metrics: m, factory: factory, dynFactory: dynFactory, broadcaster: broadcaster, sched: sched, srv: srv}, nil
}

// syncInformers starts the informers and waits for their caches, then
// marks the server ready. Standby replicas do this too, so that a
// takeover schedules at once.
func (c *components) syncInformers(ctx context.Context, o *RunOptions) error {
	logger := klog.FromContext(ctx)
	c.factory.Start(ctx.Done())
	logger.Info("Waiting for informers to sync")
	start := time.Now()
	for typ, ok := range c.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("informer for %v did not sync", typ)
		}
	}
	c.dynFactory.Start(ctx.Done())
	for gvr, ok := range c.dynFactory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("informer for %v did not sync", gvr)
		}
	}
	if err := c.sched.WaitForHandlersSync(ctx); err != nil {
		return err
	}
	logger.Info("Informers synced", "duration", time.Since(start).Round(time.Millisecond))
	c.srv.setSynced()
	if o.Ready != nil {
		close(o.Ready)
	}
	return nil
}

func restConfig(o *RunOptions, cfg *config.Config) (*rest.Config, error) {
	path := o.Kubeconfig
	if path == "" {
		path = cfg.ClientConnection.Kubeconfig
	}
	var rc *rest.Config
	var err error
	if path != "" {
		rc, err = clientcmd.BuildConfigFromFlags("", path)
	} else {
		rc, err = rest.InClusterConfig()
		if err != nil {
			err = fmt.Errorf("no --kubeconfig given and not running in a cluster: %w", err)
		}
	}
	if err != nil {
		return nil, err
	}
	if o.WrapTransport != nil {
		rc.Wrap(o.WrapTransport)
	}
	rc.QPS = cfg.ClientConnection.QPS
	rc.Burst = int(cfg.ClientConnection.Burst)
	rc.ContentType = cfg.ClientConnection.ContentType
	rc.AcceptContentTypes = cfg.ClientConnection.ContentType + ",application/json"
	return rc, nil
}

// checkReachable fails fast, with the address, when the API server cannot
// be reached, instead of letting informers retry silently forever.
func checkReachable(ctx context.Context, c kubernetes.Interface) error {
	var lastErr error
	for i := 0; i < 5; i++ {
		if _, err := c.Discovery().ServerVersion(); err == nil {
			return nil
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(i+1) * 500 * time.Millisecond):
		}
	}
	return fmt.Errorf("cannot reach the API server: %w", lastErr)
}

func writeConfig(cfg *config.Config, path string, out interface{ Write([]byte) (int, error) }) error {
	b, err := yaml.Marshal(cfg.Effective())
	if err != nil {
		return err
	}
	if path == "-" {
		_, err = out.Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// runtimeCollectors are the Go runtime and process metrics every berth
// command that serves /metrics exports: the client library's defaults
// (go_memstats_*, go_goroutines, process_*) plus go_gc_heap_live_bytes,
// the heap the last GC left live. go_memstats_heap_inuse_bytes also
// counts garbage not yet collected, so it rises and falls with the GC's
// pacing; the live heap is what shows a leak (make soak plots it).
func runtimeCollectors() []prometheus.Collector {
	return []prometheus.Collector{
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
}
