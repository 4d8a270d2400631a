package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

// BinDirEnv names the environment variable overriding where the devcluster
// and Kubernetes binaries are looked up.
const BinDirEnv = "BERTH_BIN_DIR"

// StartTimeout bounds how long Start waits for the API server.
const StartTimeout = 90 * time.Second

// Options configures the control plane.
type Options struct {
	// ControllerManager also runs kube-controller-manager (needed for
	// namespace deletion, garbage collection and default service
	// accounts; without it CreateNamespace creates the service account
	// itself).
	ControllerManager bool
	// Provisioner runs devcluster's dynamic volume provisioner
	// (LocalProvisioner: fake node-local volumes, CSIStorageCapacity per
	// node and StorageClass in kube-system; see kube/provisioner). It
	// needs ControllerManager, whose PV controller hands claims to it.
	Provisioner bool
	// DRA runs devcluster's fake DRA driver (GPUDriver: ResourceSlices
	// for nodes labelled GPUCountLabel, DeviceClass GPUDeviceClass; see
	// kube/dradriver). Pods' ResourceClaimTemplates also need
	// ControllerManager, whose resourceclaim controller creates their
	// claims; claims created directly do not.
	DRA bool
}

// LocalProvisioner is the provisioner name of devcluster's dynamic volume
// provisioner, for StorageClass.provisioner (kube/provisioner.Name; the
// main module cannot import the kube module).
const LocalProvisioner = "local.berth.io"

// LocalCapacityAnnotation on a node sets its local storage for
// LocalProvisioner (a quantity; default 100Gi).
const LocalCapacityAnnotation = "local.berth.io/capacity"

// Names of devcluster's fake DRA driver (kube/dradriver, which the main
// module cannot import; a test there keeps these in step). A node labelled
// GPUCountLabel=N gets a pool named after it with devices
// GPUDeviceNamePrefix+"0" … +"N-1".
const (
	// GPUDriver is the driver name in ResourceSlices and allocation
	// results.
	GPUDriver = "gpu.devcluster.berth.io"
	// GPUDeviceClass is the DeviceClass selecting every GPUDriver device.
	GPUDeviceClass = "gpu.devcluster.berth.io"
	// GPUCountLabel on a node declares its card count (1 to 128).
	GPUCountLabel = "gpu.devcluster.berth.io/count"
	// GPUModelLabel on a GPU node sets its cards' model attribute
	// (default "devgpu").
	GPUModelLabel = "gpu.devcluster.berth.io/model"
	// GPUMemoryLabel on a GPU node sets each card's memory capacity, a
	// quantity (default 80Gi).
	GPUMemoryLabel = "gpu.devcluster.berth.io/memory"
	// GPUDeviceNamePrefix starts every device name: gpu-0, gpu-1 …
	GPUDeviceNamePrefix = "gpu-"
	// GPUAttributeModel is the string attribute with the card model:
	// device.attributes["gpu.devcluster.berth.io"].model in CEL.
	GPUAttributeModel = "model"
	// GPUAttributeIndex is the int attribute with the card's index on its
	// node.
	GPUAttributeIndex = "index"
	// GPUAttributeNVLinkDomain is the int attribute index/4, shared by
	// cards with a fast interconnect (for matchAttribute constraints).
	GPUAttributeNVLinkDomain = "nvlinkDomain"
	// GPUCapacityMemory is the capacity with the card's memory:
	// device.capacity["gpu.devcluster.berth.io"].memory in CEL.
	GPUCapacityMemory = "memory"
)

// Env is a running control plane.
type Env struct {
	// Kubeconfig is the path of the admin kubeconfig.
	Kubeconfig string
	// Config is an admin rest config with high QPS and Burst.
	Config *rest.Config
	// Client is a clientset built from Config.
	Client kubernetes.Interface
	// Dir is the temporary data directory (removed by Stop).
	Dir string

	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	logPath string
	opts    Options
}

var current *Env

// Current returns the environment started by Main, or nil.
func Current() *Env { return current }

// Main is meant for TestMain: it starts a control plane, runs the tests,
// stops the control plane and exits with the tests' status.
func Main(m *testing.M, opts Options) {
	env, err := Start(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		os.Exit(1)
	}
	current = env
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv: stop:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// BinDir returns the directory holding devcluster and the Kubernetes
// binaries: $BERTH_BIN_DIR, or <repository root>/bin, where the repository
// root is the nearest parent directory whose go.mod declares module
// github.com/berthsched/berth.
func BinDir() (string, error) {
	if d := os.Getenv(BinDirEnv); d != "" {
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if isRepoRoot(dir) {
			return filepath.Join(dir, "bin"), nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("cannot find the berth repository root above %s; set %s", wd, BinDirEnv)
		}
	}
}

func isRepoRoot(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == "github.com/berthsched/berth"
		}
	}
	return false
}

const dirPrefix = "berth-testenv-"

// sweepStale removes data directories left by test binaries that were
// killed (their children die with them, but the directory stays). Only
// directories older than an hour whose lock no process holds are removed.
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		st, err := os.Stat(dir)
		if err != nil || time.Since(st.ModTime()) < time.Hour {
			continue
		}
		if f, err := os.Open(filepath.Join(dir, "devcluster.lock")); err == nil {
			locked := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil
			f.Close()
			if locked {
				continue
			}
		}
		klog.V(1).InfoS("Removing stale test control plane directory", "dir", dir)
		os.RemoveAll(dir)
	}
}

