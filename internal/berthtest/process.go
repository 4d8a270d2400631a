package berthtest

import (
	"errors"
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

	v1 "k8s.io/api/core/v1"

	"github.com/berthsched/berth/internal/testenv"
)

// Process is bin/berth running as a child process of the test, for tests
// that kill it like a crashed replica or restart it: an in-process
// scheduler (Start) cannot be SIGKILLed.
type Process struct {
	// Name names the process in messages and its log file.
	Name string
	// Cmd is the running command.
	Cmd *exec.Cmd
	// Log is the path of its combined output.
	Log string
	// Done is closed when the process has exited.
	Done chan struct{}
}

// StartProcess runs bin/berth with args and the kubeconfig of
// testenv.Current(), its output going to a log file in t.TempDir(). It
// dies with the test binary (Pdeathsig); when t ends it gets SIGTERM,
// then SIGKILL after 15 s, and if t failed the tail of its log is printed.
func StartProcess(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	return StartBinary(t, name, "berth", append(args, "--kubeconfig", testenv.Current().Kubeconfig)...)
}

// StartBinary runs binary (a file of testenv.BinDir(), such as
// kube-scheduler) with args as StartProcess runs berth, adding no flags.
func StartBinary(t testing.TB, name, binary string, args ...string) *Process {
	t.Helper()
	bin, err := testenv.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, binary), args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("starting %s: %v (run make build first)", cmd.Path, err)
	}
	p := &Process{Name: name, Cmd: cmd, Log: logPath, Done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.Done) }()
	t.Cleanup(func() {
		if !p.Exited() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.Done:
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Kill()
				<-p.Done
			}
		}
		if t.Failed() {
			t.Logf("last lines of %s's log:\n%s", name, testenv.TailFile(logPath, 40))
		}
	})
	return p
}

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.Done:
		return true
	default:
		return false
	}
}

// Kill kills the process with SIGKILL, as a crash or an OOM kill would
// (no cleanup; in-flight work is cut off), and waits until it is gone.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	if err := p.Cmd.Process.Kill(); err != nil {
		t.Fatalf("killing %s: %v", p.Name, err)
	}
	<-p.Done
}

// BoundCount counts the pods that have a node.
func BoundCount(pods []v1.Pod) int {
	n := 0
	for _, p := range pods {
		if p.Spec.NodeName != "" {
			n++
		}
	}
	return n
}

// StartRun runs `berth run` as a child process (no leader election, its
// /readyz on a free local port, -v=2, then args) and returns once /readyz
// answers, that is once its informers have synced: every PodGroup API the
// server serves included, so install CRDs before.
func StartRun(t *testing.T, name string, args ...string) *Process {
	t.Helper()
	ports, err := testenv.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	all := append([]string{"run", "--leader-elect=false", "--health-address", addr, "-v=2"}, args...)
	p := StartProcess(t, name, all...)
	WaitReady(t, p, addr)
	return p
}

// WaitReady waits until the process answers 200 on http://addr/readyz,
// failing t with the tail of its log if it exits first.
func WaitReady(t testing.TB, p *Process, addr string) {
	t.Helper()
	hc := &http.Client{Timeout: time.Second}
	WaitFor(t, ReadyTimeout, p.Name+" to become ready", func() (bool, string) {
		if p.Exited() {
			t.Fatalf("%s exited during startup (%v); last lines of its log:\n%s", p.Name, p.Cmd.ProcessState, testenv.TailFile(p.Log, 30))
		}
		resp, err := hc.Get("http://" + addr + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// WriteConfig writes a KubeSchedulerConfiguration (or any file a test
// passes to berth) into a new file under t.TempDir() and returns its path.
func WriteConfig(t testing.TB, yaml string) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "config-*.yaml")
	if err == nil {
		_, err = f.WriteString(yaml)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		t.Fatalf("writing the configuration: %v", err)
	}
	return f.Name()
}

// Berth runs bin/berth with args (a subcommand first) and returns its
// stdout; it fails t, with stderr, when berth fails. It adds no
// kubeconfig: commands that read the cluster take
// testenv.Current().Kubeconfig in args.
func Berth(t testing.TB, args ...string) string {
	t.Helper()
	bin, err := testenv.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	cmd := exec.Command(filepath.Join(bin, "berth"), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("berth %s: %v\nstderr:\n%s\nstdout:\n%s", strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.String()
}

// Explain runs bin/berth explain with args (a pod, -n, --config, -o …)
// against testenv.Current() and returns its combined output; it fails t
// when berth explain fails.
func Explain(t testing.TB, args ...string) string {
	t.Helper()
	bin, err := testenv.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	args = append([]string{"explain", "--kubeconfig", testenv.Current().Kubeconfig}, args...)
	out, err := exec.Command(filepath.Join(bin, "berth"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("berth %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
