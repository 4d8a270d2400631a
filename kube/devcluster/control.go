package devcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// State is the content of DIR/state.json, written by the supervisor once
// the control plane is ready.
type State struct {
	// PID is the supervisor's process id.
	PID int `json:"pid"`
	// APIServerPID is the kube-apiserver process id.
	APIServerPID int `json:"apiserverPid"`
	// ControllerManagerPID is the kube-controller-manager process id, or 0.
	ControllerManagerPID int `json:"controllerManagerPid,omitempty"`
	// Provisioner is the name of the dynamic volume provisioner running
	// in the supervisor, or empty.
	Provisioner string `json:"provisioner,omitempty"`
	// DRADriver is the name of the fake DRA driver running in the
	// supervisor, or empty.
	DRADriver string `json:"draDriver,omitempty"`
	// APIServerPort is the apiserver secure port.
	APIServerPort int `json:"apiserverPort"`
	// EtcdPort is the etcd client port.
	EtcdPort int `json:"etcdPort"`
	// EtcdPeerPort is the etcd peer port.
	EtcdPeerPort int `json:"etcdPeerPort"`
	// Kubeconfig is the admin kubeconfig path.
	Kubeconfig string `json:"kubeconfig"`
	// Started is when the control plane became ready.
	Started time.Time `json:"started"`
}

// ReadState reads DIR/state.json.
func ReadState(dir string) (*State, error) {
	data, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("parse %s: %v", filepath.Join(dir, StateFile), err)
	}
	return &s, nil
}

// Pids returns all live-or-recorded process ids of the instance.
func (s *State) Pids() []int {
	var pids []int
	for _, p := range []int{s.PID, s.APIServerPID, s.ControllerManagerPID} {
		if p > 0 {
			pids = append(pids, p)
		}
	}
	return pids
}

// ProcessAlive reports whether pid names a running (not zombie) process.
func ProcessAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// Field 3, after the parenthesised command name, is the state.
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z' && stat[i+2] != 'X'
	}
	return true
}

// RunningPID returns the pid of the supervisor running in dir, or 0. It
// trusts the lock, not just the pid file, so a stale pid file left by a
// killed supervisor is not mistaken for a running instance.
func RunningPID(dir string) int {
	if !lockHeld(dir) {
		return 0
	}
	data, err := os.ReadFile(filepath.Join(dir, PIDFile))
	if err != nil {
		return -1 // locked but pid not yet written
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return -1
	}
	return pid
}

// lockHeld reports whether some process holds DIR/devcluster.lock.
func lockHeld(dir string) bool {
	f, err := os.Open(filepath.Join(dir, LockFile))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return true
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

// acquireLock takes DIR/devcluster.lock for the lifetime of the returned
// file. The descriptor is close-on-exec, so children do not inherit it.
func acquireLock(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot create lock file in %s: %v", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, alreadyRunning(dir)
	}
	return f, nil
}

func alreadyRunning(dir string) error {
	pid := RunningPID(dir)
	if pid > 0 {
		return fmt.Errorf("devcluster already running in %s (pid %d); run devcluster down first", dir, pid)
	}
	return fmt.Errorf("devcluster already running in %s; run devcluster down first", dir)
}

// Preflight checks everything that can be checked before starting: the
// data directory can be created and written, no instance runs in it, the
// binaries exist and the ports are free. Each error is one actionable line.
func Preflight(o Options) (Options, error) {
	o, err := o.normalize()
	if err != nil {
		return o, err
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return o, fmt.Errorf("cannot create data directory %s: %v", o.Dir, unwrapPathErr(err))
	}
	probe, err := os.CreateTemp(o.Dir, ".probe-*")
	if err != nil {
		return o, fmt.Errorf("data directory %s is not writable: %v", o.Dir, unwrapPathErr(err))
	}
	probe.Close()
	os.Remove(probe.Name())

	if RunningPID(o.Dir) != 0 {
		return o, alreadyRunning(o.Dir)
	}
	if o.Provisioner {
		if !o.ControllerManager {
			return o, fmt.Errorf("--provisioner needs the controller manager (its PV controller hands claims to the provisioner); drop --controller-manager=false")
		}
		if _, err := o.provisionerOptions(); err != nil {
			return o, err
		}
	}
	bins := []string{APIServerBinary}
	if o.ControllerManager {
		bins = append(bins, ControllerManagerBinary)
	}
	for _, b := range bins {
		st, err := os.Stat(filepath.Join(o.BinDir, b))
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return o, fmt.Errorf("%s not found in %s; run make build (or pass --bin-dir)", b, o.BinDir)
		}
	}
	ports := []struct {
		port int
		flag string
	}{{o.APIServerPort, "--apiserver-port"}, {o.EtcdPort, "--etcd-port"}, {o.EtcdPeerPort, "--etcd-peer-port"}}
	seen := map[int]string{}
	for _, p := range ports {
		if p.port <= 0 || p.port > 65535 {
			return o, fmt.Errorf("invalid port %d for %s", p.port, p.flag)
		}
		if other, dup := seen[p.port]; dup {
			return o, fmt.Errorf("port %d given for both %s and %s; pick distinct ports", p.port, other, p.flag)
		}
		seen[p.port] = p.flag
		if !PortFree(p.port) {
			return o, fmt.Errorf("port %d is in use; pick another with %s or run devcluster down", p.port, p.flag)
		}
	}
	return o, nil
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %v", pe.Path, pe.Err)
	}
	return err
}

