package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/berthsched/berth/pkg/plugins"
	"github.com/berthsched/berth/pkg/simulate/loadsim"
)

type simulateLoadOptions struct {
	size        string
	nodes       int
	days        float64
	warmupDays  float64
	seed        int64
	requested   float64
	horizon     time.Duration
	policies    string
	out         string
	parallelism int
}

// maxSimulatedNodes bounds --nodes: beyond it a run takes hours.
const maxSimulatedNodes = 5000

func newSimulateLoadCommand() *cobra.Command {
	o := &simulateLoadOptions{}
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Simulate a cluster with a diurnal load and compare requests-only, target-load-packing and berth's LoadAware scoring",
		Long: `Simulate, in process and with no API server, a cluster of identical nodes
(32 CPU, 128Gi) running a synthetic diurnal workload whose pods use between
0.3 and 1.5 times the CPU they request, and schedule the same arrivals under
each policy through berth's filters, scorers and scheduling core. LoadAware
reads a simulated metric source that measures every node each minute (the
previous minute's average, as a Prometheus rate over 1m) and refits its
history as the real source does.

After the warm-up (the cluster fills and the forecast's history accumulates)
it measures, for each policy: hot node-minutes (CPU above 80%), the nodes that
were ever hot, saturated node-minutes (demand above the node's CPU), p99,
mean and max node utilisation, and the pods placed and failed with the mean
requested CPU, which show that every policy packed the same pods.

--size small is what the tests run (20 nodes, 2 warm-up days, 1 measured
day); --size full is the evaluation in docs/load-aware-evaluation.md (150
nodes, 2 + 4 days). --nodes, --days and --warmup-days override the preset.
--out writes results.csv (the table) and results.json (the table, the
workload and each policy's exact LoadAware args).`,
		Example: `  berth simulate load                          # the small size, every policy
  berth simulate load --size full --out results/
  berth simulate load --nodes 50 --days 2 --policy requests-only,berth-forecast`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer cancel()
			lo, err := o.options(cmd)
			if err != nil {
				return err
			}
			return runSimulateLoad(ctx, lo, o.out, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.size, "size", string(loadsim.SizeSmall), "preset: small (what make test runs) or full (the documented evaluation)")
	f.IntVar(&o.nodes, "nodes", 0, "number of nodes (default: the size's)")
	f.Float64Var(&o.days, "days", 0, "measured simulated days after the warm-up (default: the size's)")
	f.Float64Var(&o.warmupDays, "warmup-days", 0, "simulated days before measuring; Holt-Winters needs 2 (default: the size's)")
	f.Int64Var(&o.seed, "seed", loadsim.DefaultSeed, "seeds the workload and the tie-breaks")
	f.Float64Var(&o.requested, "request-fraction", loadsim.DefaultRequestFraction, "the pods' requested CPU as a fraction of the cluster's (the packing)")
	f.DurationVar(&o.horizon, "forecast-horizon", time.Hour, "how far ahead "+loadsim.PolicyBerthForecast+" takes the forecast peak")
	f.StringVar(&o.policies, "policy", "all", "comma-separated policies ("+strings.Join(loadsim.PolicyNames(), ", ")+") or all")
	f.StringVar(&o.out, "out", "", "directory to write results.csv and results.json to")
	f.IntVar(&o.parallelism, "parallelism", 0, "policies simulated at once (default: GOMAXPROCS)")
	return cmd
}

