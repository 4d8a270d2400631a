package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/klog/v2"
)

// server serves the health, readiness and metrics endpoints: in plain
// HTTP on --health-address (meant for localhost and development), and,
// when --secure-port is set, over HTTPS with authentication and
// authorization delegated to the API server (see secure.go).
type server struct {
	opts    *RunOptions
	handler http.Handler
	secure  *secureServing
	synced  atomic.Bool
}

// newServer builds the handlers and, if secure serving is enabled, opens
// the HTTPS listener and the delegating authenticator and authorizer, so
// that a bad certificate, a taken port or an unreadable kubeconfig fails
// Run at once.
func newServer(o *RunOptions, reg *prometheus.Registry, explain http.Handler) (*server, error) {
	s := &server{opts: o}
	secure, err := o.Secure.apply(o.Kubeconfig)
	if err != nil {
		return nil, err
	}
	s.secure = secure
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/livez", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		// Ready means the caches are synced: a leader schedules, a standby
		// is ready to take over at once. Both are healthy replicas.
		if !s.synced.Load() {
			http.Error(w, "informers not synced", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	if explain != nil {
		mux.Handle(explainPath, explain)
	}
	if o.EnablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	s.handler = mux
	return s, nil
}

func (s *server) setSynced() { s.synced.Store(true) }

// serve runs the plain and the secure servers until ctx is done and both
// have shut down.
func (s *server) serve(ctx context.Context) error {
	if s.secure == nil {
		return s.servePlain(ctx)
	}
	logger := klog.FromContext(ctx)
	stopped, _, err := s.secure.info.Serve(s.secure.handler(s.handler), 5*time.Second, ctx.Done())
	if err != nil {
		closeListener(s.secure.info)
		return fmt.Errorf("secure serving: %w", err)
	}
	logger.Info("Serving securely", "address", s.secure.info.Listener.Addr().String(), "pprof", s.opts.EnablePprof)
	if err := s.servePlain(ctx); err != nil {
		return err
	}
	<-stopped
	return nil
}

// servePlain runs the plain HTTP server until ctx is done. An address of
// "" or "0" disables it.
func (s *server) servePlain(ctx context.Context) error {
	ln := s.opts.Listener
	if ln == nil {
		if s.opts.HealthAddress == "" || s.opts.HealthAddress == "0" {
			<-ctx.Done()
			return nil
		}
		var err error
		ln, err = net.Listen("tcp", s.opts.HealthAddress)
		if err != nil {
			return err
		}
	}
	klog.FromContext(ctx).Info("Serving health and metrics", "address", ln.Addr().String(), "pprof", s.opts.EnablePprof)
	hs := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// goflagSet exposes klog's flags (-v, --vmodule, ...) on the command.
func goflagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	return fs
}
