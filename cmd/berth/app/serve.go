package app

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
	"k8s.io/klog/v2"
)

// addHealth serves /healthz and /livez (the process answers), /readyz
// (ready reports that the caches have synced) and /metrics of reg on mux,
// for the commands that serve plain HTTP beside their work (webhook,
// extender).
func addHealth(mux *http.ServeMux, ready func() bool, reg *prometheus.Registry) {
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }
	mux.HandleFunc("/healthz", ok)
	mux.HandleFunc("/livez", ok)
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if !ready() {
			http.Error(w, "informer caches not synced", http.StatusServiceUnavailable)
			return
		}
		ok(w, r)
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
}

// serveAll listens on every server's Addr, failing before anything is
// served if one cannot, and serves each (over TLS when it has a
// TLSConfig, whose GetCertificate supplies the certificate) in the
// returned group until ctx ends or one fails; then all are shut down,
// requests in flight getting up to grace to finish. Add more work to the
// group with its context, then Wait.
func serveAll(ctx context.Context, grace time.Duration, servers ...*http.Server) (*errgroup.Group, context.Context, error) {
	logger := klog.FromContext(ctx)
	lns := make([]net.Listener, len(servers))
	for i, s := range servers {
		ln, err := net.Listen("tcp", s.Addr)
		if err != nil {
			for _, l := range lns[:i] {
				l.Close()
			}
			return nil, nil, err
		}
		lns[i] = ln
	}
	g, gctx := errgroup.WithContext(ctx)
	for i, s := range servers {
		ln, tls := lns[i], s.TLSConfig != nil
		logger.Info("Serving", "address", ln.Addr().String(), "tls", tls)
		g.Go(func() error {
			var err error
			if tls {
				err = s.ServeTLS(ln, "", "")
			} else {
				err = s.Serve(ln)
			}
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		logger.Info("Shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		var errs []error
		for _, s := range servers {
			errs = append(errs, s.Shutdown(sctx))
		}
		return errors.Join(errs...)
	})
	return g, gctx, nil
}
