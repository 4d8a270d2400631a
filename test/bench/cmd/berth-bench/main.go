package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/berthsched/berth/test/bench"
)

func main() {
	var o bench.Options
	scale := os.Getenv("SCALE")
	if scale == "" {
		scale = bench.ScaleFull
	}
	var schedulers string
	flag.StringVar(&o.Scale, "scale", scale, "workload scale: full, small or tiny (default from $SCALE, else full)")
	flag.StringVar(&o.Workloads, "workloads", "", "comma-separated workload names (default: all)")
	flag.StringVar(&o.WorkloadDir, "workload-dir", "", "directory of workload YAML files (default: the built-in test/bench/workloads)")
	flag.StringVar(&schedulers, "schedulers", "", "schedulers to run on every workload, in order: kube-scheduler, berth, berth-extender, plugin-mode, ceiling (default: kube-scheduler,berth,ceiling, plus berth-extender,plugin-mode before ceiling on workloads with shells: true)")
	flag.StringVar(&o.OutDir, "out", "bench-results", "output directory (results.json, results.md, logs/)")
	flag.StringVar(&o.BinDir, "bin-dir", "", "directory with berth, kube-scheduler, kube-scheduler-berth, devcluster, kube-apiserver (default: $BERTH_BIN_DIR or <repo>/bin)")
	qps := flag.Float64("qps", 5000, "client QPS of both schedulers, the harness and the ceiling binder")
	burst := flag.Int("burst", 10000, "client burst, same clients")
	flag.IntVar(&o.CreateWorkers, "create-workers", 32, "concurrent pod creators")
	flag.IntVar(&o.BindWorkers, "bind-workers", 96, "concurrent binders of the ceiling run")
	flag.DurationVar(&o.StallTimeout, "stall-timeout", 20*time.Second, "end a run when all pods are created and none was bound for this long")
	flag.DurationVar(&o.RunTimeout, "run-timeout", 10*time.Minute, "upper bound of one measurement")
	flag.IntVar(&o.ProfileSeconds, "profile-seconds", 0, "if > 0, CPU profiles of berth and of the API server for this many seconds once the measured pods start, in <out>/logs/*.cpu.pb.gz")
	suite := flag.String("suite", "builtin", "builtin (test/bench/workloads) or upstream (kube-scheduler's scheduler_perf performance-config.yaml workloads)")
	var up bench.UpstreamOptions
	flag.StringVar(&up.Workloads, "upstream-workloads", "", "--suite upstream: comma-separated test cases, each optionally TestCase/Workload (default: the built-in selection; all: every runnable one)")
	flag.StringVar(&up.Dir, "upstream-dir", "", "--suite upstream: scheduler_perf directory (default: found with go list -m k8s.io/kubernetes in kube/)")
	flag.Float64Var(&up.Factor, "upstream-factor", 1, "--suite upstream: multiply node, pod, claim and group counts of each workload by this")
	klog.InitFlags(nil)
	flag.Parse()
	o.QPS, o.Burst = float32(*qps), int32(*burst)
	if schedulers != "" {
		o.Schedulers = strings.Split(schedulers, ",")
	}
	o.Progress = os.Stderr

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	start := time.Now()
	if *suite == "upstream" {
		up.Options = o
		rep, err := bench.RunUpstream(ctx, up)
		if rep != nil {
			fmt.Println(rep.Markdown())
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "berth-bench:", err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "berth-bench: done in %s; results in %s/upstream-results.{json,md}\n", time.Since(start).Round(time.Second), o.OutDir)
		return
	} else if *suite != "builtin" {
		fmt.Fprintf(os.Stderr, "berth-bench: unknown --suite %q (builtin, upstream)\n", *suite)
		os.Exit(2)
	}
	rep, err := bench.Run(ctx, o)
	if rep != nil {
		fmt.Println(rep.Markdown())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth-bench:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "berth-bench: done in %s; results in %s/results.{json,md}\n", time.Since(start).Round(time.Second), o.OutDir)
	for _, w := range rep.Workloads {
		if w.Error != "" {
			os.Exit(1)
		}
	}
}
