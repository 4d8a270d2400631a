package inprocbench

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// starters are the schedulers under test, in the order they run.
var starters = []struct {
	name  string
	start func(context.Context, *Cluster) (*Instance, error)
}{
	{KubeScheduler, StartKube},
	{Berth, StartBerth},
}

// BenchmarkSideBySide schedules b.N pods of each workload on 1,000, 5,000
// and 15,000 nodes with kube-scheduler v1.37 and with berth, each over its
// own copy of the same cluster, and reports process CPU per pod
// (cpu-us/pod, every goroutine and GC included) and pods/s. It fails
// unless every pod was bound and the workload's constraint holds.
func BenchmarkSideBySide(b *testing.B) {
	for _, w := range Workloads() {
		for _, nodes := range []int{1000, 5000, 15000} {
			for _, s := range starters {
				b.Run(fmt.Sprintf("workload=%s/nodes=%d/scheduler=%s", w.Name, nodes, s.name), func(b *testing.B) {
					c := Generate(w, nodes, b.N)
					r := run(b, c, s.start, 2*time.Minute)
					b.ReportMetric(r.CPUPerPod(), "cpu-us/pod")
					b.ReportMetric(r.PodsPerSecond(), "pods/s")
				})
			}
		}
	}
}

// run starts a scheduler over c, measures the scheduling of all its
// pending pods, and checks the placement.
func run(tb testing.TB, c *Cluster, start func(context.Context, *Cluster) (*Instance, error), stall time.Duration) Result {
	tb.Helper()
	b, isB := tb.(*testing.B)
	if isB {
		b.StopTimer()
	}
	in, err := start(context.Background(), c)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	// Setup's garbage is not the scheduler's cost.
	runtime.GC()
	if isB {
		b.ResetTimer()
		b.StartTimer()
	}
	r, err := in.Measure(context.Background(), len(c.Pending), stall)
	if isB {
		b.StopTimer()
	}
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.Check(in.Placed()); err != nil {
		tb.Fatalf("%s: %v", in.Name, err)
	}
	return r
}

// TestSideBySideSmoke runs every workload on a small cluster with both
// schedulers and checks that each binds every pod where the workload
// allows, so the benchmark's code keeps working.
func TestSideBySideSmoke(t *testing.T) {
	for _, w := range Workloads() {
		for _, s := range starters {
			t.Run(w.Name+"/"+s.name, func(t *testing.T) {
				c := Generate(w, 50, 20)
				r := run(t, c, s.start, 20*time.Second)
				if r.Pods != 20 {
					t.Fatalf("measured %d pods, want 20", r.Pods)
				}
			})
		}
	}
}
