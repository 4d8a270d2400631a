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

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/kube/devcluster"
	"github.com/berthsched/berth/kube/dradriver"
	"github.com/berthsched/berth/kube/provisioner"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "devcluster",
		Short:         "Run a local Kubernetes control plane for berth development",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	klogFlags := flag.NewFlagSet("klog", flag.ExitOnError)
	klog.InitFlags(klogFlags)
	root.PersistentFlags().AddGoFlagSet(klogFlags)
	root.AddCommand(newUpCommand(), newServeCommand(), newDownCommand(), newStatusCommand(), newNodesCommand())
	return root
}

// addClusterFlags binds the flags shared by up and serve.
func addClusterFlags(cmd *cobra.Command, o *devcluster.Options) {
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", o.Dir, "data directory (created if missing)")
	f.IntVar(&o.APIServerPort, "apiserver-port", o.APIServerPort, "kube-apiserver secure port on 127.0.0.1")
	f.IntVar(&o.EtcdPort, "etcd-port", o.EtcdPort, "etcd client port on 127.0.0.1")
	f.IntVar(&o.EtcdPeerPort, "etcd-peer-port", o.EtcdPeerPort, "etcd peer port on 127.0.0.1")
	f.BoolVar(&o.ControllerManager, "controller-manager", o.ControllerManager, "run kube-controller-manager")
	f.StringVar(&o.BinDir, "bin-dir", o.BinDir, "directory holding kube-apiserver and kube-controller-manager")
	f.BoolVar(&o.KeepData, "keep-data", o.KeepData, "keep etcd data and certificates when stopping")
	f.BoolVar(&o.Provisioner, "provisioner", o.Provisioner, "run the dynamic volume provisioner "+provisioner.Name+" (fake local volumes, storage capacity tracking) in the supervisor")
	f.StringVar(&o.ProvisionerCapacity, "provisioner-capacity", o.ProvisionerCapacity, "local storage of a node without the "+provisioner.CapacityAnnotation+" annotation")
	f.StringVar(&o.ProvisionerNamespace, "provisioner-namespace", o.ProvisionerNamespace, "namespace of the provisioner's CSIStorageCapacity objects")
	f.BoolVar(&o.DRA, "dra", o.DRA, "run the fake DRA driver "+dradriver.DriverName+" in the supervisor: ResourceSlices for nodes labelled "+dradriver.CountLabel+"=<cards> and the DeviceClass "+dradriver.DeviceClassName)
}

func newUpCommand() *cobra.Command {
	o := devcluster.DefaultOptions()
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a control plane in the background and wait until it is ready",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			// Ctrl-C while waiting stops the half-started supervisor too.
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			start := time.Now()
			st, err := devcluster.Up(ctx, self, o, timeout)
			if err != nil {
				return err
			}
			fmt.Printf("devcluster ready in %s (supervisor pid %d, https://127.0.0.1:%d)\n",
				time.Since(start).Round(100*time.Millisecond), st.PID, st.APIServerPort)
			fmt.Printf("  export KUBECONFIG=%s\n", st.Kubeconfig)
			fmt.Printf("  kubectl --kubeconfig %s get nodes\n", st.Kubeconfig)
			dir := filepath.Dir(st.Kubeconfig)
			fmt.Printf("logs: %s; stop with: devcluster down --dir %s\n", filepath.Join(dir, devcluster.LogFile), dir)
			return nil
		},
	}
	addClusterFlags(cmd, &o)
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for the API server")
	return cmd
}

func newServeCommand() *cobra.Command {
	o := devcluster.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the control plane in the foreground (stops on SIGINT/SIGTERM)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return devcluster.Serve(ctx, o, os.Stderr)
		},
	}
	addClusterFlags(cmd, &o)
	return cmd
}

