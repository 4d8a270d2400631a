package app

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/plugins"
	"github.com/berthsched/berth/pkg/simulate/whatif"
)

type whatifOptions struct {
	snapshot    string
	cluster     bool
	kubeconfig  string
	configFile  string
	configAfter string
	removeNodes string
	addNodes    []string
	add         []string
	mode        string
	capacity    string
	maxCapacity int
	seed        uint64
	tieBreak    string
	output      string
}

func newSimulateWhatIfCommand() *cobra.Command {
	o := &whatifOptions{}
	cmd := &cobra.Command{
		Use:   "whatif (--snapshot FILE | --cluster) [change…]",
		Short: "Compare where pods go now with where they would go after a change: another config, nodes drained or added, more workloads",
		Long: `Run berth's scheduling core, with its profiles and plugins, on a cluster
snapshot (berth snapshot save) or on the live cluster (--cluster, read
only), twice: as it is, and after a change. The change is any mix of:

  --config-after FILE   another scheduler configuration
  --remove-nodes SEL    remove the nodes a label selector picks (drain a zone);
                        their pods are displaced and placed again
  --add-nodes FILE[=N]  N copies of a Node manifest (named NAME-0…)
  --add FILE[=N]        N copies of the workloads in a manifest (Pods,
                        Deployments, ReplicaSets, StatefulSets, Jobs, CronJobs)

Pods are placed one at a time in the queue's order (priority, then age),
each reserved where it lands, so later pods see earlier ones; gangs are
placed all or nothing. In --mode pending (the default) bound pods stay put
and the pending, displaced and added pods are placed; --mode all places
every pod berth serves again (DaemonSet and static pods stay), which shows
the pods a config change would move. No preemption is simulated.

The report: pods placed and pending before and after, the pods that move,
become pending (and why) or get placed, utilisation per zone (and per node
with -o json), and with --capacity FILE how many more copies of that pod
fit after the change and why the next one does not.`,
		Example: `  berth snapshot save -o cluster.yaml --config config.yaml
  berth simulate whatif --snapshot cluster.yaml                         # where pending pods go now
  berth simulate whatif --snapshot cluster.yaml --remove-nodes topology.kubernetes.io/zone=zone-a
  berth simulate whatif --snapshot cluster.yaml --add web.yaml=3 --capacity probe.yaml
  berth simulate whatif --snapshot cluster.yaml --mode all --config-after most-allocated.yaml
  berth simulate whatif --cluster --add-nodes node-template.yaml=10 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer cancel()
			return runWhatIf(ctx, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.snapshot, "snapshot", "", "snapshot file written by berth snapshot save")
	f.BoolVar(&o.cluster, "cluster", false, "read the live cluster instead of a snapshot (nothing is written to it)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "with --cluster: path to a kubeconfig (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	f.StringVar(&o.configFile, "config", "", "the baseline's KubeSchedulerConfiguration (default: the snapshot's, else berth's defaults)")
	f.StringVar(&o.configAfter, "config-after", "", "the changed run's KubeSchedulerConfiguration")
	f.StringVar(&o.removeNodes, "remove-nodes", "", "label selector of nodes to remove in the changed run, e.g. topology.kubernetes.io/zone=zone-a")
	f.StringArrayVar(&o.addNodes, "add-nodes", nil, "Node manifest to add, FILE or FILE=COUNT (repeatable)")
	f.StringArrayVar(&o.add, "add", nil, "workload manifest to add, FILE or FILE=COUNT copies (repeatable)")
	f.StringVar(&o.mode, "mode", string(whatif.ModePending), "which pods to place: pending (bound pods stay) or all (place every pod berth serves again)")
	f.StringVar(&o.capacity, "capacity", "", "manifest of a pod (or workload: its pod template) to count how many more copies fit")
	f.IntVar(&o.maxCapacity, "max-capacity", 10000, "stop counting --capacity copies at this many")
	f.Uint64Var(&o.seed, "seed", 1, "seeds the random choice among equally scored nodes")
	f.StringVar(&o.tieBreak, "tie-break", tieBreakRandom, tieBreakUsage)
	f.StringVarP(&o.output, "output", "o", whatif.FormatText, "output format: text or json")
	f.AddGoFlagSet(goflagSet())
	return cmd
}

// fileCount splits FILE=COUNT (COUNT defaults to 1).
func fileCount(flag, v string) (string, int, error) {
	file, n, ok := strings.Cut(v, "=")
	if !ok {
		return v, 1, nil
	}
	c, err := strconv.Atoi(n)
	if err != nil || c < 1 {
		return "", 0, fmt.Errorf("--%s %s: the count after = must be a positive integer", flag, v)
	}
	return file, c, nil
}

func runWhatIf(ctx context.Context, o *whatifOptions, stdout, stderr io.Writer) error {
	if o.output != whatif.FormatText && o.output != whatif.FormatJSON {
		return fmt.Errorf("unknown output format %q (want text or json)", o.output)
	}
	if (o.snapshot == "") == !o.cluster {
		return fmt.Errorf("give exactly one of --snapshot FILE and --cluster")
	}
	byName, err := parseTieBreak(o.tieBreak)
	if err != nil {
		return err
	}
	reg := plugins.NewInTreeRegistry()
	opts := whatif.Options{Registry: reg, Mode: whatif.Mode(o.mode), MaxCapacity: o.maxCapacity, Seed: o.seed, TieBreakByName: byName}
	loadCfg := func(path, text string) (*config.Config, error) {
		if path != "" {
			return config.LoadFile(path, reg)
		}
		c, err := config.Load([]byte(text), reg)
		if err != nil {
			return nil, fmt.Errorf("the snapshot's scheduler config: %w", err)
		}
		return c, nil
	}
	if o.cluster {
		if opts.Config, err = loadCfg(o.configFile, ""); err != nil {
			return err
		}
		if opts.Snapshot, err = liveSnapshot(ctx, o.kubeconfig, opts.Config, "", stderr); err != nil {
			return err
		}
	} else {
		if opts.Snapshot, err = whatif.ReadFile(o.snapshot); err != nil {
			return err
		}
		if opts.Config, err = loadCfg(o.configFile, opts.Snapshot.SchedulerConfig); err != nil {
			return err
		}
	}
	if o.configAfter != "" {
		if opts.ConfigAfter, err = config.LoadFile(o.configAfter, reg); err != nil {
			return fmt.Errorf("--config-after: %w", err)
		}
		opts.ConfigAfterSource = o.configAfter
	}
	if o.removeNodes != "" {
		if opts.RemoveNodes, err = labels.Parse(o.removeNodes); err != nil {
			return fmt.Errorf("--remove-nodes %q: %w", o.removeNodes, err)
		}
	}
	for _, v := range o.addNodes {
		file, n, err := fileCount("add-nodes", v)
		if err != nil {
			return err
		}
		node, err := whatif.ReadNode(file)
		if err != nil {
			return fmt.Errorf("--add-nodes: %w", err)
		}
		opts.AddNodes = append(opts.AddNodes, whatif.NodeAddition{Template: node, Count: n, Source: file})
	}
	for _, v := range o.add {
		file, n, err := fileCount("add", v)
		if err != nil {
			return err
		}
		ws, err := whatif.ReadWorkloads(file)
		if err != nil {
			return fmt.Errorf("--add: %w", err)
		}
		opts.AddWorkloads = append(opts.AddWorkloads, whatif.WorkloadAddition{Workloads: ws, Count: n, Source: file})
	}
	if o.capacity != "" {
		ws, err := whatif.ReadWorkloads(o.capacity)
		if err != nil {
			return fmt.Errorf("--capacity: %w", err)
		}
		if len(ws) != 1 || len(ws[0].Pods) == 0 {
			return fmt.Errorf("--capacity %s: want one pod or workload, got %d objects", o.capacity, len(ws))
		}
		opts.Capacity = ws[0].Pods[0]
	}
	bars := map[string]*progress{}
	opts.Progress = func(stage string, done, total int) {
		p := bars[stage]
		if p == nil {
			p = newProgress(stderr, stage)
			bars[stage] = p
		}
		p.update(done, total)
		if done == total {
			p.done()
		}
	}
	res, err := whatif.Run(ctx, opts)
	if err != nil {
		return err
	}
	return whatif.Render(stdout, res, o.output)
}
