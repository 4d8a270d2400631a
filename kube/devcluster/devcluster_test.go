package devcluster_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/berthsched/berth/kube/devcluster"
)

// binDir holds the Kubernetes binaries (repository bin/); devclusterBin is
// a devcluster binary freshly built from this tree by TestMain.
var (
	binDir        string
	devclusterBin string
)

func TestMain(m *testing.M) {
	binDir = os.Getenv("BERTH_BIN_DIR")
	if binDir == "" {
		abs, _ := filepath.Abs("../../bin")
		binDir = abs
	}
	if _, err := os.Stat(filepath.Join(binDir, devcluster.APIServerBinary)); err != nil {
		fmt.Fprintf(os.Stderr, "kube-apiserver not found in %s; run make build first\n", binDir)
		os.Exit(1)
	}
	tmp, err := os.MkdirTemp("", "devcluster-test-bin-")
	if err != nil {
		panic(err)
	}
	devclusterBin = filepath.Join(tmp, "devcluster")
	build := exec.Command("go", "build", "-o", devclusterBin, "../cmd/devcluster")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build devcluster:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// run executes devcluster with args, bounded so a hang fails the test.
func run(t *testing.T, timeout time.Duration, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, devclusterBin, args...)
	var so, se strings.Builder
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	cmd.Stdout, cmd.Stderr = &so, &se
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("devcluster %v hung for %s", args, timeout)
	}
	return so.String(), se.String(), err
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

func upArgs(dir string, ports []int, kcm bool) []string {
	return []string{"up", "--dir", dir, "--bin-dir", binDir,
		"--apiserver-port", strconv.Itoa(ports[0]),
		"--etcd-port", strconv.Itoa(ports[1]),
		"--etcd-peer-port", strconv.Itoa(ports[2]),
		"--controller-manager=" + strconv.FormatBool(kcm)}
}

// assertOneLineError checks a failed command printed a single error line
// containing want.
func assertOneLineError(t *testing.T, stderr string, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected failure containing %q", want)
	}
	msg := strings.TrimSpace(stderr)
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line:\n%s", msg)
	}
	if !strings.Contains(msg, want) {
		t.Errorf("error %q does not contain %q", msg, want)
	}
}

