package chaos

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/berthsched/berth/internal/testenv"
)

// berthProc is one bin/berth run process of a scenario.
type berthProc struct {
	name string
	cmd  *exec.Cmd
	log  string
	addr string // its plain-HTTP health and metrics address
	done chan struct{}
}

// startBerth runs bin/berth run with kubeconfig, its /readyz and /metrics
// on a free port, -v=2 (each bind is logged) and args, logging to
// dir/name.log, and waits until it is ready (informers synced; standbys
// too). It dies with this process (Pdeathsig).
func startBerth(ctx context.Context, dir, name, kubeconfig string, args ...string) (*berthProc, error) {
	bin, err := testenv.BinDir()
	if err != nil {
		return nil, err
	}
	ports, err := testenv.FreePorts(1)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	logPath := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	all := append([]string{"run", "--kubeconfig", kubeconfig, "--health-address", addr, "-v=2", "--logtostderr"}, args...)
	cmd := exec.Command(filepath.Join(bin, "berth"), all...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w (run make build first)", cmd.Path, err)
	}
	p := &berthProc{name: name, cmd: cmd, log: logPath, addr: addr, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	if err := p.waitReady(ctx, 90*time.Second); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

func (p *berthProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *berthProc) waitReady(ctx context.Context, timeout time.Duration) error {
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		if p.exited() {
			return fmt.Errorf("%s exited during startup (%v); its log ends:\n%s", p.name, p.cmd.ProcessState, testenv.TailFile(p.log, 20))
		}
		resp, err := hc.Get("http://" + p.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %v; its log ends:\n%s", p.name, timeout, testenv.TailFile(p.log, 20))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// kill SIGKILLs the process, as a crash or an OOM kill would, and waits
// until it is gone.
func (p *berthProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop sends SIGTERM and waits (SIGKILL after 15 s).
func (p *berthProc) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.kill()
	}
}

// assumed reads the berth_cache_size{type="assumed_pods"} gauge.
func (p *berthProc) assumed() (float64, error) {
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get("http://" + p.addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("%s /metrics: %w", p.name, err)
	}
	if f := fams["berth_cache_size"]; f != nil {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "type" && l.GetValue() == "assumed_pods" {
					return m.GetGauge().GetValue(), nil
				}
			}
		}
	}
	return 0, nil
}

var boundLine = regexp.MustCompile(`"Successfully bound pod to node".*pod="([^"]+)"`)

// binds counts the "Successfully bound pod to node" lines per pod in a
// berth log.
func binds(path string, into map[string]int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if m := boundLine.FindStringSubmatch(sc.Text()); m != nil {
			into[m[1]]++
		}
	}
	return sc.Err()
}

// crashes returns the panics and fatal errors in a berth log.
func crashes(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "fatal error:") || strings.Contains(l, "DATA RACE") {
			out = append(out, l)
		}
	}
	return out
}
