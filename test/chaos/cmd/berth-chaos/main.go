package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/test/chaos"
)

func main() {
	os.Exit(run())
}

func run() int {
	all := chaos.ScenarioNames()
	scenarios := flag.String("scenarios", strings.Join(all, ","), "comma-separated scenarios to run, of: "+strings.Join(all, ", "))
	pods := flag.Int("pods", 60, "pods each scenario creates (20 to 200: the workload is sized to fit what the node-churn scenario leaves)")
	volumes := flag.Bool("volumes", true, "include pods with claims of devcluster's local provisioner")
	recovery := flag.Duration("recovery-timeout", 3*time.Minute, "how long after a fault every pod must be bound")
	logDir := flag.String("log-dir", "", "keep berth logs here (default: a temporary directory, removed on success)")
	flag.Parse()

	if *pods < 20 || *pods > 200 {
		fmt.Fprintf(os.Stderr, "berth-chaos: --pods %d: want 20 to 200\n", *pods)
		return 2
	}
	var chosen []chaos.Scenario
	for _, name := range strings.Split(*scenarios, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(all, name) {
			fmt.Fprintf(os.Stderr, "berth-chaos: unknown scenario %q; known: %s\n", name, strings.Join(all, ", "))
			return 2
		}
		for _, s := range chaos.Scenarios() {
			if s.Name == name {
				chosen = append(chosen, s)
			}
		}
	}
	dir := *logDir
	keep := dir != ""
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "berth-chaos-"); err != nil {
			fmt.Fprintln(os.Stderr, "berth-chaos:", err)
			return 1
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
	logf("starting the control plane")
	env, err := testenv.Start(testenv.Options{ControllerManager: true, Provisioner: *volumes})
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth-chaos:", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "berth-chaos: stopping the control plane:", err)
		}
	}()
	h, err := chaos.New(ctx, env, chaos.Options{Pods: *pods, Volumes: *volumes, RecoveryTimeout: *recovery, Dir: dir, Logf: logf})
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth-chaos:", err)
		return 1
	}
	start := time.Now()
	var results []*chaos.Result
	failed := false
	for _, sc := range chosen {
		logf("%s: %s", sc.Name, sc.Doc)
		res, err := h.Run(ctx, sc)
		if err != nil {
			logf("%s: harness error: %v", sc.Name, err)
			failed = true
			res = &chaos.Result{Scenario: sc.Name, Violations: []chaos.Violation{{Invariant: "harness-error", Object: sc.Name, Detail: err.Error()}}}
		}
		results = append(results, res)
		if len(res.Violations) > 0 {
			failed = true
		}
		logf("%s: %d violations, recovery %v", sc.Name, len(res.Violations), res.Recovery.Round(100*time.Millisecond))
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Println()
	if err := chaos.WriteTable(os.Stdout, results); err != nil {
		fmt.Fprintln(os.Stderr, "berth-chaos:", err)
		return 1
	}
	fmt.Printf("\n%d scenarios in %v\n", len(results), time.Since(start).Round(time.Second))
	if failed {
		fmt.Printf("berth logs kept in %s\n", dir)
		return 1
	}
	if !keep {
		os.RemoveAll(dir)
	}
	return 0
}
