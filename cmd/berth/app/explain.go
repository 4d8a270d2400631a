package app

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/explain"
	"github.com/berthsched/berth/pkg/plugins"
)

// kubectlPluginName is the binary name under which kubectl runs berth as
// a plugin (`kubectl berth explain pod/x`).
const kubectlPluginName = "kubectl-berth"

// commandName is how the root command names itself in help: "kubectl
// berth" when the binary was invoked as the kubectl plugin.
func commandName(argv0 string) string {
	if strings.TrimSuffix(filepath.Base(argv0), ".exe") == kubectlPluginName {
		return "kubectl berth"
	}
	return "berth"
}

type explainOptions struct {
	namespace  string
	configFile string
	kubeconfig string
	node       string
	output     string
	topK       int
	profile    string
}

func newExplainCommand() *cobra.Command {
	o := &explainOptions{}
	cmd := &cobra.Command{
		Use:   "explain pod/NAME",
		Short: "Explain why a pod is pending and what would make it fit",
		Long: `Evaluate one pod against a snapshot of the cluster with berth's configured
profile, every node considered, and print: the nodes grouped by the filter
and reason that rejected them, the best feasible nodes with each score
plugin's contribution (and the one berth would choose), and for a pod that
fits nowhere the smallest changes that would make it fit. Changes marked
"verified" were tried on the snapshot through the same plugins; "hint"
marks facts that point at the obstacle but were not tried.

Nothing is written to the cluster. Output schema (-o json|yaml):
explain.berth.io/v1alpha1 Explanation, see docs/explain.md.`,
		Example: `  berth explain pod/web-0 -n shop
  berth explain web-0 -n shop --node node-17      # every filter's verdict on node-17
  kubectl berth explain pod/web-0 -o yaml          # as a kubectl plugin`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer cancel()
			return runExplain(ctx, o, args[0], cmd)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.namespace, "namespace", "n", "", "namespace of the pod (default: the kubeconfig context's, else default)")
	f.StringVar(&o.configFile, "config", "", "berth's KubeSchedulerConfiguration file, so the pod is evaluated with the same profiles (default: built-in defaults)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "path to a kubeconfig (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	f.StringVar(&o.node, "node", "", "also show every Filter plugin's verdict on this node")
	f.StringVarP(&o.output, "output", "o", explain.FormatTable, "output format: table, json or yaml")
	f.IntVar(&o.topK, "top", explain.DefaultTopK, "how many feasible nodes' scores to break down")
	f.StringVar(&o.profile, "profile", "", "evaluate with this profile (schedulerName) instead of the pod's own")
	f.AddGoFlagSet(goflagSet())
	return cmd
}

// parsePodArg accepts NAME, pod/NAME, pods/NAME or po/NAME.
func parsePodArg(arg string) (string, error) {
	kind, name, found := strings.Cut(arg, "/")
	if !found {
		return arg, nil
	}
	switch strings.ToLower(kind) {
	case "pod", "pods", "po":
		if name == "" {
			return "", fmt.Errorf("%q: missing pod name", arg)
		}
		return name, nil
	}
	return "", fmt.Errorf("%q: only pods can be explained (pod/NAME)", arg)
}

func runExplain(ctx context.Context, o *explainOptions, arg string, cmd *cobra.Command) error {
	switch o.output {
	case explain.FormatTable, explain.FormatJSON, explain.FormatYAML:
	default:
		return fmt.Errorf("unknown output format %q (want table, json or yaml)", o.output)
	}
	name, err := parsePodArg(arg)
	if err != nil {
		return err
	}
	reg := plugins.NewInTreeRegistry()
	cfg, err := config.LoadFile(o.configFile, reg)
	if err != nil {
		return err
	}
	cc := clientConfig(o.kubeconfig, cfg)
	ns := o.namespace
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil {
			return err
		}
	}
	rc, err := cc.ClientConfig()
	if err != nil {
		return err
	}
	rc.UserAgent = "berth/explain"
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	if err := checkReachable(ctx, client); err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return err
	}
	cl, err := explain.FromCluster(ctx, explain.ClusterOptions{Client: client, Dynamic: dyn, Config: cfg, Registry: reg})
	if err != nil {
		return err
	}
	defer cl.Close()
	pod, err := cl.Pod(ns, name)
	if err != nil {
		return fmt.Errorf("pod %s/%s: %w", ns, name, err)
	}
	if o.profile != "" {
		pod = pod.DeepCopy()
		pod.Spec.SchedulerName = o.profile
	}
	e, err := cl.Explain(ctx, pod, explain.Options{TopK: o.topK, Node: o.node})
	if errors.Is(err, explain.ErrNoProfile) {
		return fmt.Errorf("pod %s/%s: %w; pass --profile NAME to evaluate it with one of the configured profiles", ns, name, err)
	}
	if err != nil {
		return err
	}
	return explain.Render(cmd.OutOrStdout(), e, o.output)
}
