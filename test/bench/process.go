package bench

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berthsched/berth/internal/testenv"
)

// Scheduler names as they appear in reports.
const (
	KubeScheduler = "kube-scheduler"
	Berth         = "berth"
	Ceiling       = "ceiling"
)

// schedulerNameFor is the spec.schedulerName measured pods get in a run.
func schedulerNameFor(s string) string {
	switch s {
	case KubeScheduler:
		return "default-scheduler"
	case Berth:
		return "berth"
	default:
		// Nobody schedules these: the ceiling binder binds them.
		return "bench-ceiling"
	}
}

// schedulerConfig is the KubeSchedulerConfiguration both schedulers get:
// the same client QPS/burst, no leader election, default profile.
func schedulerConfig(kubeconfig string, qps float32, burst int32) string {
	return fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %s
  qps: %g
  burst: %d
leaderElection:
  leaderElect: false
`, kubeconfig, qps, burst)
}

// process is a scheduler child process.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	waitErr error
}

// startScheduler starts kube-scheduler or berth against kubeconfig, logging
// to logDir/<logName>.log. featureGates, if not empty, is kube-scheduler's
// --feature-gates value (berth has no such flag).
func startScheduler(which, binDir, kubeconfig, logDir, logName string, qps float32, burst int32, featureGates string) (*process, error) {
	cfgPath := filepath.Join(logDir, logName+".config.yaml")
	if err := os.WriteFile(cfgPath, []byte(schedulerConfig(kubeconfig, qps, burst)), 0o644); err != nil {
		return nil, err
	}
	var args []string
	switch which {
	case KubeScheduler:
		// --secure-port=0: no HTTPS serving, hence no need for
		// authentication/authorization kubeconfigs. Readiness is checked by
		// scheduling a warm-up pod instead.
		args = []string{filepath.Join(binDir, "kube-scheduler"), "--config", cfgPath, "--secure-port=0", "-v=0"}
		if featureGates != "" {
			args = append(args, "--feature-gates="+featureGates)
		}
	case Berth:
		ports, err := testenv.FreePorts(1)
		if err != nil {
			return nil, err
		}
		port := ports[0]
		args = []string{filepath.Join(binDir, "berth"), "run", "--config", cfgPath, "--kubeconfig", kubeconfig,
			"--leader-elect=false", "--health-address", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "-v=0"}
	default:
		return nil, fmt.Errorf("no process for scheduler %q", which)
	}
	if _, err := os.Stat(args[0]); err != nil {
		return nil, fmt.Errorf("%s not found: run `make build` first (%v)", args[0], err)
	}
	p := &process{name: which, logPath: filepath.Join(logDir, logName+".log"), exited: make(chan struct{})}
	logf, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	// The command line heads the log, so the log says which flags ran.
	fmt.Fprintf(logf, "# %s\n", strings.Join(args, " "))
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// alive reports an error if the process has exited.
func (p *process) alive() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited (%v); log tail:\n%s", p.name, p.waitErr, testenv.TailFile(p.logPath, 15))
	default:
		return nil
	}
}

// stop sends SIGTERM, then SIGKILL after grace.
func (p *process) stop(grace time.Duration) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// procCPUSeconds returns utime+stime of pid from /proc/PID/stat.
func procCPUSeconds(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces; fields after ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	return (ut + st) / clockTicks, nil
}

// clockTicks is sysconf(_SC_CLK_TCK), 100 on every Linux platform Go
// supports.
const clockTicks = 100

// procPeakRSSMiB returns VmHWM of pid in MiB.
func procPeakRSSMiB(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, err := strconv.ParseFloat(f[0], 64)
				if err != nil {
					return 0, err
				}
				return kb / 1024, nil
			}
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
