package main

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
)

const (
	namespace     = "demo"
	schedulerName = "berth"
	// setLabel names the workload set a pod belongs to.
	setLabel = "demo.berth.dev/set"
)

// workload is one set of similar pods.
type workload struct {
	name string
	desc string
	pods []*v1.Pod
	// unschedulable sets are expected to stay pending.
	unschedulable bool
}

// workloads returns the sample workload.
func workloads(f fleet) []*workload {
	var sets []*workload
	add := func(name, desc string, n int, build func(i int) *v1.Pod) *workload {
		w := &workload{name: name, desc: desc}
		for i := range n {
			p := build(i)
			p.Name = fmt.Sprintf("%s-%02d", name, i)
			p.Labels[setLabel] = name
			w.pods = append(w.pods, p)
		}
		sets = append(sets, w)
		return w
	}

	add("web", "500m CPU, 512Mi; no constraints", 60, func(int) *v1.Pod {
		return newPod("500m", "512Mi", 0)
	})
	add("api", "1 CPU, 2Gi; nodeSelector disk-type=ssd", 30, func(int) *v1.Pod {
		p := newPod("1", "2Gi", 0)
		p.Spec.NodeSelector = map[string]string{nodegen.LabelDiskType: "ssd"}
		return p
	})
	add("batch", "2 CPU, 4Gi; required node affinity zone in (zone-a, zone-b)", 40, func(int) *v1.Pod {
		p := newPod("2", "4Gi", 0)
		p.Spec.Affinity = requireNodeLabel(v1.LabelTopologyZone, "zone-a", "zone-b")
		return p
	})
	if len(f.tainted) > 0 {
		add("infra", fmt.Sprintf("250m CPU, 256Mi; tolerates %s=%s:NoSchedule, requires label %s=%s", infraKey, infraValue, infraKey, infraValue), 2*len(f.tainted), func(int) *v1.Pod {
			p := newPod("250m", "256Mi", 0)
			p.Spec.Tolerations = []v1.Toleration{{Key: infraKey, Operator: v1.TolerationOpEqual, Value: infraValue, Effect: v1.TaintEffectNoSchedule}}
			p.Spec.Affinity = requireNodeLabel(infraKey, infraValue)
			return p
		})
	}
	if f.gpu > 0 {
		add("gpu", fmt.Sprintf("2 nvidia.com/gpu, 8 CPU, 32Gi; tolerates %s:NoSchedule", gpuTaint.Key), 16, func(int) *v1.Pod {
			p := newPod("8", "32Gi", 2)
			p.Spec.Tolerations = []v1.Toleration{{Key: gpuTaint.Key, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule}}
			return p
		})
	}
	w := add("impossible", "deliberately unschedulable", 2, func(i int) *v1.Pod {
		if i == 0 {
			return newPod("500", "1Gi", 0) // no node has 500 cores
		}
		p := newPod("100m", "128Mi", 0)
		p.Spec.NodeSelector = map[string]string{nodegen.LabelDiskType: "nvme"} // no node has one
		return p
	})
	w.pods[0].Name, w.pods[1].Name = "impossible-500-cpus", "impossible-nvme-disk"
	w.unschedulable = true
	return sets
}

// newPod returns a single-container pod for berth with the given requests
// (GPUs, an extended resource, need limits equal to requests).
func newPod(cpu, mem string, gpus int64) *v1.Pod {
	res := v1.ResourceRequirements{Requests: v1.ResourceList{
		v1.ResourceCPU:    resource.MustParse(cpu),
		v1.ResourceMemory: resource.MustParse(mem),
	}}
	if gpus > 0 {
		q := *resource.NewQuantity(gpus, resource.DecimalSI)
		res.Requests[nodegen.ResourceGPU] = q
		res.Limits = v1.ResourceList{nodegen.ResourceGPU: q}
	}
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Labels: map[string]string{}},
		Spec: v1.PodSpec{
			SchedulerName: schedulerName,
			Containers:    []v1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10", Resources: res}},
		},
	}
}

