package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthsched/berth/pkg/placement/gpu"
	"github.com/berthsched/berth/pkg/simulate"
)

// writeSimTrace writes a small trace directory in the openb format.
func writeSimTrace(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		simulate.NodeListFile: "sn,cpu_milli,memory_mib,gpu,model\n" +
			"n-0,32000,65536,4,T4\n" +
			"n-1,16000,32768,2,P100\n",
		"openb_pod_list_tiny.csv": "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n" +
			"p-0,2000,4096,1,500,\n" +
			"p-1,4000,4096,1,1000,\n" +
			"p-2,1000,2048,0,0,\n" +
			"p-3,2000,4096,2,1000,T4\n" +
			"p-4,2000,4096,1,250,\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSimulateCommand(t *testing.T) {
	dir := writeSimTrace(t)
	out := filepath.Join(t.TempDir(), "results")
	cmd := NewRootCommand()
	var stdout, stderr bytes.Buffer
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetArgs([]string{"simulate", "--trace", dir, "--policy", "all", "--out", out})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("simulate: %v\nstderr:\n%s", err, stderr.String())
	}
	table := stdout.String()
	if !strings.HasPrefix(table, "POLICY") {
		t.Errorf("summary does not start with its header:\n%s", table)
	}
	for _, p := range gpu.PolicyNames {
		if !strings.Contains(table, "\n"+p+" ") {
			t.Errorf("summary lacks policy %s:\n%s", p, table)
		}
	}
	// stderr is not a terminal here: progress comes as lines, per 10%.
	if log := stderr.String(); !strings.Contains(log, "Trace openb_pod_list_tiny: 2 nodes, 6 GPUs, 5 pods") || !strings.Contains(log, "FGD: 100% (") {
		t.Errorf("stderr:\n%s", log)
	}
	for _, f := range []string{"alloc.csv", "alloc.svg"} {
		if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestSimulateFlagErrors(t *testing.T) {
	dir := writeSimTrace(t)
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--policy", "Tetris"}, `unknown GPU policy "Tetris"`},
		{[]string{"--tie-break", "coin"}, `unknown --tie-break "coin"`},
		{[]string{"--nodes", filepath.Join(dir, simulate.NodeListFile)}, "--nodes and --pods go together"},
		{[]string{"--trace", dir, "--nodes", "x.csv"}, "--nodes with --trace needs --pods"},
		{[]string{"--trace", dir, "--pods", "missing.csv"}, "missing.csv"},
		{[]string{"--trace", dir, "--workload", "replay"}, `unknown workload mode "replay"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := NewRootCommand()
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			cmd.SetArgs(append([]string{"simulate"}, tc.args...))
			if err := cmd.ExecuteContext(context.Background()); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestParsePolicies(t *testing.T) {
	got, err := parsePolicies("fgd, bestfit")
	if err != nil || strings.Join(got, ",") != "FGD,BestFit" {
		t.Errorf("parsePolicies = %v, %v", got, err)
	}
	if got, _ := parsePolicies("ALL"); len(got) != len(gpu.PolicyNames) {
		t.Errorf("all = %v", got)
	}
}

func TestProgressLines(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, "FGD")
	for i := 1; i <= 40; i++ {
		p.update(i, 40)
	}
	p.done()
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 10 || !strings.HasPrefix(lines[0], "FGD: 10% (4/40 pods)") || !strings.HasPrefix(lines[9], "FGD: 100% (40/40 pods)") {
		t.Errorf("progress lines:\n%s", b.String())
	}
}
