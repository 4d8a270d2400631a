package simulate

import (
	"bytes"
	"testing"

	"github.com/berthsched/berth/pkg/placement/gpu"
)

// FuzzReadTrace feeds arbitrary CSV to the openb trace readers (berth
// simulate --nodes/--pods reads operators' files). They must never
// panic, and what they accept must be records the simulator can place:
// unique names, no negative sizes, a GPU ask the GPUShare contract
// expresses.
func FuzzReadTrace(f *testing.F) {
	f.Add([]byte("sn,cpu_milli,memory_mib,gpu,model\nn1,64000,262144,2,P100\nn2,8000,32768,0,\n"),
		[]byte("name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\np1,12000,16384,1,1000,\np2,6000,12288,1,460,V100M16|V100M32\n"))
	f.Add([]byte("sn,cpu_milli,memory_mib,gpu\nn1,-1,0,9\n"), []byte("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np1,1,1,2,500\np1,1,1,0,0\n"))
	f.Add([]byte("\"sn\",cpu_milli\n"), []byte("name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\np,1,1,1,1,|\n"))
	f.Fuzz(func(t *testing.T, nodesCSV, podsCSV []byte) {
		if nodes, err := ReadNodes(bytes.NewReader(nodesCSV), "nodes.csv"); err == nil {
			names := map[string]bool{}
			for _, n := range nodes {
				if n.Name == "" || names[n.Name] || n.CPUMilli < 0 || n.MemoryMiB < 0 || n.GPUs < 0 || n.GPUs > maxCardsPerNode {
					t.Fatalf("accepted node %+v", n)
				}
				names[n.Name] = true
			}
		}
		pods, err := ReadPods(bytes.NewReader(podsCSV), "pods.csv")
		if err != nil {
			return
		}
		names := map[string]bool{}
		for _, p := range pods {
			if p.Name == "" || names[p.Name] || p.CPUMilli < 0 || p.MemoryMiB < 0 || p.NumGPU < 0 {
				t.Fatalf("accepted pod %+v", p)
			}
			names[p.Name] = true
			req := gpu.Request{Count: p.NumGPU, MilliPerCard: p.GPUMilli, CPUMilli: p.CPUMilli, HostMemMiB: p.MemoryMiB}
			if err := req.Validate(); err != nil {
				t.Fatalf("accepted pod %+v whose request is invalid: %v", p, err)
			}
		}
	})
}
