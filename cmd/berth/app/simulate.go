package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/berthsched/berth/pkg/placement/gpu"
	"github.com/berthsched/berth/pkg/plugins"
	"github.com/berthsched/berth/pkg/simulate"
)

type simulateOptions struct {
	trace       string
	nodes       string
	pods        string
	policy      string
	seed        int64
	tune        float64
	workload    string
	window      int
	tieBreak    string
	out         string
	parallelism int
	cpuProfile  string
}

func newSimulateCommand() *cobra.Command {
	o := &simulateOptions{}
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Replay a GPU cluster trace through berth's plugins and compare GPU placement policies",
		Long: `Replay the openb GPU trace (or another trace in its CSV format) in process,
through berth's own filters, the GPUShare plugin and the scheduling core, with
no API server, following the protocol of the FGD paper (Weng et al., USENIX
ATC '23): pods sorted by name, shuffled with --seed, cloned until their GPU
demand is --tune times the cluster's GPU capacity, scheduled one at a time and
never removed. For each policy it prints the pods placed and failed and the
GPU allocation (in % of the capacity) when 100% of the capacity had been
requested, the paper's headline number, and at the end of the run.

With no trace flags it runs the embedded openb default trace (1,213 GPU nodes,
8,152 pods). --out writes alloc.csv (the allocation curve per policy, one row
per arrived-demand percent) and alloc.svg (the same as a line chart).

Ties between equally scored nodes go to the smallest node name, as in the
paper's simulator (--tie-break=name, the default); --tie-break=random breaks
them at random, as berth's scheduler does.`,
		Example: `  berth simulate                                  # FGD on the embedded default trace
  berth simulate --policy all --out results/      # the six policies, with CSV and SVG
  berth simulate --policy all --tie-break random  # ties broken as berth's scheduler does
  berth simulate --trace traces/openb --pods openb_pod_list_gpushare40.csv --policy FGD,BestFit`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer cancel()
			return runSimulate(ctx, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.trace, "trace", "", "directory with "+simulate.NodeListFile+" and one "+simulate.PodListPrefix+"*.csv (default: the embedded openb default trace)")
	f.StringVar(&o.nodes, "nodes", "", "node list CSV (sn,cpu_milli,memory_mib,gpu,model); default with --trace: DIR/"+simulate.NodeListFile)
	f.StringVar(&o.pods, "pods", "", "pod list CSV (name,cpu_milli,memory_mib,num_gpu,gpu_milli[,gpu_spec]); with --trace, a file name in DIR or a path")
	f.StringVar(&o.policy, "policy", gpu.FGD, "GPU policy: "+strings.Join(gpu.PolicyNames, ", ")+", a comma-separated list, or all")
	f.Int64Var(&o.seed, "seed", simulate.DefaultSeed, "seeds the arrival order, the tie-breaks and the Random policy")
	f.Float64Var(&o.tune, "tune", simulate.DefaultTune, "scale the GPU demand to this multiple of the cluster's GPU capacity (<= 0: replay the trace as it is)")
	f.StringVar(&o.workload, "workload", string(simulate.WorkloadOnline), "FGD's typical workload: online (learned from arriving pods) or trace (the whole original trace, as the paper)")
	f.IntVar(&o.window, "window", 0, "GPUShare's workload window in pods (default: the plugin's; with --workload=trace, the whole trace, then frozen)")
	f.StringVar(&o.tieBreak, "tie-break", string(simulate.TieBreakName), "how to choose among equally scored nodes: name (the smallest, as the paper's simulator) or random (as berth's scheduler)")
	f.StringVar(&o.out, "out", "", "directory to write alloc.csv and alloc.svg to")
	f.IntVar(&o.parallelism, "parallelism", 0, "goroutines filtering and scoring nodes (default: GOMAXPROCS)")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the runs to this file")
	cmd.AddCommand(newSimulateLoadCommand())
	cmd.AddCommand(newSimulateNetworkCommand())
	cmd.AddCommand(newSimulateWhatIfCommand())
	return cmd
}

func runSimulate(ctx context.Context, o *simulateOptions, stdout, stderr io.Writer) error {
	policies, err := parsePolicies(o.policy)
	if err != nil {
		return err
	}
	switch simulate.TieBreak(o.tieBreak) {
	case simulate.TieBreakRandom, simulate.TieBreakName:
	default:
		return fmt.Errorf("unknown --tie-break %q (want %s or %s)", o.tieBreak, simulate.TieBreakRandom, simulate.TieBreakName)
	}
	tr, err := loadTrace(o)
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Fprintf(stderr, "Trace %s: %d nodes, %d GPUs, %d pods; seed %d, tune %g, tie-break %s\n",
		tr.Name, len(tr.Nodes), tr.GPUCapacityMilli()/gpu.MilliPerCard, len(tr.Pods), o.seed, o.tune, o.tieBreak)
	reg := plugins.NewInTreeRegistry()
	var results []*simulate.Result
	for _, policy := range policies {
		p := newProgress(stderr, policy)
		res, err := simulate.Run(ctx, simulate.Options{
			Trace:       tr,
			Registry:    reg,
			Policy:      policy,
			Seed:        o.seed,
			Tune:        o.tune,
			Workload:    simulate.WorkloadMode(o.workload),
			Window:      o.window,
			TieBreak:    simulate.TieBreak(o.tieBreak),
			Parallelism: o.parallelism,
			Progress:    p.update,
		})
		p.done()
		if err != nil {
			return fmt.Errorf("policy %s: %w", policy, err)
		}
		results = append(results, res)
	}
	if err := printSummary(stdout, results); err != nil {
		return err
	}
	if o.out == "" {
		return nil
	}
	return writeOutputs(o.out, tr, o, results, stderr)
}

