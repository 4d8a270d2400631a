package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
)

// Options configure a harness run.
type Options struct {
	// Scale is full, small or tiny.
	Scale string
	// Workloads is a comma-separated list of workload names; empty: all.
	Workloads string
	// WorkloadDir overrides the built-in workload files.
	WorkloadDir string
	// Schedulers to run, in order, on every workload; empty: each
	// workload's default (kube-scheduler, berth, ceiling, plus
	// berth-extender and plugin-mode where the workload sets shells).
	Schedulers []string
	// OutDir receives results.json, results.md and logs/.
	OutDir string
	// BinDir holds berth, kube-scheduler and the devcluster binaries;
	// empty: testenv.BinDir().
	BinDir string
	// QPS and Burst of every client: both schedulers', the harness's and
	// the ceiling binder's.
	QPS   float32
	Burst int32
	// CreateWorkers create measured pods concurrently.
	CreateWorkers int
	// BindWorkers is the ceiling binder's concurrency.
	BindWorkers int
	// StallTimeout ends a run when every measured pod is created and none
	// has been bound for this long (pods left pending are reported).
	StallTimeout time.Duration
	// RunTimeout bounds one scheduler's measurement.
	RunTimeout time.Duration
	// Progress receives progress lines (stderr in the CLI).
	Progress io.Writer
	// ProfileSeconds, if set, takes CPU profiles for this long once the
	// measured pods start: of berth (berth runs only) and of the API
	// server (every run), into logs/ (profile.go).
	ProfileSeconds int
}

