package bench

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/testenv"
)

// Scheduler names as they appear in reports and in --schedulers.
const (
	KubeScheduler = "kube-scheduler"
	Berth         = "berth"
	// BerthExtender is the stock kube-scheduler consulting `berth
	// extender` over HTTP for every pod (filter, prioritize, preempt and
	// bind): the shell for clusters that keep their kube-scheduler binary.
	BerthExtender = "berth-extender"
	// PluginMode is kube-scheduler-berth, kube-scheduler with berth's
	// plugins compiled in: the shell for clusters that can swap the binary
	// but keep kube-scheduler's cycle.
	PluginMode = "plugin-mode"
	Ceiling    = "ceiling"
)

// knownSchedulers are the runs the harness can measure, in report order.
var knownSchedulers = []string{KubeScheduler, Berth, BerthExtender, PluginMode, Ceiling}

// defaultSchedulers is the run list of a workload when --schedulers is not
// given: the shells only where the workload asks for them (each is one
// more run, and make bench's time matters).
func defaultSchedulers(w *Workload) []string {
	if w.Shells {
		return []string{KubeScheduler, Berth, BerthExtender, PluginMode, Ceiling}
	}
	return []string{KubeScheduler, Berth, Ceiling}
}

// schedulerNameFor is the spec.schedulerName measured pods get in a run.
func schedulerNameFor(s string) string {
	switch s {
	case KubeScheduler:
		return "default-scheduler"
	case Berth:
		return "berth"
	case BerthExtender:
		return extenderProfile
	case PluginMode:
		return pluginModeProfile
	default:
		// Nobody schedules these: the ceiling binder binds them.
		return "bench-ceiling"
	}
}

// Profile names of the shells' kube-scheduler configurations, so that a
// shell never takes pods meant for another run.
const (
	extenderProfile   = "berth-extended"
	pluginModeProfile = "berth-plugins"
)

// schedulerConfig is the KubeSchedulerConfiguration every scheduler gets:
// the same client QPS/burst, no leader election, default profile. The
// shells add their profile (and extender stanza) to it.
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

// extenderSchedulerConfig is the stock kube-scheduler's configuration in
// the berth-extender run: its default plugins in a profile of its own,
// and berth as an extender as docs/extender.md recommends for GPU sharing
// (every verb including bind, node names only, weight 10, not ignorable,
// no managedResources so that every pod goes through berth).
func extenderSchedulerConfig(kubeconfig string, qps float32, burst int32, extenderURL string) string {
	return schedulerConfig(kubeconfig, qps, burst) + fmt.Sprintf(`profiles:
- schedulerName: %s
extenders:
- urlPrefix: %s
  filterVerb: filter
  prioritizeVerb: prioritize
  preemptVerb: preempt
  bindVerb: bind
  weight: 10
  nodeCacheCapable: true
  ignorable: false
  httpTimeout: 30s
`, extenderProfile, extenderURL)
}

// pluginModeConfig is kube-scheduler-berth's configuration in the
// plugin-mode run: kube-scheduler's default plugins plus berth's, as in
// deploy/plugin-mode (LoadAware left out: it needs a metric source).
func pluginModeConfig(kubeconfig string, qps float32, burst int32) string {
	return schedulerConfig(kubeconfig, qps, burst) + fmt.Sprintf(`profiles:
- schedulerName: %s
  plugins:
    multiPoint:
      enabled:
      - name: GPUShare
        weight: 5
      - name: NodePreference
        weight: 3
      - name: NetworkAware
      - name: StorageLocality
  pluginConfig:
  - name: GPUShare
    args:
      policy: FGD
`, pluginModeProfile)
}

// process is a scheduler child process.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	waitErr error
	// metricsURL is where berth extender serves /metrics (the extender
	// only).
	metricsURL string
	// pprofURL is where berth run serves /debug/pprof (berth only; the
	// harness's --profile-seconds takes its CPU profile there).
	pprofURL string
}

// procGroup is the processes of one scheduler under test: one, or for
// berth-extender kube-scheduler and then the extender it calls. Their CPU
// time and peak RSS are reported summed.
type procGroup []*process

