package devcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/kube/dradriver"
	"github.com/berthsched/berth/kube/provisioner"
)

// ControllerManagerControllers is the --controllers value for
// kube-controller-manager. Controllers that expect kubelets or a cloud
// (node lifecycle, which would mark synthetic nodes unreachable and evict
// their pods; taint-based eviction, for node and for device taints; node
// IPAM; the TTL controller, which only tunes kubelet caches yet rewrites
// every node) are disabled. "*" keeps resourceclaim-controller, which
// creates the ResourceClaims of pods' ResourceClaimTemplates and releases
// the claims of pods that are gone (Options.DRA).
const ControllerManagerControllers = "*,-node-lifecycle-controller,-node-ipam-controller,-taint-eviction-controller,-device-taint-eviction-controller,-ttl-controller"

// FeatureGates is the --feature-gates value of kube-apiserver and
// kube-controller-manager. GenericWorkload (beta, off by default in
// v1.37) makes the API server store scheduling.k8s.io PodGroups and
// Workloads and keep pods' spec.schedulingGroup (it drops the field when
// the gate is off). Its PodGroupProtection admission plugin, on by
// default, then puts the scheduling.k8s.io/podgroup-protection finalizer
// on every new PodGroup, which only kube-controller-manager's
// podgroup-protection-controller removes (once no pod references the
// group), and that controller only runs with the gate; without it a
// deleted PodGroup would stay Terminating for ever. Nothing else changes
// for objects that do not use the API, so the gate is always on.
const FeatureGates = "GenericWorkload=true"

// RuntimeConfig is kube-apiserver's --runtime-config value:
// scheduling.k8s.io/v1beta1 (PodGroup, Workload) is a beta API and, like
// every beta API since v1.24, is not served unless enabled.
const RuntimeConfig = "scheduling.k8s.io/v1beta1=true"

// Signals that make a running "devcluster serve" restart one component
// in place, keeping its data, certificates and ports, so that clients can
// be tested against a control-plane restart (berth's chaos harness). The
// API server is stopped as Serve stops it (SIGTERM, then SIGKILL after
// 20 s) and started again; etcd is closed and reopened on its data
// directory while the API server keeps running, as after an etcd member
// restart. Neither waits for readiness: clients poll /readyz.
const (
	RestartAPIServerSignal = syscall.SIGUSR1
	RestartEtcdSignal      = syscall.SIGUSR2
)

// child is a supervised component process.
type child struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

func startChild(name, bin string, args []string, out io.Writer) (*child, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	// The kernel kills the child if the supervisor dies, so a crashed or
	// SIGKILLed supervisor never leaves components behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %v", name, err)
	}
	c := &child{name: name, cmd: cmd, exited: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	klog.InfoS("Started component", "component", name, "pid", cmd.Process.Pid)
	return c, nil
}

// stop sends SIGTERM, waits up to grace, then SIGKILLs.
func (c *child) stop(grace time.Duration) {
	if c == nil {
		return
	}
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(grace):
		klog.InfoS("Component did not stop in time; killing it", "component", c.name)
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	klog.InfoS("Stopped component", "component", c.name)
}