func (o *Options) defaults() {
	if o.Scale == "" {
		o.Scale = ScaleFull
	}
	if o.QPS == 0 {
		o.QPS = 5000
	}
	if o.Burst == 0 {
		o.Burst = 10000
	}
	if o.CreateWorkers == 0 {
		o.CreateWorkers = 32
	}
	if o.BindWorkers == 0 {
		o.BindWorkers = 96
	}
	if o.StallTimeout == 0 {
		o.StallTimeout = 20 * time.Second
	}
	if o.RunTimeout == 0 {
		o.RunTimeout = 10 * time.Minute
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// Run runs the selected workloads and writes OutDir/results.json and
// OutDir/results.md. The report is returned even when a workload failed
// (its Error is set); err is for problems that stop everything.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	if err := validSchedulers(o.Schedulers); err != nil {
		return nil, err
	}
	all, err := LoadWorkloads(o.WorkloadDir)
	if err != nil {
		return nil, err
	}
	ws, err := SelectWorkloads(all, o.Workloads)
	if err != nil {
		return nil, err
	}
	if o.BinDir == "" {
		if o.BinDir, err = testenv.BinDir(); err != nil {
			return nil, err
		}
	}
	if o.OutDir == "" {
		o.OutDir = "bench-results"
	}
	logDir := filepath.Join(o.OutDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	if abs, err := filepath.Abs(logDir); err == nil {
		logDir = abs
	}
	// testenv finds the control-plane binaries through this variable.
	os.Setenv(testenv.BinDirEnv, o.BinDir)

	rep := &Report{
		StartedAt:  time.Now().UTC().Format(time.RFC3339),
		Scale:      o.Scale,
		Schedulers: schedulersOf(o.Schedulers, ws),
		Host:       hostInfo(o.BinDir),
		Settings: Settings{QPS: o.QPS, Burst: o.Burst, CreateWorkers: o.CreateWorkers, BindWorkers: o.BindWorkers,
			StallTimeoutSeconds: o.StallTimeout.Seconds(), RunTimeoutSeconds: o.RunTimeout.Seconds()},
	}
	start := time.Now()
	for _, w := range ws {
		if ctx.Err() != nil {
			break
		}
		wr := runWorkload(ctx, o, w, logDir)
		rep.Workloads = append(rep.Workloads, wr)
		rep.ElapsedSeconds = time.Since(start).Seconds()
		if err := rep.write(o.OutDir); err != nil {
			return rep, err
		}
	}
	rep.ElapsedSeconds = time.Since(start).Seconds()
	return rep, rep.write(o.OutDir)
}

func hostInfo(binDir string) Host {
	h := Host{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if out, err := execOutput(filepath.Join(binDir, "berth"), "version"); err == nil {
		h.BerthVersion = strings.TrimSpace(out)
	}
	if out, err := execOutput(filepath.Join(binDir, "kube-scheduler"), "--version"); err == nil {
		h.KubeSchedulerVersion = strings.TrimSpace(out)
	}
	if out, err := execOutput(filepath.Join(binDir, "kube-scheduler-berth"), "--version"); err == nil {
		h.KubeSchedulerBerthVersion = strings.TrimSpace(out)
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		h.LoadAverageAtStart = strings.Join(strings.Fields(string(data))[:3], " ")
	}
	return h
}

// runWorkload starts a fresh control plane, creates the nodes and runs
// every scheduler on it in turn.
func runWorkload(ctx context.Context, o Options, w *Workload, logDir string) *WorkloadResult {
	wr := &WorkloadResult{Name: w.Name, Description: w.Description, Targets: w.Targets}
	counts, err := w.Counts(o.Scale)
	if err != nil {
		wr.Error = err.Error()
		return wr
	}
	wr.Nodes, wr.InitialPods, wr.MeasuredPods = counts.Nodes, counts.InitialPods, counts.MeasuredPods
	wr.ExpectedSchedulable = w.expectedMeasured(counts)
	wr.KubeSchedulerFeatureGates = w.kubeSchedulerFeatureGates()
	wr.ChurnPerSecond = counts.ChurnPerSecond
	if w.Churn == nil {
		wr.ChurnPerSecond = 0
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(o.Progress, "[%s] %s\n", w.Name, fmt.Sprintf(format, args...))
	}
	t0 := time.Now()
	logf("starting a fresh control plane (controller manager: %v, provisioner: %v, DRA driver: %v)", w.ControllerManager, w.Provisioner, w.DRA != nil)
	env, err := testenv.Start(testenv.Options{ControllerManager: w.ControllerManager, Provisioner: w.Provisioner, DRA: w.DRA != nil})
	if err != nil {
		wr.Error = fmt.Sprintf("start control plane: %v", err)
		return wr
	}
	defer func() {
		if err := env.Stop(); err != nil {
			logf("stop control plane: %v", err)
		}
		wr.WallSeconds = time.Since(t0).Seconds()
	}()
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = o.QPS, int(o.Burst)
	cfg.UserAgent = "berth-bench"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		wr.Error = err.Error()
		return wr
	}
	logf("creating %d %s nodes", counts.Nodes, w.Nodes.Profile)
	nres, err := nodegen.Create(ctx, client, nodegen.Options{Count: counts.Nodes, Profile: nodegen.Profile(w.Nodes.Profile), Zones: w.Nodes.Zones, Prefix: "node-"})
	if err != nil {
		wr.Error = fmt.Sprintf("create nodes: %v", err)
		return wr
	}
	logf("created %d nodes in %s", nres.Created, nres.Elapsed.Round(time.Millisecond))
	if err := createPriorityClasses(ctx, client); err != nil {
		wr.Error = err.Error()
		return wr
	}
	h := &runner{o: o, w: w, counts: counts, client: client, kubeconfig: env.Kubeconfig, logDir: logDir, logf: logf}
	if err := h.loadNodes(ctx); err != nil {
		wr.Error = err.Error()
		return wr
	}
	if w.Storage != nil {
		if err := h.setupStorage(ctx); err != nil {
			wr.Error = err.Error()
			return wr
		}
	}
	if w.DRA != nil {
		if err := h.setupDRA(ctx); err != nil {
			wr.Error = err.Error()
			return wr
		}
	}
	if w.Gang != nil {
		h.plan = newGangPlan(counts)
		if err := h.setupGang(ctx); err != nil {
			wr.Error = err.Error()
			return wr
		}
	}
	scheds := o.Schedulers
	if len(scheds) == 0 {
		scheds = defaultSchedulers(w)
	}
	for _, s := range scheds {
		if ctx.Err() != nil {
			break
		}
		res, err := h.run(ctx, s)
		if err != nil {
			logf("%s: %v", s, err)
			if res == nil {
				res = &RunResult{Scheduler: s}
			}
			res.Error = err.Error()
		}
		switch s {
		case KubeScheduler:
			wr.KubeScheduler = res
		case Berth:
			wr.Berth = res
		case BerthExtender:
			wr.BerthExtender = res
		case PluginMode:
			wr.PluginMode = res
		case Ceiling:
			wr.Ceiling = res
		}
	}
	wr.computeRatios()
	return wr
}

// validSchedulers rejects names the harness cannot run and repeated ones
// (a workload holds one result per scheduler).
func validSchedulers(names []string) error {
	seen := map[string]bool{}
	for _, s := range names {
		if !slices.Contains(knownSchedulers, s) {
			return fmt.Errorf("unknown scheduler %q (want some of %s)", s, strings.Join(knownSchedulers, ", "))
		}
		if seen[s] {
			return fmt.Errorf("scheduler %q named twice", s)
		}
		seen[s] = true
	}
	return nil
}

// schedulersOf is the report's scheduler list: the explicit list, or else
// every scheduler some selected workload runs by default, in report order.
func schedulersOf(explicit []string, ws []*Workload) []string {
	if len(explicit) > 0 {
		return explicit
	}
	var out []string
	for _, s := range knownSchedulers {
		for _, w := range ws {
			if slices.Contains(defaultSchedulers(w), s) {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// PriorityClass names available to workload templates.
const (
	PriorityLow  = "bench-low"
	PriorityHigh = "bench-high"
)

func createPriorityClasses(ctx context.Context, client kubernetes.Interface) error {
	for name, value := range map[string]int32{PriorityLow: 100, PriorityHigh: 10000} {
		_, err := client.SchedulingV1().PriorityClasses().Create(ctx, &schedulingv1.PriorityClass{
			ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value,
			Description: "berth benchmark",
		}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create priority class %s: %v", name, err)
		}
	}
	return nil
}

// ratio returns a/b, or nil when it is not a finite number.
func ratio(a, b float64) *float64 {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return nil
	}
	r := a / b
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return nil
	}
	r = math.Round(r*1000) / 1000
	return &r
}
