package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/berthsched/berth/kube/conformance"
)

func main() {
	seeds := flag.Int("seeds", 1000, "number of generated cases")
	first := flag.Uint64("first-seed", 1, "first seed; seeds run first..first+seeds-1")
	maxReport := flag.Int("max-report", 20, "disagreements printed in full (the rest are counted)")
	strict := flag.Bool("strict", false, "count known differences as disagreements")
	shrink := flag.Bool("shrink", true, "shrink reproducers to a minimal cluster")
	nodes := flag.Int("max-nodes", conformance.DefaultGenOptions.MaxNodes, "nodes per cluster, at most")
	bound := flag.Int("max-bound-pods", conformance.DefaultGenOptions.MaxBoundPods, "bound pods per node, at most")
	pending := flag.Int("pending", conformance.DefaultGenOptions.Pending, "pending pods per case")
	storage := flag.Float64("storage", conformance.DefaultGenOptions.Storage, "chance that a case has a storage scenario (0 for none)")
	dra := flag.Float64("dra", conformance.DefaultGenOptions.DRA, "chance that a case has a DRA scenario (0 for none)")
	draExtended := flag.Float64("dra-extended", conformance.DefaultGenOptions.DRAExtendedResources, "chance that a DRA scenario also has extended resources backed by DRA (0 for none)")
	features := flag.Float64("features", conformance.DefaultGenOptions.Features, "chance that a case has a node-features scenario (0 for none)")
	self := flag.Bool("self", false, "compare kube-scheduler's plugins with themselves, every row (shows coverage before berth has a plugin)")
	coverage := flag.Bool("coverage", true, "print the verdicts each side gave per plugin")
	gangSeeds := flag.Int("gang-seeds", 0, "number of generated gang (PodGroup) cases, run after the others; 0 for none")
	flag.Parse()

	newHarness := func() (*conformance.Harness, error) { return conformance.NewHarness(nil) }
	if *self {
		newHarness = func() (*conformance.Harness, error) { return conformance.NewSelfHarness(nil) }
	}
	h, err := newHarness()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	h.Strict, h.Shrink = *strict, *shrink
	opts := conformance.GenOptions{MaxNodes: *nodes, MaxBoundPods: *bound, Pending: *pending, Storage: *storage, DRA: *dra, DRAExtendedResources: *draExtended, Features: *features}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	total := 0
	for s := *first; s < *first+uint64(*seeds); s++ {
		ds, err := h.Run(ctx, conformance.Generate(s, opts))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		for _, d := range ds {
			if total+1 >= *maxReport {
				h.Shrink = false // the rest are only counted
			}
			if total < *maxReport {
				d.Format(os.Stdout)
				fmt.Println()
			}
			total++
		}
	}
	h.FormatStats(os.Stdout)
	if *coverage {
		fmt.Println("\nverdicts per plugin (cases with at least one node given each):")
		h.FormatCoverage(os.Stdout)
	}
	if !*strict {
		fmt.Println("\nknown differences (not counted as disagreements; -strict counts them):")
		for _, k := range conformance.KnownDifferences {
			fmt.Printf("- %s (wrong: %s): %s\n", k.Plugin, k.Wrong, k.Why)
		}
	}
	if *gangSeeds > 0 {
		n, err := runGang(ctx, *first, *gangSeeds, *strict, *maxReport)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		total += n
	}
	fmt.Printf("\n%d disagreement(s)\n", total)
	if total > 0 {
		os.Exit(1)
	}
}

// runGang runs the gang family (kube-scheduler's pod group cycle against
// berth's group transaction) and returns how many cases disagreed.
func runGang(ctx context.Context, first uint64, seeds int, strict bool, maxReport int) (int, error) {
	h, err := conformance.NewGangHarness(nil)
	if err != nil {
		return 0, err
	}
	h.Strict = strict
	n := 0
	for s := first; s < first+uint64(seeds); s++ {
		d, err := h.Run(ctx, conformance.GenerateGang(s, conformance.DefaultGangGenOptions))
		if err != nil {
			return n, err
		}
		if d == nil {
			continue
		}
		if n < maxReport {
			fmt.Printf("%s\n\n", d)
		}
		n++
	}
	st := h.Stats
	fmt.Printf("\ngang cases: %d, agreed %d (%d only over reruns: score ties), disagreed %d; placed %d, not placed %d; with a topology constraint %d, with members bound before %d\n",
		st.Cases, st.Agreed+st.TieDependent, st.TieDependent, st.Disagreed, st.Placed, st.NotPlaced, st.Topology, st.BoundMembers)
	return n, nil
}
