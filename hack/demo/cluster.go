package main

import (
	"context"
	"encoding/json"
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

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
)

const (
	// infraKey is both the taint key and the label key of the dedicated
	// infra nodes: the taint keeps other pods off, the label lets the infra
	// pods require those nodes.
	infraKey   = "dedicated"
	infraValue = "infra"
	// taintedNodes is how many general-purpose nodes get the infra taint.
	taintedNodes = 6
)

// gpuTaint keeps pods that do not need GPUs off the GPU nodes.
var gpuTaint = v1.Taint{Key: string(nodegen.ResourceGPU), Value: "present", Effect: v1.TaintEffectNoSchedule}

// taint adds t (and labels) to the named nodes.
func taint(ctx context.Context, client kubernetes.Interface, names []string, t v1.Taint, labels map[string]string) error {
	// A strategic merge patch adds to the existing taints and labels (a
	// null "labels" would delete them, hence the condition).
	p := map[string]any{"spec": map[string]any{"taints": []v1.Taint{t}}}
	if len(labels) > 0 {
		p["metadata"] = map[string]any{"labels": labels}
	}
	patch, err := json.Marshal(p)
	if err != nil {
		return err
	}
	for _, name := range names {
		if _, err := client.CoreV1().Nodes().Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("taint node %s: %v", name, err)
		}
	}
	return nil
}

// fleet describes the nodes the demo created.
type fleet struct {
	mixed, gpu int
	tainted    []string
}

// createFleet creates the general-purpose and GPU nodes and taints a few
// general-purpose ones (spread over the zones) as dedicated infra nodes.
func createFleet(ctx context.Context, u *ui, client kubernetes.Interface, o options) (fleet, error) {
	f := fleet{mixed: o.nodes, gpu: o.gpuNodes}
	u.step("Creating %d general-purpose nodes and %d GPU nodes in 3 zones", o.nodes, o.gpuNodes)
	groups := []struct {
		label string
		opts  nodegen.Options
	}{
		{"general-purpose", nodegen.Options{Count: o.nodes, Profile: nodegen.ProfileMixed, Zones: 3}},
		{"gpu", nodegen.Options{Count: o.gpuNodes, Profile: nodegen.ProfileGPU, Prefix: "gpu-", Zones: 3}},
	}
	for _, g := range groups {
		if g.opts.Count == 0 {
			continue
		}
		g.opts.Progress = nodegenProgress{u: u, label: g.label}
		res, err := nodegen.Create(ctx, client, g.opts)
		if err != nil {
			return f, fmt.Errorf("create %s nodes: %v", g.label, err)
		}
		first, last := nodegen.NodeName(g.opts, 0), nodegen.NodeName(g.opts, g.opts.Count-1)
		u.done("%d %s nodes (%s .. %s, profile %s) created in %s", res.Created, g.label, first, last, g.opts.Profile, res.Elapsed.Round(10*time.Millisecond))
	}

	// Infra nodes: every 49th node from node-00004 on, so consecutive
	// picks land in different zones (49 % 3 == 1) and instance types.
	mixedOpts := nodegen.Options{Count: o.nodes, Profile: nodegen.ProfileMixed}
	for i := 4; i < o.nodes && len(f.tainted) < taintedNodes; i += 49 {
		f.tainted = append(f.tainted, nodegen.NodeName(mixedOpts, i))
	}
	infraTaint := v1.Taint{Key: infraKey, Value: infraValue, Effect: v1.TaintEffectNoSchedule}
	if err := taint(ctx, client, f.tainted, infraTaint, map[string]string{infraKey: infraValue}); err != nil {
		return f, err
	}
	u.done("Tainted %d nodes %s=%s:NoSchedule and labelled them %s=%s: %s",
		len(f.tainted), infraKey, infraValue, infraKey, infraValue, strings.Join(f.tainted, ", "))

	// GPU nodes are tainted as is customary, so only pods asking for GPUs
	// (and tolerating the taint) use these expensive machines.
	if o.gpuNodes > 0 {
		gpuOpts := nodegen.Options{Count: o.gpuNodes, Profile: nodegen.ProfileGPU, Prefix: "gpu-"}
		var names []string
		for i := range o.gpuNodes {
			names = append(names, nodegen.NodeName(gpuOpts, i))
		}
		if err := taint(ctx, client, names, gpuTaint, nil); err != nil {
			return f, err
		}
		u.done("Tainted the %d GPU nodes %s=%s:NoSchedule", len(names), gpuTaint.Key, gpuTaint.Value)
	}
	return f, nil
}

// berth is the scheduler running as a child process.
type berth struct {
	cmd     *exec.Cmd
	addr    string // health address host:port
	dir     string // temporary directory holding the log
	logPath string
	exited  chan struct{}
	waitErr error
	killed  bool
}

// startBerth starts "berth run" against kubeconfig and waits until its
// /readyz answers 200. The returned berth, if not nil, must be stopped even
// when err is not nil.
func startBerth(ctx context.Context, bin, kubeconfig string) (*berth, error) {
	ports, err := testenv.FreePorts(1)
	if err != nil {
		return nil, fmt.Errorf("find a free port for berth's health address: %v", err)
	}
	port := ports[0]
	dir, err := os.MkdirTemp("", "berth-demo-")
	if err != nil {
		return nil, err
	}
	b := &berth{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, logPath: filepath.Join(dir, "berth.log"), exited: make(chan struct{})}
	logf, err := os.Create(b.logPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logf.Close()
	b.cmd = exec.Command(bin, "run",
		"--kubeconfig", kubeconfig,
		"--leader-elect=false",
		"--health-address", b.addr,
		"-v=1",
	)
	b.cmd.Stdout, b.cmd.Stderr = logf, logf
	// Own process group: a Ctrl-C in the terminal reaches the demo, which
	// stops berth itself (before the control plane). Pdeathsig: if the
	// demo dies, berth dies with it.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := b.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %v", bin, err)
	}
	go func() {
		b.waitErr = b.cmd.Wait()
		close(b.exited)
	}()

	url := "http://" + b.addr + "/readyz"
	hc := &http.Client{Timeout: time.Second}
	deadline := time.After(60 * time.Second)
	last := "no answer yet"
	for {
		select {
		case <-ctx.Done():
			return b, ctx.Err()
		case <-b.exited:
			return b, fmt.Errorf("berth exited during startup (%v); last lines of %s:\n%s", b.waitErr, b.logPath, indent(testenv.TailFile(b.logPath, 15)))
		case <-deadline:
			return b, fmt.Errorf("berth not ready after 60s (%s); last lines of %s:\n%s", last, b.logPath, indent(testenv.TailFile(b.logPath, 15)))
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := hc.Get(url)
		if err != nil {
			last = err.Error()
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return b, nil
		}
		last = "/readyz: " + resp.Status
	}
}

// stop sends SIGTERM and waits up to grace before killing berth.
func (b *berth) stop(grace time.Duration) error {
	select {
	case <-b.exited:
		return nil
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
		return nil
	case <-time.After(grace):
		b.killed = true
		_ = b.cmd.Process.Kill()
		<-b.exited
		return fmt.Errorf("berth did not stop within %s of SIGTERM; killed it", grace)
	}
}

// crashed reports whether berth exited with an error or had to be killed
// (only meaningful after stop).
func (b *berth) crashed() bool {
	select {
	case <-b.exited:
		return b.killed || b.waitErr != nil
	default:
		return false
	}
}

// indent prefixes every line with two spaces, for log excerpts.
func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }
