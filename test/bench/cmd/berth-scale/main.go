// Command berth-scale is the large-cluster run of issue 21: it starts one
// local control plane, creates --nodes nodes and --pods pods already bound
// to them (spec.nodeName set round-robin, no scheduler involved), then
// starts each of --schedulers in turn on that cluster and measures its
// informer sync time (process start to the bind of a probe pod), the
// scheduling of --measured pending pods (throughput, create→bind p50/p99,
// scheduling attempt duration from its /metrics, CPU) and its memory (peak
// and final RSS). It prints a markdown table and writes results.json and
// results.md to --out. Progress goes to stderr.
//
//	go run ./test/bench/cmd/berth-scale --nodes 15000 --pods 150000 --measured 2000 --out scale-results/
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
	var o bench.ScaleOptions
	var schedulers string
	flag.IntVar(&o.Nodes, "nodes", 15000, "nodes to create (nodegen basic profile, 3 zones)")
	flag.IntVar(&o.Pods, "pods", 150000, "existing pods, created bound round-robin")
	flag.IntVar(&o.Measured, "measured", 2000, "pending pods each scheduler places")
	flag.StringVar(&schedulers, "schedulers", "kube-scheduler,berth", "schedulers to run in order: kube-scheduler, berth")
	flag.StringVar(&o.OutDir, "out", "scale-results", "output directory (results.json, results.md, logs/)")
	flag.StringVar(&o.BinDir, "bin-dir", "", "directory with berth, kube-scheduler, devcluster, kube-apiserver (default: $BERTH_BIN_DIR or <repo>/bin)")
	qps := flag.Float64("qps", 5000, "client QPS of the schedulers and the filler")
	burst := flag.Int("burst", 10000, "client burst, same clients")
	flag.IntVar(&o.FillWorkers, "fill-workers", 64, "concurrent creators of nodes and existing pods")
	flag.IntVar(&o.CreateWorkers, "create-workers", 32, "concurrent creators of measured pods")
	flag.DurationVar(&o.SyncTimeout, "sync-timeout", 15*time.Minute, "upper bound of a scheduler's start-up and informer sync")
	flag.DurationVar(&o.StallTimeout, "stall-timeout", 60*time.Second, "end a measurement when all pods are created and none was bound for this long")
	flag.DurationVar(&o.RunTimeout, "run-timeout", 15*time.Minute, "upper bound of one measurement")
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
	rep, err := bench.RunScale(ctx, o)
	if rep != nil {
		fmt.Println(rep.Markdown())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth-scale:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "berth-scale: done in %s; results in %s/results.{json,md}\n", time.Since(start).Round(time.Second), o.OutDir)
	for _, r := range rep.Results {
		if r.Error != "" {
			os.Exit(1)
		}
	}
}
