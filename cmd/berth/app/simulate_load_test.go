package app

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthsched/berth/pkg/simulate/loadsim"
)

func runRoot(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := NewRootCommand()
	var stdout, stderr bytes.Buffer
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return stdout.String(), stderr.String(), err
}

func TestSimulateLoadCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "results")
	policies := loadsim.PolicyRequests + "," + loadsim.PolicyBerthForecast
	table, log, err := runRoot(t, "simulate", "load", "--nodes", "4", "--warmup-days", "0.1", "--days", "0.2", "--seed", "3",
		"--policy", policies, "--forecast-horizon", "90m", "--out", out)
	if err != nil {
		t.Fatalf("simulate load: %v\nstderr:\n%s", err, log)
	}
	if !strings.HasPrefix(table, "POLICY") {
		t.Errorf("the table does not start with its header:\n%s", table)
	}
	for _, p := range []string{loadsim.PolicyRequests, loadsim.PolicyBerthForecast} {
		if !strings.Contains(table, "\n"+p+" ") {
			t.Errorf("the table lacks %s:\n%s", p, table)
		}
	}
	if strings.Contains(table, loadsim.PolicyTargetLoadPacking) {
		t.Errorf("--policy did not restrict the policies:\n%s", table)
	}
	// Progress comes as lines on stderr, per policy and 10% of the run.
	for _, want := range []string{"Cluster: 4 nodes; 0.1 warm-up + 0.2 measured simulated days; 70% of the CPU requested; seed 3",
		loadsim.PolicyRequests + ": 100% (7/7 simulated hours)", "pods arrived", "Wrote "} {
		if !strings.Contains(log, want) {
			t.Errorf("stderr lacks %q:\n%s", want, log)
		}
	}

	f, err := os.Open(filepath.Join(out, "results.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0][0] != "policy" || rows[1][0] != loadsim.PolicyRequests {
		t.Errorf("results.csv: %v", rows)
	}
	data, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep loadsim.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	if rep.Nodes != 4 || rep.Seed != 3 || len(rep.Results) != 2 || rep.Results[1].Policy.LoadAware == nil {
		t.Fatalf("results.json: %+v", rep)
	}
	if p := rep.Results[1].Policy; p.LoadAware.Forecast.Horizon.Duration != 90*time.Minute || !strings.Contains(p.Description, "horizon 1h30m") {
		t.Errorf("--forecast-horizon 90m: %+v, %q", p.LoadAware.Forecast, p.Description)
	}
}

func TestSimulateLoadFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--size", "medium"}, `--size: unknown size "medium"`},
		{[]string{"--nodes", "0"}, "--nodes 0 is outside 1..5000"},
		{[]string{"--days", "-1"}, "--days -1 is outside (0, 60]"},
		{[]string{"--warmup-days", "31"}, "--warmup-days 31 is outside [0, 30]"},
		{[]string{"--policy", "requests-only,fifo"}, `--policy: unknown policy "fifo"`},
		{[]string{"--parallelism", "-2"}, "--parallelism -2 is negative"},
		{[]string{"--request-fraction", "0.95"}, "--request-fraction 0.95 is outside (0, 0.9]"},
		{[]string{"--forecast-horizon", "1m"}, "--forecast-horizon 1m0s is outside 5m..168h"},
		{[]string{"extra"}, `unknown command "extra"`},
	} {
		_, _, err := runRoot(t, append([]string{"simulate", "load"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.wantErr)
		}
	}
}

// TestSimulateWithoutSubcommandStillReplaysGPUTrace: adding `load` left
// `berth simulate` itself as it was.
func TestSimulateWithoutSubcommandStillReplaysGPUTrace(t *testing.T) {
	cmd := NewRootCommand()
	sim, _, err := cmd.Find([]string{"simulate"})
	if err != nil || sim.Name() != "simulate" || sim.RunE == nil || sim.Flags().Lookup("trace") == nil {
		t.Fatalf("simulate: %v", err)
	}
	load, _, err := cmd.Find([]string{"simulate", "load"})
	if err != nil || load.Name() != "load" {
		t.Fatalf("simulate load: %v", err)
	}
}