// startScheduler starts the processes of scheduler which against
// kubeconfig, logging to logDir/<logName>.log (the extender to
// <logName>-extender.log). featureGates, if not empty, is kube-scheduler's
// --feature-gates value (for kube-scheduler, berth-extender's
// kube-scheduler and plugin-mode; berth has no such flag).
func startScheduler(which, binDir, kubeconfig, logDir, logName string, qps float32, burst int32, featureGates string) (procGroup, error) {
	writeConfig := func(name, content string) (string, error) {
		path := filepath.Join(logDir, name+".config.yaml")
		return path, os.WriteFile(path, []byte(content), 0o644)
	}
	// --secure-port=0: no HTTPS serving, hence no need for
	// authentication/authorization kubeconfigs. Readiness is checked by
	// scheduling a warm-up pod instead.
	kubeScheduler := func(bin, cfgPath string) []string {
		args := []string{filepath.Join(binDir, bin), "--config", cfgPath, "--secure-port=0", "-v=0"}
		if featureGates != "" {
			args = append(args, "--feature-gates="+featureGates)
		}
		return args
	}
	var content string
	switch which {
	case KubeScheduler, Berth:
		content = schedulerConfig(kubeconfig, qps, burst)
	case PluginMode:
		content = pluginModeConfig(kubeconfig, qps, burst)
	case BerthExtender:
		// berth's own configuration for the extender: the same client
		// settings, berth's default profile.
		content = schedulerConfig(kubeconfig, qps, burst)
	default:
		return nil, fmt.Errorf("no process for scheduler %q", which)
	}
	cfgPath, err := writeConfig(logName, content)
	if err != nil {
		return nil, err
	}
	switch which {
	case KubeScheduler:
		p, err := startProcess(which, kubeScheduler("kube-scheduler", cfgPath), filepath.Join(logDir, logName+".log"))
		return procGroup{p}, err
	case PluginMode:
		p, err := startProcess(which, kubeScheduler("kube-scheduler-berth", cfgPath), filepath.Join(logDir, logName+".log"))
		return procGroup{p}, err
	case Berth:
		addr, err := freeAddress()
		if err != nil {
			return nil, err
		}
		// pprof costs nothing until asked, and lets any run be profiled.
		p, err := startProcess(which, []string{filepath.Join(binDir, "berth"), "run", "--config", cfgPath, "--kubeconfig", kubeconfig,
			"--leader-elect=false", "--health-address", addr, "--enable-pprof", "-v=0"}, filepath.Join(logDir, logName+".log"))
		if p != nil {
			p.pprofURL = "http://" + addr + "/debug/pprof"
		}
		return procGroup{p}, err
	}
	// BerthExtender: the extender first, kube-scheduler once the extender
	// is ready (before that its verbs answer errors and kube-scheduler
	// would back the warm-up pod off).
	addr, err := freeAddress()
	if err != nil {
		return nil, err
	}
	ext, err := startProcess("berth extender", []string{filepath.Join(binDir, "berth"), "extender", "--config", cfgPath,
		"--kubeconfig", kubeconfig, "--address", addr, "-v=0"}, filepath.Join(logDir, logName+"-extender.log"))
	if err != nil {
		return nil, err
	}
	url := "http://" + addr
	ext.metricsURL = url + "/metrics"
	if err := waitReady(ext, url+"/readyz", 90*time.Second); err != nil {
		ext.stop(15 * time.Second)
		return nil, err
	}
	ksCfg, err := writeConfig(logName+"-kube-scheduler", extenderSchedulerConfig(kubeconfig, qps, burst, url))
	if err != nil {
		ext.stop(15 * time.Second)
		return nil, err
	}
	ks, err := startProcess("kube-scheduler", kubeScheduler("kube-scheduler", ksCfg), filepath.Join(logDir, logName+".log"))
	if err != nil {
		ext.stop(15 * time.Second)
		return nil, err
	}
	// kube-scheduler first: stop stops it before the extender it calls.
	return procGroup{ks, ext}, nil
}

// freeAddress is a free 127.0.0.1:port to serve on.
func freeAddress() (string, error) {
	ports, err := testenv.FreePorts(1)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])), nil
}

// waitReady polls url until it answers 200, p exits or timeout passes.
func waitReady(p *process, url string, timeout time.Duration) error {
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for time.Now().Before(deadline) {
		if err := p.alive(); err != nil {
			return err
		}
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s (%s); log tail:\n%s", p.name, timeout, last, testenv.TailFile(p.logPath, 15))
}

// startProcess starts args[0] with its output in logPath.
func startProcess(name string, args []string, logPath string) (*process, error) {
	if _, err := os.Stat(args[0]); err != nil {
		return nil, fmt.Errorf("%s not found: run `make build` first (%v)", args[0], err)
	}
	p := &process{name: name, logPath: logPath, exited: make(chan struct{})}
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

// alive reports an error if any process of the group has exited.
func (g procGroup) alive() error {
	for _, p := range g {
		if err := p.alive(); err != nil {
			return err
		}
	}
	return nil
}

// stop stops the processes in order (see process.stop).
func (g procGroup) stop(grace time.Duration) {
	for _, p := range g {
		p.stop(grace)
	}
}

// logTail is the last n lines of every process's log.
func (g procGroup) logTail(n int) string {
	var b strings.Builder
	for _, p := range g {
		fmt.Fprintf(&b, "[%s] %s\n", p.name, testenv.TailFile(p.logPath, n))
	}
	return b.String()
}

// cpuSeconds is procCPUSeconds of every process (0 where it could not be
// read).
func (g procGroup) cpuSeconds() []float64 {
	out := make([]float64, len(g))
	for i, p := range g {
		out[i], _ = procCPUSeconds(p.pid())
	}
	return out
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

// usage reads every process's CPU time since cpu0 (from cpuSeconds) and
// its peak RSS, and sums them. A figure that cannot be read for some
// process leaves that sum nil rather than understate it.
func (g procGroup) usage(cpu0 []float64) (parts []ProcessUsage, cpu, rss *float64) {
	var cpuSum, rssSum float64
	cpuOK, rssOK := true, true
	for i, p := range g {
		u := ProcessUsage{Name: p.name}
		if c, err := procCPUSeconds(p.pid()); err == nil {
			u.CPUSeconds = round3(c - cpu0[i])
		} else {
			cpuOK = false
		}
		if m, err := procPeakRSSMiB(p.pid()); err == nil {
			u.PeakRSSMiB = round3(m)
		} else {
			rssOK = false
		}
		cpuSum += u.CPUSeconds
		rssSum += u.PeakRSSMiB
		parts = append(parts, u)
	}
	if cpuOK {
		cpu = ptr.To(round3(cpuSum))
	}
	if rssOK {
		rss = ptr.To(round3(rssSum))
	}
	return parts, cpu, rss
}
