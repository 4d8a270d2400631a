package simulate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sharedTraces is where the full openb release lives, relative to this
// package (tests that need it skip when it is absent).
const sharedTraces = "../../../shared/traces/openb"

func TestReadNodes(t *testing.T) {
	in := "sn,cpu_milli,memory_mib,gpu,model\n" +
		"n-0,64000,262144,2,P100\n" +
		"n-1,96000,786432,8,V100M32\n" +
		"n-2,32000,131072,0,\n"
	got, err := ReadNodes(strings.NewReader(in), "nodes.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := []NodeRecord{
		{Name: "n-0", CPUMilli: 64000, MemoryMiB: 262144, GPUs: 2, Model: "P100"},
		{Name: "n-1", CPUMilli: 96000, MemoryMiB: 786432, GPUs: 8, Model: "V100M32"},
		{Name: "n-2", CPUMilli: 32000, MemoryMiB: 131072},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("nodes (-want +got):\n%s", d)
	}
}

func TestReadPods(t *testing.T) {
	in := "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos\n" +
		"p-0,12000,16384,1,1000,,LS\n" +
		"p-1,6000,12288,1,460,V100M16|V100M32,BE\n" +
		"p-2,88000,327680,8,1000,,Burstable\n" +
		"p-3,4000,8192,0,0,T4,LS\n"
	got, err := ReadPods(strings.NewReader(in), "pods.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := []PodRecord{
		{Name: "p-0", CPUMilli: 12000, MemoryMiB: 16384, NumGPU: 1, GPUMilli: 1000},
		{Name: "p-1", CPUMilli: 6000, MemoryMiB: 12288, NumGPU: 1, GPUMilli: 460, GPUSpec: "V100M16|V100M32"},
		{Name: "p-2", CPUMilli: 88000, MemoryMiB: 327680, NumGPU: 8, GPUMilli: 1000},
		// gpu_spec of a pod without GPUs is dropped, as the paper's
		// converter does.
		{Name: "p-3", CPUMilli: 4000, MemoryMiB: 8192},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("pods (-want +got):\n%s", d)
	}
	// The multigpu files have no gpu_spec column.
	got, err = ReadPods(strings.NewReader("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1,1,2,1000\n"), "multigpu.csv")
	if err != nil || len(got) != 1 || got[0].GPUSpec != "" || got[0].GPUDemandMilli() != 2000 {
		t.Errorf("without gpu_spec: %+v, %v", got, err)
	}
}