// Serve runs the control plane in the foreground until ctx is cancelled
// or a component exits, then stops the DRA driver (if o.DRA), the
// provisioner (if o.Provisioner), the controller manager, the API server
// and etcd in that order and, unless o.KeepData (or a "down --keep-data"
// request), removes the instance's data. Component output goes to out;
// the provisioner and the DRA driver, which run in this process, log
// through klog.
func Serve(ctx context.Context, o Options, out io.Writer) (err error) {
	o, err = Preflight(o)
	if err != nil {
		return err
	}
	lock, err := acquireLock(o.Dir)
	if err != nil {
		return err
	}
	defer lock.Close()
	os.Remove(o.path(keepDataMarker))
	for _, stale := range []string{StateFile, KubeconfigFile} {
		os.Remove(o.path(stale))
	}
	if err := os.WriteFile(o.path(PIDFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("cannot write pid file in %s: %v", o.Dir, unwrapPathErr(err))
	}
	defer func() {
		keep := o.KeepData
		if _, err := os.Stat(o.path(keepDataMarker)); err == nil {
			keep = true
		}
		removeData(o.Dir, keep)
		os.Remove(o.path(keepDataMarker))
		klog.InfoS("Supervisor exiting", "dir", o.Dir, "keptData", keep)
	}()

	server := fmt.Sprintf("https://127.0.0.1:%d", o.APIServerPort)
	certs := newPKI(o.path("pki"))
	adminKubeconfig, err := certs.generate(server)
	if err != nil {
		return err
	}

	etcd, err := startEtcd(o)
	if err != nil {
		return err
	}
	// Closures, not method values: a restart (RestartAPIServerSignal,
	// RestartEtcdSignal) replaces both.
	defer func() {
		etcd.Close()
		klog.InfoS("Stopped etcd")
	}()

	apiserver, err := startChild(APIServerBinary, filepath.Join(o.BinDir, APIServerBinary), apiserverArgs(o, certs), out)
	if err != nil {
		return err
	}
	defer func() { apiserver.stop(20 * time.Second) }()

	// Write the kubeconfig to a private path first so waiters only see
	// the public one once the cluster is ready.
	pending := o.path("pki", "admin.kubeconfig")
	if err := os.WriteFile(pending, adminKubeconfig, 0o600); err != nil {
		return fmt.Errorf("write kubeconfig: %v", err)
	}
	if err := waitAPIServer(ctx, pending, apiserver, etcd); err != nil {
		return err
	}

	var kcm *child
	if o.ControllerManager {
		kcm, err = startChild(ControllerManagerBinary, filepath.Join(o.BinDir, ControllerManagerBinary), controllerManagerArgs(o, certs), out)
		if err != nil {
			return err
		}
		defer kcm.stop(10 * time.Second)
	}

	// The provisioner starts before the kubeconfig is published, so a
	// ready cluster has its CSIDriver and synced caches.
	// It only stops with pctx (a panic takes the whole supervisor down).
	if o.Provisioner {
		pctx, stop := context.WithCancel(ctx)
		prov, err := startProvisioner(pctx, o, pending)
		if err != nil {
			stop()
			return err
		}
		defer func() {
			stop()
			prov.Wait()
			klog.InfoS("Stopped component", "component", "provisioner")
		}()
	}

	// Likewise the DRA driver: a ready cluster has its DeviceClass.
	if o.DRA {
		dctx, stop := context.WithCancel(ctx)
		driver, err := startDRADriver(dctx, pending)
		if err != nil {
			stop()
			return err
		}
		defer func() {
			stop()
			driver.Wait()
			klog.InfoS("Stopped component", "component", "dradriver")
		}()
	}

	if err := os.WriteFile(o.path(KubeconfigFile), adminKubeconfig, 0o600); err != nil {
		return fmt.Errorf("write kubeconfig: %v", err)
	}
	st := State{
		PID:           os.Getpid(),
		APIServerPID:  apiserver.cmd.Process.Pid,
		APIServerPort: o.APIServerPort,
		EtcdPort:      o.EtcdPort,
		EtcdPeerPort:  o.EtcdPeerPort,
		Kubeconfig:    o.path(KubeconfigFile),
		Started:       time.Now(),
	}
	if kcm != nil {
		st.ControllerManagerPID = kcm.cmd.Process.Pid
	}
	if o.Provisioner {
		st.Provisioner = provisioner.Name
	}
	if o.DRA {
		st.DRADriver = dradriver.DriverName
	}
	data, _ := json.MarshalIndent(st, "", "  ")
	if err := writeAtomic(o.path(StateFile), data); err != nil {
		return fmt.Errorf("write state: %v", err)
	}
	klog.InfoS("Control plane ready", "server", server, "kubeconfig", st.Kubeconfig)

	var kcmExited <-chan struct{}
	if kcm != nil {
		kcmExited = kcm.exited
	}
	restart := make(chan os.Signal, 1)
	signal.Notify(restart, RestartAPIServerSignal, RestartEtcdSignal)
	defer signal.Stop(restart)
	for {
		select {
		case <-ctx.Done():
			klog.InfoS("Shutting down", "reason", context.Cause(ctx))
			return nil
		case <-apiserver.exited:
			return fmt.Errorf("kube-apiserver exited unexpectedly: %v", apiserver.err)
		case <-kcmExited:
			return fmt.Errorf("kube-controller-manager exited unexpectedly: %v", kcm.err)
		case err := <-etcd.Err():
			return fmt.Errorf("etcd failed: %v", err)
		case sig := <-restart:
			switch sig {
			case RestartAPIServerSignal:
				klog.InfoS("Restarting component on request", "component", APIServerBinary)
				apiserver.stop(20 * time.Second)
				apiserver, err = startChild(APIServerBinary, filepath.Join(o.BinDir, APIServerBinary), apiserverArgs(o, certs), out)
				if err != nil {
					return err
				}
				st.APIServerPID = apiserver.cmd.Process.Pid
				data, _ := json.MarshalIndent(st, "", "  ")
				if err := writeAtomic(o.path(StateFile), data); err != nil {
					return fmt.Errorf("write state: %v", err)
				}
			case RestartEtcdSignal:
				klog.InfoS("Restarting etcd on request")
				etcd.Close()
				etcd, err = startEtcd(o)
				if err != nil {
					return err
				}
			}
		}
	}
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func startEtcd(o Options) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = "devcluster"
	cfg.Dir = o.path("etcd")
	client := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", o.EtcdPort)}
	peer := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", o.EtcdPeerPort)}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()
	cfg.InitialClusterToken = "devcluster"
	if _, err := os.Stat(filepath.Join(cfg.Dir, "member")); err == nil {
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}
	cfg.Logger = "zap"
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{"stderr"}
	// A throwaway development store: durability is not worth the fsync
	// cost, which dominates write latency when creating thousands of
	// objects.
	cfg.UnsafeNoFsync = true
	cfg.QuotaBackendBytes = 8 << 30
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start etcd: %v", err)
	}
	select {
	case <-e.Server.ReadyNotify():
		klog.InfoS("Started etcd", "url", client.String(), "dir", cfg.Dir)
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd failed to start: %v", err)
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		e.Close()
		return nil, errors.New("etcd did not become ready within 60s")
	}
}

