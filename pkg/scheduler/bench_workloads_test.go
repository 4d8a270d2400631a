package scheduler

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/config"
)

const benchServices = 10

// benchWorkload describes the pods of one BenchmarkScheduleOneWorkloads case.
type benchWorkload struct {
	name string
	// existing labels (and constrains) the 5,000 pods already running.
	existing func(i int, p *st.PodWrapper) *st.PodWrapper
	// incoming builds the i-th pod to schedule.
	incoming func(i int) *v1.Pod
}

func selfAntiAffinity(app string) *v1.Affinity {
	return &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
			TopologyKey:   v1.LabelHostname,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
		}},
	}}
}

func benchWorkloads() []benchWorkload {
	plain := func(i int) *st.PodWrapper {
		return st.MakePod().Name(fmt.Sprintf("pod-%07d", i)).SchedulerName(config.DefaultSchedulerName).
			Req("cpu", benchPodCPU, "memory", benchPodMemory)
	}
	return []benchWorkload{{
		// Replicas of a new service that must not share a node, among
		// 5,000 pods of ten services that each keep their own replicas
		// apart (so every node carries required anti-affinity terms).
		name: "RequiredAntiAffinity",
		existing: func(i int, p *st.PodWrapper) *st.PodWrapper {
			app := fmt.Sprintf("svc-%d", i%benchServices)
			return p.Label("app", app).Affinity(selfAntiAffinity(app))
		},
		incoming: func(i int) *v1.Pod {
			return plain(i).Label("app", "new").Affinity(selfAntiAffinity("new")).Obj()
		},
	}, {
		// Replicas spread over zones and hosts, both DoNotSchedule.
		name: "ZoneAndHostnameSpread",
		existing: func(i int, p *st.PodWrapper) *st.PodWrapper {
			return p.Label("app", fmt.Sprintf("svc-%d", i%benchServices))
		},
		incoming: func(i int) *v1.Pod {
			p := plain(i).Label("app", "spread").Obj()
			sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "spread"}}
			p.Spec.TopologySpreadConstraints = []v1.TopologySpreadConstraint{
				{MaxSkew: 1, TopologyKey: v1.LabelTopologyZone, WhenUnsatisfiable: v1.DoNotSchedule, LabelSelector: sel},
				{MaxSkew: 1, TopologyKey: v1.LabelHostname, WhenUnsatisfiable: v1.DoNotSchedule, LabelSelector: sel},
			}
			return p
		},
	}, {
		// Pods that prefer the zone of one existing service.
		name: "PreferredAffinity",
		existing: func(i int, p *st.PodWrapper) *st.PodWrapper {
			return p.Label("app", fmt.Sprintf("svc-%d", i%benchServices))
		},
		incoming: func(i int) *v1.Pod {
			return plain(i).Label("app", "client").Affinity(&v1.Affinity{PodAffinity: &v1.PodAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: []v1.WeightedPodAffinityTerm{{
					Weight: 100,
					PodAffinityTerm: v1.PodAffinityTerm{
						TopologyKey:   v1.LabelTopologyZone,
						LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "svc-0"}},
					},
				}},
			}}).Obj()
		},
	}}
}

// BenchmarkScheduleOneWorkloads measures the scheduling cycle (default
// profile, adaptive sampling, 5,000 nodes in 3 zones holding 5,000 pods)
// for the inter-pod affinity and topology spread workloads whose
// kube-scheduler thresholds are 35–90 and 160–460 pods/s.
func BenchmarkScheduleOneWorkloads(b *testing.B) {
	for _, w := range benchWorkloads() {
		b.Run(w.name, func(b *testing.B) {
			// At most benchNodes pods fit one cluster (one per node for
			// hostname anti-affinity or spread).
			benchInBatches(b, benchNodes, func(ctx context.Context) *Scheduler {
				return newBenchSchedulerWith(b, ctx, 0, w.existing)
			}, w.incoming)
		})
	}
}

// benchInBatches schedules b.N pods made by pod, at most perCluster per
// scheduler from build (clusters fill up): larger b.N runs on fresh
// clusters, built with the timer stopped. It reports pods/s and the
// process CPU per pod, and fails unless every pod was scheduled.
func benchInBatches(b *testing.B, perCluster int, build func(context.Context) *Scheduler, pod func(i int) *v1.Pod) {
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), klog.Background()))
	defer cancel()
	logger := klog.FromContext(ctx)
	b.ReportAllocs()
	var cpu time.Duration
	for done := 0; done < b.N; {
		b.StopTimer()
		batch := min(b.N-done, perCluster)
		sched := build(ctx)
		for i := range batch {
			sched.Queue().Add(logger, pod(done+i))
		}
		b.StartTimer()
		cpu0 := processCPU()
		for range batch {
			sched.ScheduleOne(ctx)
		}
		sched.WaitForBinds()
		cpu += processCPU() - cpu0
		b.StopTimer()
		if n := int(counterValue(sched.metrics.ScheduleAttempts.WithLabelValues("scheduled", config.DefaultSchedulerName))); n != batch {
			b.Fatalf("scheduled %d of %d pods", n, batch)
		}
		done += batch
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pods/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/pod")
}
