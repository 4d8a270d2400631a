package promtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/berthsched/berth/internal/testenv"
)

// ReadyTimeout bounds how long StartServer and Relaunch wait for /-/ready.
const ReadyTimeout = 30 * time.Second

// closeGrace is how long Close waits after SIGTERM before it kills.
const closeGrace = 15 * time.Second

// Server is a real Prometheus server run by a test (or a command such as
// the demo), so that code reading node utilisation is tested against
// Prometheus's own scraping, query engine, staleness handling and
// restarts.
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:<port>, the address
	// to give the code under test.
	URL string

	bin     string
	args    []string
	logPath string
	api     v1.API
	cmd     *exec.Cmd
	done    chan struct{}
}

// ServerOptions configures StartServer.
type ServerOptions struct {
	// BinDir holds the prometheus binary; empty means testenv.BinDir()
	// (bin/, or $BERTH_BIN_DIR).
	BinDir string
	// Dir is an existing directory for the generated prometheus.yml and
	// the storage (Dir/data); the caller removes it after Close.
	Dir string
	// ScrapeInterval is the scrape (and evaluation) interval; it must be
	// positive.
	ScrapeInterval time.Duration
	// Targets are the "host:port" addresses scraped, e.g. Exporter.Addr().
	Targets []string
	// LogPath is the file Prometheus's output is appended to; empty
	// means Dir/prometheus.log.
	LogPath string
}

// StartServer runs BinDir/prometheus scraping o.Targets every
// o.ScrapeInterval with honor_labels (so the exporter's instance label is
// kept), its config and storage in o.Dir and its web API on a free
// loopback port, and waits until /-/ready answers 200. The first scrape
// follows about 5 s later (Prometheus throttles target discovery updates
// to one per 5 s, with no way to lower that in 2.42): use AwaitSeries
// before reading. A missing binary is an error saying how to get one (run
// make build, which runs hack/ensure-prometheus.sh). The server dies with
// the calling process; Close stops it.
func StartServer(o ServerOptions) (*Server, error) {
	dir := o.BinDir
	if dir == "" {
		var err error
		if dir, err = testenv.BinDir(); err != nil {
			return nil, fmt.Errorf("promtest: %v", err)
		}
	}
	bin := filepath.Join(dir, "prometheus")
	if st, err := os.Stat(bin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("promtest: no Prometheus binary at %s: run make build (hack/ensure-prometheus.sh) to fetch it", bin)
	}
	if o.ScrapeInterval <= 0 {
		return nil, fmt.Errorf("promtest: scrape interval %v must be positive", o.ScrapeInterval)
	}
	if o.Dir == "" {
		return nil, fmt.Errorf("promtest: ServerOptions.Dir is required")
	}
	cfg := filepath.Join(o.Dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(config(o.ScrapeInterval, o.Targets)), 0o644); err != nil {
		return nil, fmt.Errorf("promtest: %v", err)
	}
	s := &Server{bin: bin, logPath: o.LogPath}
	if s.logPath == "" {
		s.logPath = filepath.Join(o.Dir, "prometheus.log")
	}
	// A free port may be taken before Prometheus binds it: retry with
	// fresh ones.
	for attempt := 1; ; attempt++ {
		ports, err := testenv.FreePorts(1)
		if err != nil {
			return nil, fmt.Errorf("promtest: %v", err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
		s.URL = "http://" + addr
		s.args = []string{
			"--config.file=" + cfg,
			"--storage.tsdb.path=" + filepath.Join(o.Dir, "data"),
			"--web.listen-address=" + addr,
		}
		err = s.start()
		if err == nil {
			break
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return nil, fmt.Errorf("promtest: %v", err)
		}
	}
	client, err := api.NewClient(api.Config{Address: s.URL})
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("promtest: %v", err)
	}
	s.api = v1.NewAPI(client)
	return s, nil
}

// Start runs testenv.BinDir()/prometheus (bin/prometheus, or
// $BERTH_BIN_DIR/prometheus) as StartServer does, its storage and log in
// t.TempDir(), failing the test if it cannot (a missing binary included:
// the load-aware tests must not silently skip). The first scrape follows
// about 5 s later: use WaitForSeries before reading. The server dies with
// the test binary; when t ends it is closed, and if t failed the tail of
// its log is printed.
func Start(t testing.TB, scrapeInterval time.Duration, targets ...string) *Server {
	t.Helper()
	tmp := t.TempDir()
	logPath := filepath.Join(tmp, "prometheus.log")
	s, err := StartServer(ServerOptions{Dir: tmp, ScrapeInterval: scrapeInterval, Targets: targets, LogPath: logPath})
	t.Cleanup(func() {
		if s != nil {
			_ = s.Close()
		}
		if _, err := os.Stat(logPath); err == nil && t.Failed() {
			t.Logf("last lines of the Prometheus log %s:\n%s", logPath, testenv.TailFile(logPath, 40))
		}
	})
	if err != nil {
		t.Fatalf("%v", err)
	}
	return s
}

// Close stops the server (SIGTERM, then SIGKILL if it still runs
// closeGrace later) and waits until it is gone; it leaves the directory
// to its owner. Closing a stopped server does nothing.
func (s *Server) Close() error {
	if s.cmd == nil || s.exited() {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(closeGrace):
		_ = s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("promtest: prometheus did not exit within %v of SIGTERM; killed it", closeGrace)
	}
}

// config is the generated prometheus.yml: one job scraping targets.
func config(interval time.Duration, targets []string) string {
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + "ms" }
	timeout := min(interval, 10*time.Second)
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = strconv.Quote(tg)
	}
	return fmt.Sprintf(`global:
  scrape_interval: %[1]s
  scrape_timeout: %[2]s
  evaluation_interval: %[1]s
scrape_configs:
  - job_name: promtest
    honor_labels: true
    static_configs:
      - targets: [%[3]s]
`, ms(interval), ms(timeout), strings.Join(quoted, ", "))
}

