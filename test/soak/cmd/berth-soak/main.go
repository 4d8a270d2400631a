// Command berth-soak runs berth under steady churn for a long time on a
// local control plane and reports whether its memory, goroutines, queues
// and latency stay flat (make soak DURATION=1h). See docs/soak.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/berthsched/berth/test/soak"
)

func main() {
	var o soak.Options
	flag.DurationVar(&o.Duration, "duration", time.Hour, "how long the churn runs")
	flag.IntVar(&o.PerTick, "rate", 5, "pods created per second")
	flag.DurationVar(&o.Lifetime, "lifetime", 2*time.Minute, "how long each pod lives before it is deleted")
	flag.IntVar(&o.Nodes, "nodes", 100, "plain nodes (8 GPU nodes are added)")
	flag.DurationVar(&o.Warmup, "warmup", 0, "left out of the verdict: quarters are taken over [start+warmup, end]")
	flag.StringVar(&o.OutDir, "out", "soak-results", "directory for soak.svg, summary.md, result.json and the logs")
	flag.Parse()
	if o.Duration <= 0 || o.PerTick <= 0 || o.Lifetime <= 0 || o.Nodes <= 0 {
		fmt.Fprintln(os.Stderr, "berth-soak: --duration, --rate, --lifetime and --nodes must be positive")
		os.Exit(2)
	}
	o.Progress = os.Stderr
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	res, err := soak.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth-soak:", err)
		os.Exit(1)
	}
	fmt.Print(soak.Summary(res))
	fmt.Printf("\nWrote %s/soak.svg, summary.md and result.json.\n", o.OutDir)
	if !res.Flat {
		os.Exit(1)
	}
}