func apiserverArgs(o Options, p pki) []string {
	return []string{
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", o.EtcdPort),
		fmt.Sprintf("--secure-port=%d", o.APIServerPort),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--cert-dir=" + p.dir,
		"--tls-cert-file=" + p.servingCert,
		"--tls-private-key-file=" + p.servingKey,
		"--client-ca-file=" + p.caCert,
		"--service-account-key-file=" + p.saPublicKey,
		"--service-account-signing-key-file=" + p.saPrivateKey,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--authorization-mode=RBAC",
		"--endpoint-reconciler-type=none",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--allow-privileged=true",
		"--enable-priority-and-fairness=false",
		"--max-requests-inflight=3000",
		"--max-mutating-requests-inflight=1000",
		"--profiling=true",
		"--feature-gates=" + FeatureGates,
		"--runtime-config=" + RuntimeConfig,
		"--v=0",
	}
}

func controllerManagerArgs(o Options, p pki) []string {
	return []string{
		"--kubeconfig=" + p.kcmKubeconfig,
		"--controllers=" + ControllerManagerControllers,
		"--use-service-account-credentials=false",
		"--service-account-private-key-file=" + p.saPrivateKey,
		"--root-ca-file=" + p.caCert,
		"--cluster-signing-cert-file=" + p.caCert,
		"--cluster-signing-key-file=" + p.caKey,
		"--secure-port=0",
		"--leader-elect=false",
		"--kube-api-qps=500",
		"--kube-api-burst=1000",
		"--feature-gates=" + FeatureGates,
		"--v=0",
	}
}

// waitAPIServer polls /readyz until ok, failing fast if the API server or
// etcd dies.
func waitAPIServer(ctx context.Context, kubeconfig string, apiserver *child, etcd *embed.Etcd) error {
	deadline := time.After(120 * time.Second)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("interrupted while waiting for kube-apiserver")
		case <-apiserver.exited:
			return fmt.Errorf("kube-apiserver exited during startup: %v", apiserver.err)
		case err := <-etcd.Err():
			return fmt.Errorf("etcd failed: %v", err)
		case <-deadline:
			return fmt.Errorf("kube-apiserver not ready after 120s: %v", last)
		case <-tick.C:
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		last = Ready(rctx, kubeconfig)
		cancel()
		if last == nil {
			return nil
		}
	}
}
