package app

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/lint"
	"github.com/berthsched/berth/pkg/plugins"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
	"github.com/berthsched/berth/pkg/version"
)

// Exit codes of `berth lint` (docs/lint.md).
const (
	// ExitFindings is the code when the worst finding at or above
	// --fail-on is a warning or info.
	ExitFindings = 1
	// ExitErrors is the code when an error-severity finding is at or above
	// --fail-on.
	ExitErrors = 2
	// ExitUsage is the code for bad flags, unreadable paths, an
	// unreachable cluster or a rule that failed internally.
	ExitUsage = 3
)

// ExitError carries a process exit code out of a command; main exits with
// Code. Err may be nil when the command already printed what it had to
// say (findings).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode is the exit code for an error a command returned: its
// ExitError's code, else 1.
func ExitCode(err error) int {
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return 1
}

type lintOptions struct {
	output       string
	failOn       string
	cluster      bool
	clusterFiles []string
	kubeconfig   string
	configFile   string
	configMap    string
	namespace    string
	listRules    bool
}

func newLintCommand() *cobra.Command {
	o := &lintOptions{}
	cmd := &cobra.Command{
		Use:   "lint [FILE|DIR|-]...",
		Short: "Find scheduling mistakes in manifests before they ship",
		Long: `Check Pods and the pod templates of Deployments, StatefulSets, DaemonSets,
ReplicaSets, Jobs and CronJobs (and the PodGroups, StorageClasses,
PriorityClasses, claims and DRA objects beside them) for specs that leave
pods pending or do nothing: affinity operators that match nothing,
misspelt tolerations, topology spread without a selector, requests no node
can hold, and more. Directories are read recursively (*.yaml, *.yml,
*.json); "-" reads stdin.

With --cluster the manifests are also compared with the live cluster's
nodes, storage and priority classes, pod groups, DRA device classes and
slices, server version and berth's scheduler profiles. Nothing is written.

Each finding has a stable rule ID (berth lint --list-rules, docs/lint.md).
Disable rules for an object with the annotation
lint.berth.io/disable: "BL021,BL025" (on the object or its pod template),
or for a file with a comment line "# lint.berth.io/disable-file: BL021".

Exit codes: 0 nothing at or above --fail-on; 1 the worst such finding is a
warning or info; 2 an error; 3 bad usage, unreadable input or cluster.`,
		Example: `  berth lint deploy/
  kubectl kustomize overlays/prod | berth lint -
  berth lint --cluster --fail-on warning app.yaml
  berth lint -o sarif manifests/ > berth-lint.sarif   # GitHub code scanning`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer cancel()
			err := runLint(ctx, o, args, cmd)
			var ee *ExitError
			if errors.As(err, &ee) {
				cmd.SilenceErrors = true
				if ee.Err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "Error:", ee.Err)
				}
			}
			return err
		},
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		c.SilenceErrors = true
		fmt.Fprintln(c.ErrOrStderr(), "Error:", err)
		return &ExitError{Code: ExitUsage, Err: err}
	})
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", lint.FormatText, "output format: text, json or sarif")
	f.StringVar(&o.failOn, "fail-on", string(lint.Error), "lowest severity that makes the exit code non-zero: error, warning, info or none")
	f.BoolVar(&o.cluster, "cluster", false, "also compare with the live cluster (nodes, classes, pod groups, DRA, version, berth's profiles)")
	f.StringSliceVar(&o.clusterFiles, "cluster-file", nil, "compare with the cluster described by these manifests (Nodes, StorageClasses …) instead of a live one")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "path to a kubeconfig, with --cluster (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	f.StringVar(&o.configFile, "config", "", "berth's KubeSchedulerConfiguration file, for its profile names and GPU args (default with --cluster: the ConfigMap of --scheduler-configmap)")
	f.StringVar(&o.configMap, "scheduler-configmap", "berth-system/berth-config", "NAMESPACE/NAME of the ConfigMap with berth's config.yaml, read with --cluster when --config is not given")
	f.StringVarP(&o.namespace, "namespace", "n", "", "namespace of objects that name none (default: the kubeconfig context's with --cluster, else default)")
	f.BoolVar(&o.listRules, "list-rules", false, "print the rules and exit")
	return cmd
}

