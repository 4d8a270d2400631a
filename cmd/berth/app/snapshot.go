package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/plugins"
	"github.com/berthsched/berth/pkg/simulate/whatif"
)

func newSnapshotCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Save a cluster's scheduling state to a file, for berth simulate whatif",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newSnapshotSaveCommand())
	return cmd
}

type snapshotSaveOptions struct {
	out        string
	kubeconfig string
	configFile string
}

func newSnapshotSaveCommand() *cobra.Command {
	o := &snapshotSaveOptions{}
	cmd := &cobra.Command{
		Use:   "save -o FILE",
		Short: "List the cluster's nodes, pods, volumes, claims, pod groups … into a snapshot file",
		Long: `List everything berth's plugins read (nodes, pods, namespaces, volumes and
claims, storage classes and CSI objects, DRA device classes, slices and
claims, disruption budgets, priority classes, services, and the PodGroup,
AppGroup and NetworkTopology custom resources the server serves) into one
YAML (or, for a .json file, JSON) file of kind ClusterSnapshot. With
--config, berth's KubeSchedulerConfiguration is stored in it too, so
berth simulate whatif runs with the same profiles. Only reads; managed
fields are dropped.`,
		Example: `  berth snapshot save -o cluster.yaml --config /etc/berth/config.yaml
  berth simulate whatif --snapshot cluster.yaml --remove-nodes topology.kubernetes.io/zone=zone-a`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer cancel()
			return runSnapshotSave(ctx, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.out, "output", "o", "", "file to write (- for stdout; .json writes JSON, anything else YAML)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "path to a kubeconfig (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	f.StringVar(&o.configFile, "config", "", "berth's KubeSchedulerConfiguration file to store in the snapshot (checked first)")
	f.AddGoFlagSet(goflagSet())
	_ = cmd.MarkFlagRequired("output")
	return cmd
}

func runSnapshotSave(ctx context.Context, o *snapshotSaveOptions, stdout, stderr io.Writer) error {
	var cfgText string
	var cfg *config.Config
	if o.configFile != "" {
		b, err := os.ReadFile(o.configFile)
		if err != nil {
			return fmt.Errorf("reading config: %w", err)
		}
		if cfg, err = config.Load(b, plugins.NewInTreeRegistry()); err != nil {
			return fmt.Errorf("config %s: %w", o.configFile, err)
		}
		cfgText = string(b)
	}
	s, err := liveSnapshot(ctx, o.kubeconfig, cfg, cfgText, stderr)
	if err != nil {
		return err
	}
	asJSON := strings.HasSuffix(o.out, ".json")
	if o.out == "-" {
		return s.Write(stdout, false)
	}
	if err := writeFile(o.out, func(w io.Writer) error { return s.Write(w, asJSON) }); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "Wrote %s: %s\n", o.out, s.CountsString())
	return nil
}

// liveSnapshot lists the cluster's scheduling state, reporting each
// resource on stderr as it goes.
func liveSnapshot(ctx context.Context, kubeconfig string, cfg *config.Config, cfgText string, stderr io.Writer) (*whatif.Snapshot, error) {
	rc, err := clientConfig(kubeconfig, cfg).ClientConfig()
	if err != nil {
		return nil, err
	}
	rc.UserAgent = "berth/snapshot"
	rc.QPS, rc.Burst = 50, 100
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	if err := checkReachable(ctx, client); err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	return whatif.Save(ctx, whatif.SaveOptions{
		Dynamic: dyn, Discovery: client.Discovery(), Server: rc.Host, SchedulerConfig: cfgText,
		Progress: func(gvr schema.GroupVersionResource, n int) {
			if n > 0 {
				fmt.Fprintf(stderr, "listed %d %s\n", n, gvr.Resource)
			}
		},
	})
}
