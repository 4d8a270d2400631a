package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthsched/berth/pkg/simulate/netsim"
)

func TestSimulateNetworkCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "results")
	policies := netsim.PolicyDefault + "," + netsim.PolicyNetworkAware
	table, log, err := runRoot(t, "simulate", "network", "--requests", "300", "--seed", "3", "--seeds", "2",
		"--order", "callees-first", "--policy", policies, "--out", out)
	if err != nil {
		t.Fatalf("simulate network: %v\nstderr:\n%s", err, log)
	}
	// The header, then a row per policy asked for, and no other.
	rows := strings.Split(strings.TrimSpace(table), "\n")
	if len(rows) != 3 || !strings.HasPrefix(rows[0], "POLICY ") || !strings.HasPrefix(rows[1], netsim.PolicyDefault+" ") ||
		!strings.HasPrefix(rows[2], netsim.PolicyNetworkAware+" ") {
		t.Errorf("the table is not the header and a row for each of %s:\n%s", policies, table)
	}
	for _, want := range []string{"Cluster: 3 zones × 2 racks × 2 nodes (8 CPU each); 1 × social network; order callees-first, routing random; 300 requests × 2 seeds from seed 3",
		"pods per seed (40 of the applications), 65% of the CPU requested", "Wrote "} {
		if !strings.Contains(log, want) {
			t.Errorf("stderr lacks %q:\n%s", want, log)
		}
	}
	data, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep netsim.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	if rep.Seed != 3 || rep.Seeds != 2 || rep.Order != netsim.OrderCalleesFirst || len(rep.Results) != 2 || rep.Results[1].Requests != 600 {
		t.Fatalf("results.json: seed %d, %d seeds, order %s, %d results", rep.Seed, rep.Seeds, rep.Order, len(rep.Results))
	}
	if c := rep.Results[1].Config; !strings.Contains(c, "name: NetworkAware\n        weight: 5") {
		t.Errorf("network-aware's configuration:\n%s", c)
	}
}

func TestSimulateNetworkBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--size", "huge"},
		{"--instances", "0"},
		{"--requests", "2000000"},
		{"--seeds", "-1"},
		{"--order", "random"},
		{"--routing", "nearest"},
		{"--request-fraction", "1.2"},
		{"--policy", "kube-scheduler"},
		{"--parallelism", "-2"},
		{"--instances", "3"}, // 82.5 CPUs of the small cluster's 96 is above 65%
	} {
		if _, log, err := runRoot(t, append([]string{"simulate", "network"}, args...)...); err == nil {
			t.Errorf("%v: no error\n%s", args, log)
		}
	}
}