func runLint(ctx context.Context, o *lintOptions, args []string, cmd *cobra.Command) error {
	out := cmd.OutOrStdout()
	if o.listRules {
		for _, r := range lint.Rules() {
			cluster := ""
			if r.NeedsCluster {
				cluster = " (--cluster)"
			}
			fmt.Fprintf(out, "%s  %-7s %-28s %s%s\n", r.ID, r.Severity, r.Name, r.Summary, cluster)
		}
		return nil
	}
	usage := func(err error) error { return &ExitError{Code: ExitUsage, Err: err} }
	switch o.output {
	case lint.FormatText, lint.FormatJSON, lint.FormatSARIF:
	default:
		return usage(fmt.Errorf("unknown output format %q (want text, json or sarif)", o.output))
	}
	failOn, ok := lint.ParseSeverity(o.failOn)
	if !ok && o.failOn != "none" {
		return usage(fmt.Errorf("unknown --fail-on %q (want error, warning, info or none)", o.failOn))
	}
	if len(args) == 0 {
		return usage(errors.New("no manifests given; pass files, directories or - for stdin"))
	}
	if o.cluster && len(o.clusterFiles) > 0 {
		return usage(errors.New("--cluster and --cluster-file exclude each other"))
	}
	reader := lint.NewReader()
	objs, readFindings, err := reader.ReadPaths(args, cmd.InOrStdin())
	if err != nil {
		return usage(err)
	}
	opts := lint.Options{DefaultNamespace: o.namespace}
	switch {
	case o.cluster:
		c, ns, err := lintCluster(ctx, o)
		if err != nil {
			return usage(err)
		}
		opts.Cluster = c
		if opts.DefaultNamespace == "" {
			opts.DefaultNamespace = ns
		}
	case len(o.clusterFiles) > 0:
		cobjs, _, err := reader.ReadPaths(o.clusterFiles, cmd.InOrStdin())
		if err != nil {
			return usage(err)
		}
		opts.Cluster = lint.ClusterFromObjects(cobjs)
	}
	findings, lintErr := lint.LintAll(objs, readFindings, opts)
	if err := lint.Write(out, findings, o.output, version.Get().Version); err != nil {
		return usage(err)
	}
	if lintErr != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("some rules failed internally (please report it): %w", lintErr)}
	}
	if o.failOn == "none" {
		return nil
	}
	worst := lint.Worst(findings)
	switch {
	case worst == "" || !worst.AtLeast(failOn):
		return nil
	case worst == lint.Error:
		return &ExitError{Code: ExitErrors}
	}
	return &ExitError{Code: ExitFindings}
}

// lintCluster reads the live cluster for --cluster, and the default
// namespace of the kubeconfig's context.
func lintCluster(ctx context.Context, o *lintOptions) (*lint.Cluster, string, error) {
	cc := clientConfig(o.kubeconfig, nil)
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", err
	}
	rc, err := cc.ClientConfig()
	if err != nil {
		return nil, "", err
	}
	rc.UserAgent = "berth/lint"
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, "", err
	}
	if err := checkReachable(ctx, client); err != nil {
		return nil, "", err
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, "", err
	}
	copts := lint.ClusterOptions{Client: client, Dynamic: dyn}
	cfg, err := schedulerConfig(ctx, client, o.configFile, o.configMap)
	if err != nil {
		return nil, "", err
	}
	if cfg != nil {
		applySchedulerConfig(&copts, cfg)
	}
	c, err := lint.FromCluster(ctx, copts)
	return c, ns, err
}

// schedulerConfig loads berth's configuration from a file, else from its
// ConfigMap; nil (no error) when the ConfigMap does not exist or may not
// be read, so schedulerName is then not checked.
func schedulerConfig(ctx context.Context, client kubernetes.Interface, file, configMap string) (*config.Config, error) {
	reg := plugins.NewInTreeRegistry()
	if file != "" {
		return config.LoadFile(file, reg)
	}
	ns, name, ok := strings.Cut(configMap, "/")
	if !ok || configMap == "" {
		return nil, nil
	}
	cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load([]byte(cm.Data["config.yaml"]), reg)
	if err != nil {
		return nil, fmt.Errorf("berth's ConfigMap %s: %w", configMap, err)
	}
	return cfg, nil
}

// applySchedulerConfig takes the profile names and GPUShare args of
// berth's configuration.
func applySchedulerConfig(o *lint.ClusterOptions, cfg *config.Config) {
	o.SchedulerNames = []string{}
	for _, p := range cfg.Profiles {
		o.SchedulerNames = append(o.SchedulerNames, p.SchedulerName)
		if a, ok := p.PluginArgs[gpushare.Name].(*gpushare.Args); ok && o.GPUResource == "" {
			o.GPUResource, o.GPUModelLabel, o.GPUMemoryLabel = a.ResourceName, a.ModelLabel, a.MemoryLabel
		}
	}
}
