package scheduler

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/metrics"
	"github.com/berthsched/berth/pkg/plugins"
)

const (
	benchNodes         = 5000
	benchExistingPods  = 5000
	benchZones         = 3
	benchNodeCPU       = "16"
	benchNodeMemory    = "64Gi"
	benchNodeMaxPods   = "110"
	benchPodCPU        = "100m"
	benchPodMemory     = "256Mi"
	benchExistingCPU   = "500m"
	benchExistingMemor = "1Gi"
)

// newBenchScheduler builds the default profile over an in-memory cluster:
// nodes go straight into the cache (and the node lister the binding cycle
// reads), existing pods into the cache, and binds succeed at once without
// touching the fake's object tracker. No informer runs.
func newBenchScheduler(b *testing.B, ctx context.Context, pct int32) *Scheduler {
	return newBenchSchedulerWith(b, ctx, pct, nil)
}

// newBenchSchedulerWith is newBenchScheduler with the existing pods shaped
// by existing (labels, affinity) when it is not nil.
func newBenchSchedulerWith(b *testing.B, ctx context.Context, pct int32, existing func(i int, p *st.PodWrapper) *st.PodWrapper) *Scheduler {
	b.Helper()
	sched, factory := newBenchSchedulerFromConfig(b, ctx, nil, func(cfg *config.Config) { cfg.PercentageOfNodesToScore = pct })
	logger := klog.FromContext(ctx)
	nodeStore := factory.Core().V1().Nodes().Informer().GetStore()
	for i := range benchNodes {
		n := st.MakeNode().Name(fmt.Sprintf("node-%05d", i)).
			Label(v1.LabelTopologyZone, fmt.Sprintf("zone-%d", i%benchZones)).
			Capacity("cpu", benchNodeCPU, "memory", benchNodeMemory, "pods", benchNodeMaxPods).Obj()
		sched.Cache().AddNode(logger, n)
		if err := nodeStore.Add(n); err != nil {
			b.Fatal(err)
		}
	}
	for i := range benchExistingPods {
		w := st.MakePod().Name(fmt.Sprintf("existing-%05d", i)).Node(fmt.Sprintf("node-%05d", i%benchNodes)).
			Req("cpu", benchExistingCPU, "memory", benchExistingMemor)
		if existing != nil {
			w = existing(i, w)
		}
		p := w.Obj()
		if err := sched.Cache().AddPod(logger, p); err != nil {
			b.Fatal(err)
		}
	}
	return sched
}

// newBenchSchedulerFromConfig builds a scheduler from the configuration
// cfgYAML (nil: the defaults), adjusted by tune when it is not nil, over a
// fake client whose binds and pod patches succeed at once without touching
// its object tracker. No informer runs; callers fill the cache and the
// node store the binding cycle reads.
func newBenchSchedulerFromConfig(b *testing.B, ctx context.Context, cfgYAML []byte, tune func(*config.Config)) (*Scheduler, informers.SharedInformerFactory) {
	b.Helper()
	reg := plugins.NewInTreeRegistry()
	cfg, err := config.Load(cfgYAML, reg)
	if err != nil {
		b.Fatal(err)
	}
	if tune != nil {
		tune(cfg)
	}
	client := fake.NewClientset()
	client.PrependReactor("create", "pods", func(action clienttesting.Action) (bool, runtime.Object, error) {
		return action.GetSubresource() == "binding", nil, nil
	})
	// PreBind patches (GPUShare's assignment) succeed without storing.
	client.PrependReactor("patch", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, &v1.Pod{}, nil
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	sched, err := New(ctx, Options{
		Config:           cfg,
		Registry:         reg,
		InformerFactory:  factory,
		BindClient:       client,
		StatusClient:     client,
		EventBroadcaster: fakeBroadcaster{},
		Metrics:          metrics.New(prometheus.NewRegistry()),
	})
	if err != nil {
		b.Fatal(err)
	}
	return sched, factory
}

// BenchmarkScheduleOne measures the scheduling cycle of plain pods (resource
// requests only, default profile) on 5,000 nodes holding 5,000 pods: pop,
// snapshot, filter, score, select, assume, reserve, permit, and the start
// of an asynchronous binding cycle whose API call returns at once. It
// reports pods/s.
func BenchmarkScheduleOne(b *testing.B) {
	for _, pct := range []int32{0, 100} {
		b.Run(fmt.Sprintf("nodes=%d/percentageOfNodesToScore=%d", benchNodes, pct), func(b *testing.B) {
			ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), klog.Background()))
			defer cancel()
			sched := newBenchScheduler(b, ctx, pct)
			logger := klog.FromContext(ctx)
			for i := range b.N {
				sched.Queue().Add(logger, st.MakePod().Name(fmt.Sprintf("pod-%07d", i)).SchedulerName(config.DefaultSchedulerName).
					Req("cpu", benchPodCPU, "memory", benchPodMemory).Obj())
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU()
			for range b.N {
				sched.ScheduleOne(ctx)
			}
			sched.WaitForBinds()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pods/s")
			// The machine may be shared: CPU time per pod (all goroutines,
			// GC included) is the steadier number.
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-us/pod")
			scheduled := counterValue(sched.metrics.ScheduleAttempts.WithLabelValues(metrics.ResultScheduled, config.DefaultSchedulerName))
			if int(scheduled) != b.N {
				b.Fatalf("scheduled %v of %d pods", scheduled, b.N)
			}
			if bindErrs := sched.metrics.BindErrors; bindErrs != nil {
				for _, r := range []bindOutcome{bindConflict, bindNotFound, bindTransient, bindError} {
					if n := counterValue(bindErrs.WithLabelValues(string(r))); n != 0 {
						b.Fatalf("%v bind errors{%s}", n, r)
					}
				}
			}
		})
	}
}

// processCPU is the user+system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
