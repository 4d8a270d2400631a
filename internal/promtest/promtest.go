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

// ReadyTimeout bounds how long Start and Restart wait for /-/ready.
const ReadyTimeout = 30 * time.Second

// Server is a real Prometheus server run by a test, so that code reading
// node utilisation is tested against Prometheus's own scraping, query
// engine, staleness handling and restarts.
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

// Start runs testenv.BinDir()/prometheus (bin/prometheus, or
// $BERTH_BIN_DIR/prometheus) scraping targets ("host:port", e.g.
// Exporter.Addr()) every scrapeInterval with honor_labels (so the
// exporter's instance label is kept), its storage and log in t.TempDir()
// and its web API on a free loopback port, and waits until /-/ready
// answers 200. The first scrape follows about 5 s later (Prometheus
// throttles target discovery updates to one per 5 s, with no way to lower
// that in 2.42): use WaitForSeries before reading. A missing binary fails the test (run make build, which
// runs hack/ensure-prometheus.sh). The server dies with the test binary;
// when t ends it is stopped, and if t failed the tail of its log is
// printed.
func Start(t testing.TB, scrapeInterval time.Duration, targets ...string) *Server {
	t.Helper()
	dir, err := testenv.BinDir()
	if err != nil {
		t.Fatalf("promtest: %v", err)
	}
	bin := filepath.Join(dir, "prometheus")
	if st, err := os.Stat(bin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		t.Fatalf("promtest: no Prometheus binary at %s: run make build (hack/ensure-prometheus.sh) to fetch it", bin)
	}
	if scrapeInterval <= 0 {
		t.Fatalf("promtest: scrape interval %v must be positive", scrapeInterval)
	}
	tmp := t.TempDir()
	cfg := filepath.Join(tmp, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(config(scrapeInterval, targets)), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Server{bin: bin, logPath: filepath.Join(tmp, "prometheus.log")}
	t.Cleanup(func() {
		if s.cmd != nil && !s.exited() {
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.done:
			case <-time.After(15 * time.Second):
				_ = s.cmd.Process.Kill()
				<-s.done
			}
		}
		if t.Failed() {
			t.Logf("last lines of the Prometheus log %s:\n%s", s.logPath, testenv.TailFile(s.logPath, 40))
		}
	})
	// A free port may be taken before Prometheus binds it: retry with
	// fresh ones.
	for attempt := 1; ; attempt++ {
		ports, err := testenv.FreePorts(1)
		if err != nil {
			t.Fatal(err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
		s.URL = "http://" + addr
		s.args = []string{
			"--config.file=" + cfg,
			"--storage.tsdb.path=" + filepath.Join(tmp, "data"),
			"--web.listen-address=" + addr,
		}
		err = s.start()
		if err == nil {
			break
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatalf("promtest: %v", err)
		}
	}
	client, err := api.NewClient(api.Config{Address: s.URL})
	if err != nil {
		t.Fatal(err)
	}
	s.api = v1.NewAPI(client)
	return s
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

// Stop kills the server with SIGKILL, as a crash or an OOM kill would (no
// flush, no shutdown), and waits until it is gone: its API then refuses
// connections. Restart brings it back.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if s.exited() {
		return
	}
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatalf("promtest: killing prometheus: %v", err)
	}
	<-s.done
}

// Restart starts the server again (killing it first if it still runs) on
// the same port, config and storage, so URL stays valid and the series
// scraped before survive (Prometheus replays its write-ahead log), and
// waits until it is ready. As after Start, scraping resumes about 5 s
// later; until then instant queries return the last samples from before
// the kill (within the 5 m lookback), stale or not.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	if err := s.start(); err != nil {
		t.Fatalf("promtest: restart: %v", err)
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
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
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

// WaitForSeries waits up to timeout until the instant query q returns at
// least n series, typically to know that a target has been scraped before
// the code under test reads from the server; otherwise it fails the test
// with the last result or error.
func (s *Server) WaitForSeries(t testing.TB, q string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, err := s.query(q)
		if err == nil && len(v) >= n {
			return
		}
		if time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("promtest: waited %v for %d series of %s: %v", timeout, n, q, err)
			}
			t.Fatalf("promtest: waited %v for %d series of %s; it returns %d: %v", timeout, n, q, len(v), v)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
