package app

import (
	"context"
	"errors"
	"flag"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/informers"
	"k8s.io/klog/v2"
)

// server serves the health, readiness and metrics endpoints.
type server struct {
	opts    *RunOptions
	handler http.Handler
	synced  atomic.Bool
}

func newServer(o *RunOptions, reg *prometheus.Registry, _ informers.SharedInformerFactory) *server {
	s := &server{opts: o}
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
	if o.EnablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	s.handler = mux
	return s
}

func (s *server) setSynced() { s.synced.Store(true) }

// serve runs until ctx is done. An address of "0" disables the server.
func (s *server) serve(ctx context.Context) error {
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
