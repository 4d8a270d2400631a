package scheduler

import (
	"context"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
)

// benchGPUNodes is the size of the openb production GPU cluster.
const benchGPUNodes = 1200

// withoutGPUShare is a configuration with berth's GPU plugin disabled:
// the baseline that shows what GPUShare costs.
const withoutGPUShare = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: berth
  plugins:
    multiPoint:
      disabled:
      - name: GPUShare
`

// gpuShareCPUPods has GPUShare rank nodes for pods without GPUs too.
const gpuShareCPUPods = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: berth
  pluginConfig:
  - name: GPUShare
    args: {scoreCPUPods: true}
`

// newGPUBenchScheduler builds a scheduler over 1,200 GPU nodes shaped like
// the openb trace's (8-card nodes with 96 cores, 2-card nodes with 104),
// each already running one shared and one whole-card pod, so card states
// differ between nodes.
func newGPUBenchScheduler(b *testing.B, ctx context.Context, cfgYAML string) *Scheduler {
	b.Helper()
	sched, factory := newBenchSchedulerFromConfig(b, ctx, []byte(cfgYAML), nil)
	logger := klog.FromContext(ctx)
	nodeStore := factory.Core().V1().Nodes().Informer().GetStore()
	for i := range benchGPUNodes {
		cpu, mem, cards, model := "96", "384Gi", "8", "G2"
		if i%3 == 2 {
			cpu, mem, cards, model = "104", "512Gi", "2", "T4"
		}
		name := fmt.Sprintf("gpu-%05d", i)
		n := st.MakeNode().Name(name).Label(gpushare.DefaultModelLabel, model).
			Capacity("cpu", cpu, "memory", mem, "pods", "110", "nvidia.com/gpu", cards).Obj()
		sched.Cache().AddNode(logger, n)
		if err := nodeStore.Add(n); err != nil {
			b.Fatal(err)
		}
		for j, p := range []*v1.Pod{benchSharePod(fmt.Sprintf("s-%05d", i), 300+int64(i%7)*100), benchWholePod(fmt.Sprintf("w-%05d", i))} {
			p.Spec.NodeName = name
			p.Annotations = map[string]string{gpushare.AnnotationAssignment: gpushare.Assignment{Node: name, Cards: []int{j}, Milli: []int64{300 + int64(i%7)*100, 1000}[j]}.Encode()}
			if err := sched.Cache().AddPod(logger, p); err != nil {
				b.Fatal(err)
			}
		}
	}
	return sched
}

func benchSharePod(name string, milli int64) *v1.Pod {
	p := st.MakePod().Name(name).UID(name).SchedulerName(config.DefaultSchedulerName).Req("cpu", "4", "memory", "16Gi").Obj()
	p.Annotations = map[string]string{gpushare.AnnotationMilli: fmt.Sprint(milli)}
	return p
}

func benchWholePod(name string) *v1.Pod {
	return st.MakePod().Name(name).UID(name).SchedulerName(config.DefaultSchedulerName).Req("cpu", "8", "memory", "32Gi", "nvidia.com/gpu", "1").Obj()
}

// BenchmarkScheduleOneGPU measures the scheduling cycle (adaptive
// sampling) on 1,200 GPU nodes for plain pods with and without GPUShare
// in the profile, and for shared and whole-card GPU pods with it (FGD).
// The differences in cpu-us/pod are what GPU placement costs.
func BenchmarkScheduleOneGPU(b *testing.B) {
	plain := func(i int) *v1.Pod {
		return st.MakePod().Name(fmt.Sprintf("pod-%07d", i)).UID(fmt.Sprintf("pod-%07d", i)).SchedulerName(config.DefaultSchedulerName).
			Req("cpu", benchPodCPU, "memory", benchPodMemory).Obj()
	}
	for _, c := range []struct {
		name string
		cfg  string
		pod  func(i int) *v1.Pod
	}{
		{"plain/withoutGPUShare", withoutGPUShare, plain},
		{"plain/withGPUShare", "", plain},
		{"plain/withGPUShare-scoreCPUPods=true", gpuShareCPUPods, plain},
		{"share/withGPUShare", "", func(i int) *v1.Pod {
			return benchSharePod(fmt.Sprintf("pod-%07d", i), []int64{810, 470, 320, 650}[i%4])
		}},
		// Without GPUShare NodeResourcesFit still counts the cards: the same
		// nodes fit, so the difference is what GPUShare costs.
		{"whole/withoutGPUShare", withoutGPUShare, func(i int) *v1.Pod { return benchWholePod(fmt.Sprintf("pod-%07d", i)) }},
		{"whole/withGPUShare", "", func(i int) *v1.Pod { return benchWholePod(fmt.Sprintf("pod-%07d", i)) }},
	} {
		b.Run(fmt.Sprintf("nodes=%d/%s", benchGPUNodes, c.name), func(b *testing.B) {
			// A batch fits one cluster comfortably.
			benchInBatches(b, 1000, func(ctx context.Context) *Scheduler {
				return newGPUBenchScheduler(b, ctx, c.cfg)
			}, c.pod)
		})
	}
}