func TestReadMalformed(t *testing.T) {
	const podHeader = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n"
	const nodeHeader = "sn,cpu_milli,memory_mib,gpu,model\n"
	tests := []struct {
		name    string
		nodes   bool
		in      string
		wantErr string
	}{
		{"empty file", false, "", "pods.csv: empty file"},
		{"header only", false, podHeader, "pods.csv: no pods"},
		{"missing column", false, "name,cpu_milli,memory_mib,num_gpu\np,1,1,0\n", "pods.csv:1: header lacks column(s) gpu_milli"},
		{"not an integer", false, podHeader + "p-0,1,1,0,0,\np-1,x,1,0,0,\n", `pods.csv:3: column cpu_milli: "x" is not an integer`},
		{"negative", false, podHeader + "p-0,1,-5,0,0,\n", "pods.csv:2: column memory_mib: -5 is negative"},
		{"wrong field count", false, podHeader + "p-0,1,1,0,0,\np-1,1,1\n", "pods.csv:3: wrong number of fields"},
		{"share over a card", false, podHeader + "p-0,1,1,1,1200,\n", "pods.csv:2: gpu_milli 1200 is outside 1..1000"},
		{"no share", false, podHeader + "p-0,1,1,1,0,\n", "pods.csv:2: gpu_milli 0 is outside 1..1000"},
		{"share of several cards", false, podHeader + "p-0,1,1,2,500,\n", "pods.csv:2: a share of 500 milli-GPU applies to one card, not num_gpu 2"},
		{"share without card", false, podHeader + "p-0,1,1,0,500,\n", "pods.csv:2: gpu_milli 500 with num_gpu 0"},
		{"empty model list", false, podHeader + "p-0,1,1,1,500,|\n", `pods.csv:2: gpu_spec "|" names no model`},
		{"duplicate pod", false, podHeader + "p-0,1,1,0,0,\np-1,1,1,0,0,\np-0,1,1,0,0,\n", "pods.csv:4: pod p-0 is listed again (first on line 2)"},
		{"empty pod name", false, podHeader + ",1,1,0,0,\n", "pods.csv:2: column name: empty pod name"},
		{"duplicate node", true, nodeHeader + "n,1,1,1,T4\nn,1,1,1,T4\n", "nodes.csv:3: node n is listed again (first on line 2)"},
		{"too many cards", true, nodeHeader + "n,1,1,200,T4\n", "nodes.csv:2: column gpu: 200 cards, at most 128"},
		{"bare quote", true, nodeHeader + "n,1,\"1,1,T4\n", "nodes.csv:2:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.nodes {
				_, err = ReadNodes(strings.NewReader(tc.in), "nodes.csv")
			} else {
				_, err = ReadPods(strings.NewReader(tc.in), "pods.csv")
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestDefaultTrace(t *testing.T) {
	tr, err := DefaultTrace()
	if err != nil {
		t.Fatal(err)
	}
	// The numbers the trace's documentation gives.
	if tr.Name != "openb_pod_list_default" || len(tr.Nodes) != 1213 || len(tr.Pods) != 8152 {
		t.Errorf("trace %s: %d nodes, %d pods; want openb_pod_list_default, 1213, 8152", tr.Name, len(tr.Nodes), len(tr.Pods))
	}
	if c := tr.GPUCapacityMilli(); c != 6212*1000 {
		t.Errorf("capacity = %d milli-GPU, want 6212 cards", c)
	}
	if d := tr.GPUDemandMilli(); d != 6086800 {
		t.Errorf("demand = %d milli-GPU, want 6086800", d)
	}
}

func TestLoadTraceDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := LoadTraceDir(dir); err == nil || !strings.Contains(err.Error(), "holds no pod list") {
		t.Errorf("empty directory: err = %v", err)
	}
	write(NodeListFile, "sn,cpu_milli,memory_mib,gpu,model\nn,1000,1024,1,T4\n")
	write("openb_pod_list_a.csv", "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1,1,1,500\n")
	tr, err := LoadTraceDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Name != "openb_pod_list_a" || len(tr.Nodes) != 1 || len(tr.Pods) != 1 {
		t.Errorf("trace = %+v", tr)
	}
	write("openb_pod_list_b.csv", "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1,1,1,500\n")
	if _, err := LoadTraceDir(dir); err == nil || !strings.Contains(err.Error(), "openb_pod_list_a.csv, openb_pod_list_b.csv") {
		t.Errorf("two pod lists: err = %v, want both named", err)
	}
	if _, err := LoadTraceFiles(filepath.Join(dir, NodeListFile), filepath.Join(dir, "missing.csv")); err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("missing pod list: err = %v", err)
	}
}

// TestLoadSharedTraces reads every variant of the release that is
// checked out beside the repository, the multigpu ones without gpu_spec.
func TestLoadSharedTraces(t *testing.T) {
	pods, _ := filepath.Glob(filepath.Join(sharedTraces, PodListPrefix+"*.csv"))
	if len(pods) == 0 {
		t.Skipf("no traces in %s", sharedTraces)
	}
	for _, p := range pods {
		tr, err := LoadTraceFiles(filepath.Join(sharedTraces, NodeListFile), p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if len(tr.Pods) < 7000 || tr.GPUCapacityMilli() != 6212*1000 {
			t.Errorf("%s: %d pods, capacity %d", p, len(tr.Pods), tr.GPUCapacityMilli())
		}
	}
}
