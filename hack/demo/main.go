package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/berthsched/berth/internal/testenv"
)

type options struct {
	nodes    int
	gpuNodes int
	timeout  time.Duration
	hold     bool
	keepLog  bool
}

// errInterrupted is returned when the user pressed Ctrl-C.
var errInterrupted = errors.New("interrupted")

func main() {
	var o options
	flag.IntVar(&o.nodes, "nodes", 300, "general-purpose nodes to create (mixed instance types, 3 zones)")
	flag.IntVar(&o.gpuNodes, "gpu-nodes", 20, "GPU nodes to create (named gpu-NNNNN)")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Second, "how long to wait for the sample pods to be scheduled")
	flag.BoolVar(&o.hold, "hold", false, "keep the control plane and berth running after the summary, until Ctrl-C")
	flag.BoolVar(&o.keepLog, "keep-log", false, "keep berth's log file after exit (it is always kept when something failed)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: go run ./hack/demo [flags]   (or: make demo)\n\n"+
			"Runs berth on a local control plane with a sample workload and prints where\n"+
			"the pods landed. Needs the binaries from \"make build\" in bin/.\n\nFlags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if o.nodes < 10 || o.gpuNodes < 0 {
		fmt.Fprintln(os.Stderr, "demo: -nodes must be at least 10 and -gpu-nodes must not be negative")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first Ctrl-C the demo cleans up; a second one kills it
		// at once (the children die with it through Pdeathsig).
		<-ctx.Done()
		stop()
	}()

	start := time.Now()
	err := run(ctx, o)
	switch {
	case errors.Is(err, errInterrupted) || (err != nil && ctx.Err() != nil):
		fmt.Printf("\nInterrupted; everything has been cleaned up (%s).\n", since(start))
		os.Exit(130)
	case err != nil:
		fmt.Fprintf(os.Stderr, "\ndemo failed: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("\nDemo finished in %s; everything has been cleaned up.\n", since(start))
}

// run runs the demo. Every resource it starts is released by a deferred
// call, so an error or an interrupt at any point leaves nothing behind.
func run(ctx context.Context, o options) (err error) {
	ui := newUI()
	interrupted := func() error {
		if ctx.Err() != nil {
			ui.abort()
			return errInterrupted
		}
		return nil
	}

	binDir, err := testenv.BinDir()
	if err != nil {
		return fmt.Errorf("%v (run the demo from the berth repository, e.g. with make demo)", err)
	}
	berthBin := filepath.Join(binDir, "berth")
	if _, err := os.Stat(berthBin); err != nil {
		return fmt.Errorf("%s not found: run make build", berthBin)
	}
	// The load-aware part, last, needs Prometheus: say so before starting.
	if _, err := os.Stat(filepath.Join(binDir, "prometheus")); err != nil {
		return fmt.Errorf("%s not found: run make build (hack/ensure-prometheus.sh fetches it)", filepath.Join(binDir, "prometheus"))
	}

	// 1. Control plane.
	ui.step("Starting a local control plane (etcd, kube-apiserver, kube-controller-manager, the %s volume provisioner and the %s DRA driver via %s)", testenv.LocalProvisioner, testenv.GPUDriver, filepath.Join(binDir, "devcluster"))
	t := time.Now()
	// kube-controller-manager runs the StatefulSet controller and the PV
	// controller, which hands the stateful part's claims to the provisioner.
	// Its resourceclaim controller makes the DRA part's claims from
	// their templates.
	env, err := testenv.Start(testenv.Options{ControllerManager: true, Provisioner: true, DRA: true})
	if err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return fmt.Errorf("start control plane: %v", err)
	}
	defer func() {
		ui.cleaning()
		t := time.Now()
		serr := env.Stop()
		if serr != nil && ctx.Err() == nil {
			// On Ctrl-C the terminal signals devcluster directly too, so
			// it has usually exited by now; that is fine.
			fmt.Fprintf(os.Stderr, "warning: stopping the control plane: %v\n", serr)
		}
		ui.info("Stopped the control plane in %s and removed %s", since(t), env.Dir)
	}()
	ui.done("Control plane ready in %s: API server %s", since(t), env.Config.Host)
	ui.info("Inspect it with kubectl while the demo runs:")
	ui.info("  export KUBECONFIG=%s", env.Kubeconfig)
	ui.info("  kubectl get nodes -L topology.kubernetes.io/zone,node.kubernetes.io/instance-type")
	ui.info("  kubectl get pods -n %s -o wide", namespace)
	ui.info("  kubectl get pvc -n %s", namespace)
	ui.info("  kubectl get resourceclaims -n %s -o wide", namespace)
	ui.info("  kubectl get podgroups.scheduling.k8s.io,podgroups.scheduling.x-k8s.io,podgroups.scheduling.volcano.sh -n %s", namespace)
	if !o.hold {
		ui.info("It is torn down when the demo ends; run with -hold to keep it until Ctrl-C.")
	}
	if err := interrupted(); err != nil {
		return err
	}

	// PodGroup CRDs, before berth starts: it reads only the pod group APIs
	// served when it starts.
	if err := installCRDs(ctx, ui, env.Client, env.Config); err != nil {
		if ctx.Err() != nil {
			return interrupted()
		}
		return err
	}

	// 2. Nodes.
	fleet, err := createFleet(ctx, ui, env.Client, o)
	if err != nil {
		if ctx.Err() != nil {
			return interrupted()
		}
		return err
	}

	// 3. berth.
	ui.step("Starting berth (%s)", berthBin)
	t = time.Now()
	b, err := startBerth(ctx, berthBin, env.Kubeconfig)
	if b != nil {
		defer func() {
			ui.cleaning()
			t := time.Now()
			if serr := b.stop(10 * time.Second); serr != nil {
				fmt.Fprintf(os.Stderr, "warning: %v\n", serr)
			}
			ui.info("Stopped berth in %s (%v)", since(t), exitStatus(b.waitErr))
			if (err != nil && ctx.Err() == nil) || o.keepLog || b.crashed() {
				ui.info("berth's log is kept at %s", b.logPath)
			} else {
				os.RemoveAll(b.dir)
			}
		}()
	}
	if err != nil {
		if ctx.Err() != nil {
			return interrupted()
		}
		return err
	}
	ui.done("berth is ready in %s (pid %d, /readyz on http://%s)", since(t), b.cmd.Process.Pid, b.addr)
	ui.info("Its log (-v=1) goes to %s", b.logPath)

	// 4. Workload.
	sets := workloads(fleet)
	if err := createWorkload(ctx, ui, env.Client, sets); err != nil {
		if ctx.Err() != nil {
			return interrupted()
		}
		return err
	}

	// 5. Wait for the scheduling decisions.
	pods, waitErr := waitScheduled(ctx, ui, env.Client, sets, b, o.timeout)
	if waitErr != nil && ctx.Err() != nil {
		return interrupted()
	}
	if pods == nil {
		return waitErr
	}

	// 6. Summary.
	nodes, err := listNodes(ctx, env.Client)
	if err != nil {
		return err
	}
	printSummary(sets, pods, nodes)
	if waitErr != nil {
		printMetrics(ctx, b.addr)
		return waitErr
	}
	if err := explainPending(ctx, ui, berthBin, env.Kubeconfig, pendingOf(sets, pods)); err != nil {
		if ctx.Err() != nil {
			return interrupted()
		}
		return err
	}

	// 7. Stateful workload: claims provisioned on the nodes berth picks.
	res, waitErr := runStateful(ctx, ui, env.Client, nodes, b, o.timeout)
	if waitErr != nil && ctx.Err() != nil {
		return interrupted()
	}
	if res == nil {
		return waitErr
	}
	printStateful(res, nodes)
	if res.huge != nil && res.huge.Spec.NodeName == "" {
		if err := explainPending(ctx, ui, berthBin, env.Kubeconfig, []string{res.huge.Name}); err != nil {
			if ctx.Err() != nil {
				return interrupted()
			}
			return err
		}
	}
	if waitErr != nil {
		printMetrics(ctx, b.addr)
		return waitErr
	}

	// 8. Devices through DRA: cards allocated per claim, one pod per card.
	dra, waitErr := runDRA(ctx, ui, env.Client, o.timeout)
	if waitErr != nil && ctx.Err() != nil {
		return interrupted()
	}
	if dra != nil {
		printDRA(dra)
	}
	if waitErr == nil {
		if err := explainPending(ctx, ui, berthBin, env.Kubeconfig, []string{wantsMissingName}); err != nil {
			if ctx.Err() != nil {
				return interrupted()
			}
			return err
		}
	}

	// 9. GPU sharing: GPUShare's cards, shares and assignment annotations.
	if waitErr == nil {
		waitErr = runGPUShare(ctx, ui, env.Client, berthBin, env.Kubeconfig, o.timeout)
		if waitErr != nil && ctx.Err() != nil {
			return interrupted()
		}
	}

	// 10. Gang scheduling: PodGroups placed whole or not at all, and a
	// gang preempted whole.
	if waitErr == nil {
		waitErr = runGang(ctx, ui, env.Client, env.Config, berthBin, env.Kubeconfig, o.timeout)
		if waitErr != nil && ctx.Err() != nil {
			return interrupted()
		}
	}

	// 11. Load-aware scheduling: a second berth whose LoadAware reads a
	// real Prometheus, which is then killed.
	if waitErr == nil {
		waitErr = runLoad(ctx, ui, env.Client, binDir, env.Kubeconfig, o.timeout)
		if waitErr != nil && ctx.Err() != nil {
			return interrupted()
		}
	}
	// 12. What-if: a snapshot of the demo cluster, and three changes
	// simulated on it with berth's core.
	if waitErr == nil {
		if err := runWhatIf(ctx, ui, berthBin, env.Kubeconfig, filepath.Dir(binDir)); err != nil {
			if ctx.Err() != nil {
				return interrupted()
			}
			waitErr = err
		}
	}
	printMetrics(ctx, b.addr)
	if waitErr != nil {
		return waitErr
	}

	if o.hold {
		ui.step("Holding: the control plane and berth keep running; press Ctrl-C to stop")
		ui.info("  export KUBECONFIG=%s", env.Kubeconfig)
		select {
		case <-ctx.Done():
		case <-b.exited:
			return fmt.Errorf("berth exited unexpectedly (%v); see %s", b.waitErr, b.logPath)
		}
	}
	return nil
}

func since(t time.Time) time.Duration {
	d := time.Since(t)
	switch {
	case d > 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d > time.Second:
		return d.Round(10 * time.Millisecond)
	default:
		return d.Round(time.Millisecond)
	}
}

func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}