// freePorts returns n distinct currently free ports on 127.0.0.1. All
// listeners are held until every port is chosen so they differ.
// FreePorts returns n distinct ports on 127.0.0.1 that were free a moment
// ago (listened on and released), for test and tool processes that need to
// be told a port up front.
func FreePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Start launches "devcluster serve" in a temporary directory on free ports
// and waits (at most StartTimeout) until the API server is ready.
func Start(opts Options) (*Env, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	for _, b := range []string{"devcluster", "kube-apiserver", "kube-controller-manager"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return nil, fmt.Errorf("%s not found in %s; run `make build` first", b, bin)
		}
	}
	sweepStale()
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, err
	}
	// A port may be grabbed between our check and the child binding it;
	// retry a couple of times with fresh ports.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		env, err := start(bin, dir, opts)
		if err == nil {
			return env, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "in use") {
			break
		}
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

func start(bin, dir string, opts Options) (*Env, error) {
	ports, err := FreePorts(3)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "devcluster.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(bin, "devcluster"), "serve",
		"--dir="+dir,
		"--apiserver-port="+strconv.Itoa(ports[0]),
		"--etcd-port="+strconv.Itoa(ports[1]),
		"--etcd-peer-port="+strconv.Itoa(ports[2]),
		"--controller-manager="+strconv.FormatBool(opts.ControllerManager),
		"--bin-dir="+bin,
	)
	if opts.Provisioner {
		cmd.Args = append(cmd.Args, "--provisioner")
	}
	if opts.DRA {
		cmd.Args = append(cmd.Args, "--dra")
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start devcluster: %v", err)
	}
	e := &Env{Dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig"), cmd: cmd, exited: make(chan struct{}), logPath: logPath, opts: opts}
	go func() {
		e.waitErr = cmd.Wait()
		close(e.exited)
	}()
	klog.V(1).InfoS("Started devcluster", "pid", cmd.Process.Pid, "dir", dir, "apiserverPort", ports[0])

	if err := e.waitReady(); err != nil {
		e.kill()
		return nil, fmt.Errorf("%v; devcluster log tail:\n%s", err, e.LogTail(25))
	}
	return e, nil
}

func (e *Env) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	var last error = errors.New("kubeconfig not written yet")
	for {
		select {
		case <-e.exited:
			return fmt.Errorf("devcluster exited during startup (%v)", e.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("control plane not ready after %s: %v", StartTimeout, last)
		case <-time.After(200 * time.Millisecond):
		}
		if _, err := os.Stat(e.Kubeconfig); err != nil {
			continue
		}
		if e.Config == nil {
			cfg, err := clientcmd.BuildConfigFromFlags("", e.Kubeconfig)
			if err != nil {
				last = err
				continue
			}
			cfg.QPS, cfg.Burst = 5000, 10000
			cfg.ContentType = "application/vnd.kubernetes.protobuf"
			client, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			e.Config, e.Client = cfg, client
		}
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		body, err := e.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(rctx)
		rcancel()
		if err == nil && strings.TrimSpace(string(body)) == "ok" {
			return nil
		}
		last = fmt.Errorf("readyz: %v %s", err, body)
	}
}

// Signal sends sig to the devcluster supervisor, for fault-injection tests:
// devcluster serve restarts the API server on SIGUSR1 and etcd on SIGUSR2
// (kube/devcluster's RestartAPIServerSignal and RestartEtcdSignal).
func (e *Env) Signal(sig os.Signal) error { return e.cmd.Process.Signal(sig) }

// LogTail returns the last n lines of the devcluster log.
func (e *Env) LogTail(n int) string { return TailFile(e.logPath, n) }

// TailFile returns the last n lines of the file at path (or the read
// error), for error messages about a child process that failed.
func TailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (e *Env) kill() {
	_ = e.cmd.Process.Kill()
	<-e.exited
	os.RemoveAll(e.Dir)
}

// Stop shuts the control plane down (SIGTERM, then SIGKILL after 30s) and
// removes its data directory.
func (e *Env) Stop() error {
	if e == nil {
		return nil
	}
	defer os.RemoveAll(e.Dir)
	select {
	case <-e.exited:
		return fmt.Errorf("devcluster had already exited (%v); log tail:\n%s", e.waitErr, e.LogTail(25))
	default:
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
		return nil
	case <-time.After(30 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.exited
		return errors.New("devcluster did not stop within 30s; killed it")
	}
}

// CreateNamespace creates a namespace named prefix-<random>, makes sure its
// "default" ServiceAccount exists (the ServiceAccount admission plugin is
// enabled, so pods need it), and deletes the namespace when t ends.
func (e *Env) CreateNamespace(t testing.TB, prefix string) string {
	t.Helper()
	ctx := context.Background()
	ns, err := e.Client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: strings.TrimSuffix(prefix, "-") + "-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		err := e.Client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", ns.Name, err)
		}
	})
	// The controller manager's serviceaccount controller normally creates
	// "default" within milliseconds; create it ourselves if it has not.
	err = errors.New("no controller manager")
	if e.opts.ControllerManager {
		err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
			_, err := e.Client.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
			return err == nil, nil
		})
	}
	if err != nil {
		_, err = e.Client.CoreV1().ServiceAccounts(ns.Name).Create(ctx, &v1.ServiceAccount{
			ObjectMeta: metav1.ObjectMeta{Name: "default"},
		}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("create default service account in %s: %v", ns.Name, err)
		}
	}
	return ns.Name
}