// start runs the binary with s.args, its output appended to the log, and
// waits for /-/ready.
func (s *Server) start() error {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "--- promtest: %s %s\n", s.bin, strings.Join(s.args, " "))
	cmd := exec.Command(s.bin, s.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %v", s.bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	s.cmd, s.done = cmd, done

	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(ReadyTimeout)
	last := "no answer yet"
	for {
		select {
		case <-done:
			tail := testenv.TailFile(s.logPath, 20)
			if strings.Contains(tail, "address already in use") {
				return fmt.Errorf("prometheus could not listen (address already in use): %s", tail)
			}
			return fmt.Errorf("prometheus exited during startup (%v); last lines of %s:\n%s", cmd.ProcessState, s.logPath, tail)
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := hc.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("prometheus not ready after %v (%s); last lines of %s:\n%s", ReadyTimeout, last, s.logPath, testenv.TailFile(s.logPath, 20))
		}
	}
}

func (s *Server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Kill kills the server with SIGKILL, as a crash or an OOM kill would (no
// flush, no shutdown), and waits until it is gone: its API then refuses
// connections. Relaunch brings it back.
func (s *Server) Kill() error {
	if s.exited() {
		return nil
	}
	if err := s.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("promtest: killing prometheus: %v", err)
	}
	<-s.done
	return nil
}

// Stop is Kill, failing the test if it cannot kill the server.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.Kill(); err != nil {
		t.Fatalf("%v", err)
	}
}

// Relaunch starts the server again (killing it first if it still runs) on
// the same port, config and storage, so URL stays valid and the series
// scraped before survive (Prometheus replays its write-ahead log), and
// waits until it is ready. As after StartServer, scraping resumes about
// 5 s later; until then instant queries return the last samples from
// before the kill (within the 5 m lookback), stale or not.
func (s *Server) Relaunch() error {
	if err := s.Kill(); err != nil {
		return err
	}
	if err := s.start(); err != nil {
		return fmt.Errorf("promtest: restart: %v", err)
	}
	return nil
}

// Restart is Relaunch, failing the test if the server does not come back.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.Relaunch(); err != nil {
		t.Fatalf("%v", err)
	}
}

// Query runs the instant query q now and returns its result, failing the
// test if the query fails or its result is not an instant vector.
func (s *Server) Query(t testing.TB, q string) model.Vector {
	t.Helper()
	v, err := s.query(q)
	if err != nil {
		t.Fatalf("promtest: %v", err)
	}
	return v
}

func (s *Server) query(q string) (model.Vector, error) {
	return s.QueryContext(context.Background(), q)
}

// QueryContext runs the instant query q now (within 5 s and ctx) and
// returns its result; an error says which query failed, or that its
// result is not an instant vector.
func (s *Server) QueryContext(ctx context.Context, q string) (model.Vector, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, _, err := s.api.Query(ctx, q, time.Now())
	if err != nil {
		return nil, fmt.Errorf("query %s: %v", q, err)
	}
	v, ok := res.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("query %s: got a %s, not an instant vector", q, res.Type())
	}
	return v, nil
}

// AwaitSeries waits up to timeout until the instant query q returns at
// least n series, typically to know that a target has been scraped before
// the code under test reads from the server. It returns ctx's error if
// ctx ends first, and otherwise after timeout an error with the last
// result or query error.
func (s *Server) AwaitSeries(ctx context.Context, q string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		v, err := s.QueryContext(ctx, q)
		if err == nil && len(v) >= n {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("promtest: waited %v for %d series of %s: %v", timeout, n, q, err)
			}
			return fmt.Errorf("promtest: waited %v for %d series of %s; it returns %d: %v", timeout, n, q, len(v), v)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// WaitForSeries is AwaitSeries, failing the test on timeout.
func (s *Server) WaitForSeries(t testing.TB, q string, n int, timeout time.Duration) {
	t.Helper()
	if err := s.AwaitSeries(context.Background(), q, n, timeout); err != nil {
		t.Fatalf("%v", err)
	}
}