func TestTwoInstancesUpDown(t *testing.T) {
	type instance struct {
		dir   string
		ports []int
		kcm   bool
		state *devcluster.State
	}
	ports := freePorts(t, 6)
	insts := []*instance{
		{dir: filepath.Join(t.TempDir(), "a"), ports: ports[:3], kcm: true},
		{dir: filepath.Join(t.TempDir(), "b"), ports: ports[3:], kcm: false},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(insts))
	for i, in := range insts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, stderr, err := run(t, 2*time.Minute, upArgs(in.dir, in.ports, in.kcm)...)
			if err != nil {
				errs[i] = fmt.Errorf("up %s: %v: %s", in.dir, err, stderr)
			}
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, in := range insts {
			devcluster.Down(in.dir, false, 10*time.Second)
		}
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, in := range insts {
		st, err := devcluster.ReadState(in.dir)
		if err != nil {
			t.Fatal(err)
		}
		in.state = st
		if want := 3; !in.kcm {
			want = 2
			if len(st.Pids()) != want {
				t.Fatalf("%s: pids %v", in.dir, st.Pids())
			}
		} else if len(st.Pids()) != want {
			t.Fatalf("%s: pids %v", in.dir, st.Pids())
		}
		if err := devcluster.Ready(context.Background(), st.Kubeconfig); err != nil {
			t.Fatalf("%s not ready: %v", in.dir, err)
		}
		out, _, err := run(t, 30*time.Second, "status", "--dir", in.dir)
		if err != nil || !strings.Contains(out, "ready") {
			t.Fatalf("status %s: %v\n%s", in.dir, err, out)
		}
	}

	// A second up on a running directory fails fast with a clear message.
	_, stderr, err := run(t, 20*time.Second, upArgs(insts[0].dir, freePorts(t, 3), true)...)
	assertOneLineError(t, stderr, err, "already running in")
	assertOneLineError(t, stderr, err, "run devcluster down first")

	// The same ports in another directory report the busy port.
	_, stderr, err = run(t, 20*time.Second, upArgs(t.TempDir(), insts[0].ports, true)...)
	assertOneLineError(t, stderr, err, fmt.Sprintf("port %d is in use; pick another with --apiserver-port or run devcluster down", insts[0].ports[0]))

	// Stopping one instance leaves no process behind and the other intact.
	out, _, err := run(t, time.Minute, "down", "--dir", insts[0].dir)
	if err != nil || !strings.Contains(out, "stopped") {
		t.Fatalf("down: %v %s", err, out)
	}
	for _, pid := range insts[0].state.Pids() {
		if devcluster.ProcessAlive(pid) {
			t.Errorf("pid %d still alive after down", pid)
		}
	}
	if _, err := os.Stat(filepath.Join(insts[0].dir, "etcd")); !os.IsNotExist(err) {
		t.Errorf("etcd data not removed: %v", err)
	}
	if err := devcluster.Ready(context.Background(), insts[1].state.Kubeconfig); err != nil {
		t.Fatalf("second instance broken after first went down: %v", err)
	}

	// down --keep-data keeps etcd data.
	if _, _, err := run(t, time.Minute, "down", "--dir", insts[1].dir, "--keep-data"); err != nil {
		t.Fatal(err)
	}
	for _, pid := range insts[1].state.Pids() {
		if devcluster.ProcessAlive(pid) {
			t.Errorf("pid %d still alive after down", pid)
		}
	}
	if _, err := os.Stat(filepath.Join(insts[1].dir, "etcd", "member")); err != nil {
		t.Errorf("etcd data not kept: %v", err)
	}

	// down with nothing running succeeds and says so.
	out, _, err = run(t, 10*time.Second, "down", "--dir", insts[0].dir)
	if err != nil || !strings.Contains(out, "no devcluster running") {
		t.Fatalf("second down: %v %q", err, out)
	}
}

func TestBadInput(t *testing.T) {
	t.Run("port in use", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		busy := l.Addr().(*net.TCPAddr).Port
		ports := freePorts(t, 3)
		ports[1] = busy
		_, stderr, err := run(t, 20*time.Second, upArgs(t.TempDir(), ports, true)...)
		assertOneLineError(t, stderr, err, fmt.Sprintf("port %d is in use; pick another with --etcd-port", busy))
	})
	t.Run("missing binaries", func(t *testing.T) {
		empty := t.TempDir()
		args := upArgs(t.TempDir(), freePorts(t, 3), true)
		args = append(args, "--bin-dir", empty)
		_, stderr, err := run(t, 20*time.Second, args...)
		assertOneLineError(t, stderr, err, "kube-apiserver not found in "+empty+"; run make build")
	})
	t.Run("uncreatable dir", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		_, stderr, err := run(t, 20*time.Second, upArgs(filepath.Join(file, "sub"), freePorts(t, 3), true)...)
		assertOneLineError(t, stderr, err, "cannot create data directory")
	})
	t.Run("duplicate ports", func(t *testing.T) {
		p := freePorts(t, 1)[0]
		_, stderr, err := run(t, 20*time.Second, upArgs(t.TempDir(), []int{p, p, p + 1}, true)...)
		assertOneLineError(t, stderr, err, "pick distinct ports")
	})
	t.Run("nodes without cluster", func(t *testing.T) {
		_, stderr, err := run(t, 20*time.Second, "nodes", "--count", "3", "--dir", t.TempDir(), "--kubeconfig", "")
		assertOneLineError(t, stderr, err, "run devcluster up or pass --kubeconfig")
	})
	t.Run("bad profile", func(t *testing.T) {
		_, stderr, err := run(t, 20*time.Second, "nodes", "--count", "3", "--profile", "huge")
		assertOneLineError(t, stderr, err, "valid profiles are basic, mixed, gpu")
	})
}