func newDownCommand() *cobra.Command {
	dir := ".devcluster"
	keep := false
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the control plane running in --dir",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			running, err := devcluster.Down(dir, keep, timeout)
			if err != nil {
				return err
			}
			if !running {
				fmt.Printf("no devcluster running in %s\n", dir)
				return nil
			}
			fmt.Printf("devcluster in %s stopped\n", dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", dir, "data directory")
	cmd.Flags().BoolVar(&keep, "keep-data", keep, "keep etcd data and certificates")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait before killing")
	return cmd
}

func newStatusCommand() *cobra.Command {
	dir := ".devcluster"
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show whether a control plane runs in --dir",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			abs, _ := filepath.Abs(dir)
			pid := devcluster.RunningPID(abs)
			if pid == 0 {
				fmt.Printf("not running (%s)\n", abs)
				return nil
			}
			st, err := devcluster.ReadState(abs)
			if err != nil {
				fmt.Printf("starting (supervisor pid %d, %s)\n", pid, abs)
				return nil
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
			defer cancel()
			health := "ready"
			if err := devcluster.Ready(ctx, st.Kubeconfig); err != nil {
				health = "not ready: " + err.Error()
			}
			fmt.Printf("running (%s)\n", abs)
			fmt.Printf("  supervisor pid %d (etcd in-process, client port %d, peer port %d)\n", st.PID, st.EtcdPort, st.EtcdPeerPort)
			fmt.Printf("  kube-apiserver pid %d, https://127.0.0.1:%d, %s\n", st.APIServerPID, st.APIServerPort, health)
			if st.ControllerManagerPID > 0 {
				fmt.Printf("  kube-controller-manager pid %d\n", st.ControllerManagerPID)
			}
			if st.Provisioner != "" {
				fmt.Printf("  volume provisioner %s (in the supervisor)\n", st.Provisioner)
			}
			if st.DRADriver != "" {
				fmt.Printf("  DRA driver %s (in the supervisor; GPU nodes are labelled %s)\n", st.DRADriver, dradriver.CountLabel)
			}
			fmt.Printf("  kubeconfig %s (up since %s)\n", st.Kubeconfig, st.Started.Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", dir, "data directory")
	return cmd
}

func newNodesCommand() *cobra.Command {
	var (
		o          nodegen.Options
		profile    string
		kubeconfig string
		dir        = ".devcluster"
	)
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "Create synthetic Ready nodes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := nodegen.ParseProfile(profile)
			if err != nil {
				return err
			}
			o.Profile = p
			if o.Count <= 0 {
				return errors.New("--count must be positive")
			}
			if kubeconfig == "" && !cmd.Flags().Changed("dir") {
				kubeconfig = os.Getenv("KUBECONFIG")
			}
			if kubeconfig == "" {
				kubeconfig = devcluster.KubeconfigPath(dir)
			}
			if _, err := os.Stat(kubeconfig); err != nil {
				return fmt.Errorf("kubeconfig %s not found; run devcluster up or pass --kubeconfig", kubeconfig)
			}
			cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("load kubeconfig %s: %v", kubeconfig, err)
			}
			cfg.QPS, cfg.Burst = 5000, 10000
			cfg.ContentType = "application/vnd.kubernetes.protobuf"
			cfg.Timeout = 30 * time.Second
			client, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			o.Progress = os.Stderr
			_, err = nodegen.Create(ctx, client, o)
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Count, "count", 0, "number of nodes to create")
	f.StringVar(&profile, "profile", "basic", "node shapes: basic, mixed or gpu")
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig (default: DIR/kubeconfig if --dir is given, else $KUBECONFIG, else .devcluster/kubeconfig)")
	f.StringVar(&dir, "dir", dir, "devcluster data directory, used to find the kubeconfig")
	f.IntVar(&o.Zones, "zones", 3, "number of zones (zone-a, zone-b, ...)")
	f.StringVar(&o.Prefix, "prefix", "node-", "node name prefix")
	f.IntVar(&o.StartIndex, "start-index", 0, "index of the first node")
	f.IntVar(&o.Workers, "workers", 48, "concurrent API writers")
	return cmd
}
