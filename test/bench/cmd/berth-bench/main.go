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