// TestSupervisorKilled checks that SIGKILLing the supervisor takes the
// components with it (Pdeathsig) and that down then reports nothing running.
func TestSupervisorKilled(t *testing.T) {
	dir := t.TempDir()
	if _, stderr, err := run(t, 2*time.Minute, upArgs(dir, freePorts(t, 3), true)...); err != nil {
		t.Fatalf("up: %v: %s", err, stderr)
	}
	t.Cleanup(func() { devcluster.Down(dir, false, 10*time.Second) })
	st, err := devcluster.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range st.Pids() {
		for devcluster.ProcessAlive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if devcluster.ProcessAlive(pid) {
			t.Errorf("pid %d survived the supervisor's SIGKILL", pid)
		}
	}
	out, _, err := run(t, 10*time.Second, "down", "--dir", dir)
	if err != nil || !strings.Contains(out, "no devcluster running") {
		t.Fatalf("down after kill: %v %q", err, out)
	}
}

// TestRestartSignals restarts the API server (RestartAPIServerSignal) and
// then etcd (RestartEtcdSignal) of a running supervisor: each time the
// cluster must come back ready on the same kubeconfig, with the data
// written before (a namespace) still there and the supervisor alive.
func TestRestartSignals(t *testing.T) {
	dir, st, client := upClient(t, false)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "survives-restarts"}}
	if _, err := client.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitReady := func(what string) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		var err error
		for time.Now().Before(deadline) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = devcluster.Ready(ctx, st.Kubeconfig)
			cancel()
			if err == nil {
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
		t.Fatalf("not ready after %s: %v", what, err)
	}
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
	}{
		{"kube-apiserver restart", devcluster.RestartAPIServerSignal},
		{"etcd restart", devcluster.RestartEtcdSignal},
	} {
		before, err := devcluster.ReadState(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(st.PID, tc.sig); err != nil {
			t.Fatal(err)
		}
		if tc.sig == devcluster.RestartAPIServerSignal {
			deadline := time.Now().Add(30 * time.Second)
			for devcluster.ProcessAlive(before.APIServerPID) && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if devcluster.ProcessAlive(before.APIServerPID) {
				t.Fatalf("%s: the old kube-apiserver (pid %d) is still running", tc.name, before.APIServerPID)
			}
		} else {
			time.Sleep(time.Second)
		}
		waitReady(tc.name)
		after, err := devcluster.ReadState(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !devcluster.ProcessAlive(after.PID) || !devcluster.ProcessAlive(after.APIServerPID) {
			t.Fatalf("%s: supervisor or kube-apiserver not running: %+v", tc.name, after)
		}
		if _, err := client.CoreV1().Namespaces().Get(context.Background(), ns.Name, metav1.GetOptions{}); err != nil {
			t.Errorf("%s: the namespace created before is gone: %v", tc.name, err)
		}
		if tc.sig == devcluster.RestartAPIServerSignal && after.APIServerPID == before.APIServerPID {
			t.Errorf("%s: state.json still names the old kube-apiserver pid %d", tc.name, before.APIServerPID)
		}
	}
}

// upClient brings up a devcluster in a new directory (with the controller
// manager when kcm), takes it down when t ends, and returns the
// directory, its state and a client of its kubeconfig.
func upClient(t *testing.T, kcm bool) (string, *devcluster.State, kubernetes.Interface) {
	t.Helper()
	dir := t.TempDir()
	if _, stderr, err := run(t, 2*time.Minute, upArgs(dir, freePorts(t, 3), kcm)...); err != nil {
		t.Fatalf("up: %v: %s", err, stderr)
	}
	t.Cleanup(func() { devcluster.Down(dir, false, 10*time.Second) })
	st, err := devcluster.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", st.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return dir, st, kubernetes.NewForConfigOrDie(cfg)
}