// options turns the flags into loadsim.Options: the size's preset, then
// the flags the user set.
func (o *simulateLoadOptions) options(cmd *cobra.Command) (loadsim.Options, error) {
	lo, err := loadsim.SizeOptions(loadsim.Size(o.size))
	if err != nil {
		return lo, fmt.Errorf("--size: %w", err)
	}
	f := cmd.Flags()
	if f.Changed("nodes") {
		if o.nodes < 1 || o.nodes > maxSimulatedNodes {
			return lo, fmt.Errorf("--nodes %d is outside 1..%d", o.nodes, maxSimulatedNodes)
		}
		lo.Nodes = o.nodes
	}
	if f.Changed("days") {
		if !(o.days > 0 && o.days <= 60) {
			return lo, fmt.Errorf("--days %g is outside (0, 60]", o.days)
		}
		lo.Days = o.days
	}
	if f.Changed("warmup-days") {
		if !(o.warmupDays >= 0 && o.warmupDays <= 30) {
			return lo, fmt.Errorf("--warmup-days %g is outside [0, 30]", o.warmupDays)
		}
		lo.WarmupDays = o.warmupDays
	}
	if !(o.requested > 0 && o.requested <= 0.9) {
		return lo, fmt.Errorf("--request-fraction %g is outside (0, 0.9]", o.requested)
	}
	lo.RequestFraction = o.requested
	if o.parallelism < 0 {
		return lo, fmt.Errorf("--parallelism %d is negative", o.parallelism)
	}
	var names []string
	if p := strings.TrimSpace(o.policies); p != "" && !strings.EqualFold(p, "all") {
		names = strings.Split(p, ",")
	}
	if lo.Policies, err = loadsim.PoliciesByName(names); err != nil {
		return lo, fmt.Errorf("--policy: %w", err)
	}
	if o.horizon < 5*time.Minute || o.horizon > 7*24*time.Hour {
		return lo, fmt.Errorf("--forecast-horizon %s is outside 5m..168h", o.horizon)
	}
	for i := range lo.Policies {
		if p := &lo.Policies[i]; p.Name == loadsim.PolicyBerthForecast {
			p.LoadAware.Forecast.Horizon.Duration = o.horizon
			p.Description = strings.Replace(p.Description, "horizon 1h", "horizon "+shortDuration(o.horizon), 1)
		}
	}
	lo.Seed = o.seed
	lo.Parallelism = o.parallelism
	lo.Registry = plugins.NewInTreeRegistry()
	return lo, nil
}

func runSimulateLoad(ctx context.Context, o loadsim.Options, out string, stdout, stderr io.Writer) error {
	if out != "" {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "Cluster: %d nodes; %g warm-up + %g measured simulated days; %g%% of the CPU requested; seed %d; policies %s\n",
		o.Nodes, o.WarmupDays, o.Days, 100*o.RequestFraction, o.Seed, policyList(o.Policies))
	if o.WarmupDays < 2 {
		for _, p := range o.Policies {
			if p.LoadAware != nil && p.LoadAware.Forecast.Model == "holtWinters" {
				fmt.Fprintf(stderr, "Note: with less than 2 warm-up days %s forecasts with EWMA until it has two days of history\n", p.Name)
			}
		}
	}
	p := &loadProgress{w: stderr, start: time.Now(), last: map[string]int{}}
	o.Progress = p.update
	rep, err := loadsim.Run(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%d pods arrived; simulated in %s\n", rep.Pods, time.Since(p.start).Round(100*time.Millisecond))
	if err := loadsim.WriteTable(stdout, rep); err != nil {
		return err
	}
	if out == "" {
		return nil
	}
	csvPath, jsonPath := filepath.Join(out, "results.csv"), filepath.Join(out, "results.json")
	if err := writeFile(csvPath, func(w io.Writer) error { return loadsim.WriteCSV(w, rep) }); err != nil {
		return err
	}
	if err := writeFile(jsonPath, func(w io.Writer) error { return loadsim.WriteJSON(w, rep) }); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "Wrote %s and %s\n", csvPath, jsonPath)
	return nil
}

// shortDuration prints 1h for 1h0m0s, as configurations spell it.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

func policyList(ps []loadsim.Policy) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

// loadProgress prints a line per policy every 10% of its simulated time:
// policies run concurrently, so a redrawn bar would mix them (loadsim
// serialises the calls).
type loadProgress struct {
	w     io.Writer
	start time.Time
	last  map[string]int
}

func (p *loadProgress) update(policy string, done, total int) {
	if total == 0 {
		return
	}
	step := done * 100 / total / 10 * 10
	if last, ok := p.last[policy]; ok && step <= last {
		return
	}
	if step == 0 {
		return
	}
	p.last[policy] = step
	fmt.Fprintf(p.w, "%s: %d%% (%d/%d simulated hours) after %s\n", policy, step, done/60, total/60,
		time.Since(p.start).Round(100*time.Millisecond))
}