// parsePolicies expands "all" and a comma-separated list into canonical
// policy names.
func parsePolicies(s string) ([]string, error) {
	if strings.EqualFold(strings.TrimSpace(s), "all") {
		return gpu.PolicyNames, nil
	}
	var out []string
	for _, name := range strings.Split(s, ",") {
		p, err := gpu.PolicyByName(strings.TrimSpace(name))
		if err != nil {
			return nil, err
		}
		out = append(out, p.Name())
	}
	return out, nil
}

// loadTrace resolves the trace flags: --trace DIR (with an optional
// --pods file in it, or --nodes/--pods overriding either file), both
// --nodes and --pods, or nothing for the embedded trace.
func loadTrace(o *simulateOptions) (*simulate.Trace, error) {
	switch {
	case o.trace != "":
		if o.nodes == "" && o.pods == "" {
			return simulate.LoadTraceDir(o.trace)
		}
		nodes := o.nodes
		if nodes == "" {
			nodes = filepath.Join(o.trace, simulate.NodeListFile)
		}
		if o.pods == "" {
			return nil, errors.New("--nodes with --trace needs --pods too (or drop --nodes to use the directory's node list)")
		}
		pods := o.pods
		if _, err := os.Stat(pods); err != nil && !filepath.IsAbs(pods) {
			pods = filepath.Join(o.trace, pods)
		}
		return simulate.LoadTraceFiles(nodes, pods)
	case o.nodes != "" || o.pods != "":
		if o.nodes == "" || o.pods == "" {
			return nil, errors.New("--nodes and --pods go together (or use --trace DIR)")
		}
		return simulate.LoadTraceFiles(o.nodes, o.pods)
	}
	return simulate.DefaultTrace()
}

func printSummary(w io.Writer, results []*simulate.Result) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "POLICY\tWORKLOAD\tPODS\tPLACED\tFAILED\tGPU ALLOC @100% ARRIVED\tAT END\tWALL")
	for _, r := range results {
		at100 := "-"
		if v, ok := r.AllocAt(100); ok {
			at100 = fmt.Sprintf("%.2f%%", v)
		}
		last := r.Final()
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%.2f%%\t%s\n", r.Policy, r.Workload, len(r.Points), last.Placed, last.Failed,
			at100, r.FinalAllocPct(), r.Wall.Round(100*time.Millisecond))
	}
	return tw.Flush()
}

func writeOutputs(dir string, tr *simulate.Trace, o *simulateOptions, results []*simulate.Result, stderr io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	csvPath, svgPath := filepath.Join(dir, "alloc.csv"), filepath.Join(dir, "alloc.svg")
	if err := writeFile(csvPath, func(w io.Writer) error { return simulate.WriteCSV(w, results) }); err != nil {
		return err
	}
	title := fmt.Sprintf("GPU allocation, %s (seed %d, tune %g, tie-break %s)", tr.Name, o.seed, o.tune, o.tieBreak)
	if err := writeFile(svgPath, func(w io.Writer) error { return simulate.WriteSVG(w, title, results) }); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "Wrote %s and %s\n", csvPath, svgPath)
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

// progress reports a run's progress on stderr: a bar redrawn in place on
// a terminal, otherwise a line every 10% so logs stay readable.
type progress struct {
	w        io.Writer
	label    string
	terminal bool
	start    time.Time
	last     int // last percentage reported
	lastDraw time.Time
}

func newProgress(w io.Writer, label string) *progress {
	return &progress{w: w, label: label, terminal: isTerminal(w), start: time.Now(), last: -1}
}

func (p *progress) update(done, total int) {
	if total == 0 {
		return
	}
	pct := done * 100 / total
	if p.terminal {
		now := time.Now()
		if pct == p.last && done != total && now.Sub(p.lastDraw) < 200*time.Millisecond {
			return
		}
		p.last, p.lastDraw = pct, now
		const width = 30
		n := done * width / total
		fmt.Fprintf(p.w, "\r%-14s [%s%s] %3d%% %d/%d pods %s", p.label, strings.Repeat("=", n), strings.Repeat(" ", width-n),
			pct, done, total, time.Since(p.start).Round(time.Second))
		return
	}
	if step := pct / 10 * 10; step > p.last && (step > 0 || done == total) {
		p.last = step
		fmt.Fprintf(p.w, "%s: %d%% (%d/%d pods) after %s\n", p.label, step, done, total, time.Since(p.start).Round(100*time.Millisecond))
	}
}

// done ends the bar's line.
func (p *progress) done() {
	if p.terminal && p.last >= 0 {
		fmt.Fprintln(p.w)
	}
}

// isTerminal reports whether w is a character device (a terminal), where
// a bar can be redrawn with carriage returns.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