func requireNodeLabel(key string, values ...string) *v1.Affinity {
	return &v1.Affinity{NodeAffinity: &v1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{
			NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: []v1.NodeSelectorRequirement{
				{Key: key, Operator: v1.NodeSelectorOpIn, Values: values},
			}}},
		},
	}}
}

// createWorkload creates the namespace, its default ServiceAccount (the
// ServiceAccount admission plugin wants it, and kube-controller-manager's
// serviceaccount controller may not have created it yet) and the pods.
func createWorkload(ctx context.Context, u *ui, client kubernetes.Interface, sets []*workload) error {
	total := 0
	for _, w := range sets {
		total += len(w.pods)
	}
	u.step("Creating %d pods in namespace %q (schedulerName: %s)", total, namespace, schedulerName)
	for _, w := range sets {
		u.plain("    %-11s %3d pods  %s", w.name, len(w.pods), w.desc)
	}
	t := time.Now()
	_, err := client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create namespace %s: %v", namespace, err)
	}
	_, err = client.CoreV1().ServiceAccounts(namespace).Create(ctx, &v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create the default ServiceAccount in %s: %v", namespace, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, w := range sets {
		for _, p := range w.pods {
			g.Go(func() error {
				if _, err := client.CoreV1().Pods(namespace).Create(gctx, p, metav1.CreateOptions{}); err != nil {
					return fmt.Errorf("create pod %s: %v", p.Name, err)
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	u.done("Created %d pods in %s", total, since(t))
	return nil
}

// waitScheduled polls the pods until every schedulable one is bound and
// every unschedulable one has PodScheduled=False, or until timeout. It
// returns the last pod list (nil only if none could be read) and an error
// on timeout, interrupt or if berth exits.
func waitScheduled(ctx context.Context, u *ui, client kubernetes.Interface, sets []*workload, b *berth, timeout time.Duration) (*v1.PodList, error) {
	u.step("Waiting for berth to schedule them (at most %s)", timeout)
	unsched := map[string]bool{}
	wantBound, wantPending := 0, 0
	for _, w := range sets {
		for _, p := range w.pods {
			if w.unschedulable {
				unsched[p.Name] = true
				wantPending++
			} else {
				wantBound++
			}
		}
	}
	start := time.Now()
	deadline := time.After(timeout)
	var last *v1.PodList
	for {
		pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
		if err == nil {
			last = pods
			bound, pending := 0, 0
			for i := range pods.Items {
				p := &pods.Items[i]
				switch {
				case unsched[p.Name] && isUnschedulable(p):
					pending++
				case !unsched[p.Name] && p.Spec.NodeName != "":
					bound++
				}
			}
			if bound == wantBound && pending == wantPending {
				u.done("All %d schedulable pods bound and %d marked unschedulable after %s", bound, pending, since(start))
				return last, nil
			}
			u.progress("%4.1fs  bound %d/%d schedulable pods, %d/%d unschedulable pods marked", time.Since(start).Seconds(), bound, wantBound, pending, wantPending)
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-b.exited:
			u.abort()
			return last, fmt.Errorf("berth exited unexpectedly (%v); last lines of %s:\n%s", b.waitErr, b.logPath, indent(testenv.TailFile(b.logPath, 15)))
		case <-deadline:
			u.abort()
			u.info("Timed out after %s; the summary below shows what was scheduled.", timeout)
			return last, fmt.Errorf("not all pods were scheduled within %s (see the summary above and berth's log %s)", timeout, b.logPath)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// isUnschedulable reports whether p has PodScheduled=False.
func isUnschedulable(p *v1.Pod) bool {
	c := scheduledCondition(p)
	return c != nil && c.Status == v1.ConditionFalse
}

func scheduledCondition(p *v1.Pod) *v1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == v1.PodScheduled {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}