// PortFree reports whether a TCP port on 127.0.0.1 can be bound.
func PortFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// serveArgs renders o as "devcluster serve" flags.
func (o Options) serveArgs() []string {
	return []string{
		"serve",
		"--dir=" + o.Dir,
		"--apiserver-port=" + strconv.Itoa(o.APIServerPort),
		"--etcd-port=" + strconv.Itoa(o.EtcdPort),
		"--etcd-peer-port=" + strconv.Itoa(o.EtcdPeerPort),
		"--controller-manager=" + strconv.FormatBool(o.ControllerManager),
		"--bin-dir=" + o.BinDir,
		"--keep-data=" + strconv.FormatBool(o.KeepData),
		"--provisioner=" + strconv.FormatBool(o.Provisioner),
		"--provisioner-capacity=" + o.ProvisionerCapacity,
		"--provisioner-namespace=" + o.ProvisionerNamespace,
		"--dra=" + strconv.FormatBool(o.DRA),
	}
}

// Up starts a detached supervisor ("self serve ...", in its own session,
// logging to DIR/devcluster.log) and waits until the API server is ready
// or the supervisor exits. self is the devcluster executable.
func Up(ctx context.Context, self string, o Options, timeout time.Duration) (*State, error) {
	o, err := Preflight(o)
	if err != nil {
		return nil, err
	}
	logPath := o.path(LogFile)
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot create log file %s: %v", logPath, unwrapPathErr(err))
	}
	defer logf.Close()
	cmd := exec.Command(self, o.serveArgs()...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start supervisor: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, err := WaitReady(ctx, o.Dir, exited)
	if err != nil {
		if ctx.Err() != nil {
			// Do not leave a half-started instance behind.
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
			}
		}
		return nil, fmt.Errorf("%v; log tail (%s):\n%s", err, logPath, LogTail(logPath, 20))
	}
	return st, nil
}

// WaitReady waits until the instance in dir has written its state and
// kubeconfig and the API server's /readyz answers ok. If exited is
// non-nil, a value on it means the supervisor died.
func WaitReady(ctx context.Context, dir string, exited <-chan error) (*State, error) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			if err == nil {
				err = errors.New("exit status 0")
			}
			return nil, fmt.Errorf("devcluster supervisor exited before the API server was ready (%v)", err)
		case <-ctx.Done():
			return nil, fmt.Errorf("API server in %s not ready: %v", dir, ctx.Err())
		case <-tick.C:
		}
		st, err := ReadState(dir)
		if err != nil {
			continue
		}
		if Ready(ctx, st.Kubeconfig) == nil {
			return st, nil
		}
	}
}

// Ready checks the API server's /readyz using the given kubeconfig.
func Ready(ctx context.Context, kubeconfig string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cfg.Timeout = 5 * time.Second
	rc, err := rest.UnversionedRESTClientFor(withCodec(cfg))
	if err != nil {
		return err
	}
	body, err := rc.Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(body)) != "ok" {
		return fmt.Errorf("readyz: %s", body)
	}
	return nil
}

// LogTail returns the last n lines of the file at path.
func LogTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Down stops the instance in dir: it sends SIGTERM to the supervisor,
// waits up to timeout for it and its children to exit, then kills what is
// left. Unless keepData, the instance's data is removed. It returns
// running=false if nothing was running.
func Down(dir string, keepData bool, timeout time.Duration) (running bool, err error) {
	dir, err = filepath.Abs(dir)
	if err != nil {
		return false, err
	}
	if _, err := os.Stat(dir); err != nil {
		return false, nil
	}
	pid := RunningPID(dir)
	var pids []int
	if st, err := ReadState(dir); err == nil {
		pids = st.Pids()
	}
	if pid <= 0 {
		// Nothing holds the lock; make sure no orphan survived (it cannot
		// with Pdeathsig, but a state file from another boot may exist).
		removeData(dir, keepData)
		return false, nil
	}
	if keepData {
		if err := os.WriteFile(filepath.Join(dir, keepDataMarker), nil, 0o600); err != nil {
			return true, fmt.Errorf("cannot write to %s: %v", dir, unwrapPathErr(err))
		}
	}
	pids = append(pids, pid)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && anyAlive(pids) {
		time.Sleep(100 * time.Millisecond)
	}
	if anyAlive(pids) {
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		killDeadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(killDeadline) && anyAlive(pids) {
			time.Sleep(50 * time.Millisecond)
		}
		if anyAlive(pids) {
			return true, fmt.Errorf("processes %v did not exit after SIGKILL", pids)
		}
	}
	removeData(dir, keepData)
	os.Remove(filepath.Join(dir, keepDataMarker))
	return true, nil
}

func anyAlive(pids []int) bool {
	for _, p := range pids {
		if ProcessAlive(p) {
			return true
		}
	}
	return false
}

// removeData deletes the instance's runtime files and, unless keepData,
// its etcd data, certificates and kubeconfig. The log is kept.
func removeData(dir string, keepData bool) {
	for _, name := range []string{PIDFile, StateFile, LockFile} {
		os.Remove(filepath.Join(dir, name))
	}
	if keepData {
		return
	}
	for _, name := range []string{"etcd", "pki", KubeconfigFile} {
		os.RemoveAll(filepath.Join(dir, name))
	}
}
