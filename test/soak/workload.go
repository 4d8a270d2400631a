package soak

import (
	"context"
	"fmt"
	"strconv"

	v1 "k8s.io/api/core/v1"
	schedv1beta1 "k8s.io/api/scheduling/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
)

// tickLabel on every pod the churn creates holds the tick it was created
// in, so that one DeleteCollection removes a tick's pods when their
// lifetime is over.
const tickLabel = "soak.berth.io/tick"

// zoneKey is the topology key of the spread pods.
const zoneKey = "topology.kubernetes.io/zone"

// churn creates and deletes the soak's pods in one namespace.
type churn struct {
	client    kubernetes.Interface
	ns        string
	scheduler string
	// created and deleted count pods; groups counts PodGroups created.
	created, deleted, groups int
}

// kindOf is the kind of the i-th pod of the run: mostly plain pods of
// varied sizes, then preferred anti-affinity, a zone spread and a GPU
// share; gangs come on their own ticks (see tick).
func kindOf(i int) string {
	switch i % 10 {
	case 6:
		return "anti"
	case 7:
		return "spread"
	case 8:
		return "gpu"
	}
	return "plain"
}

// pod builds the i-th pod of tick n.
func (c *churn) pod(n, i int) *v1.Pod {
	kind := kindOf(i)
	cpu := strconv.Itoa(100+100*(i%5)) + "m"
	same := &metav1.LabelSelector{MatchLabels: map[string]string{"app": kind}}
	w := st.MakePod().Name(fmt.Sprintf("%s-%06d-%02d", kind, n, i%100)).Namespace(c.ns).SchedulerName(c.scheduler).
		Label(tickLabel, strconv.Itoa(n)).Label("app", kind).Req("cpu", cpu, "memory", "128Mi")
	switch kind {
	case "anti":
		w.PreferredPodAntiAffinity(50, v1.LabelHostname, same)
	case "spread":
		w.SpreadConstraint(1, zoneKey, v1.DoNotSchedule, same, nil, nil, nil, nil)
	}
	p := w.Obj()
	switch kind {
	case "gpu":
		p.Annotations = map[string]string{gpushare.AnnotationMilli: strconv.Itoa(100 + 100*(i%3))}
	}
	p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](0)
	return p
}

// tick creates tick n's pods: perTick of them, or on every gangEvery-th
// tick a gang of gangSize (a scheduling.k8s.io PodGroup of that minimum)
// instead of the tick's first gangSize pods.
func (c *churn) tick(ctx context.Context, n, perTick, gangEvery, gangSize int) error {
	first := 0
	if gangEvery > 0 && n%gangEvery == 0 {
		name := fmt.Sprintf("gang-%06d", n)
		pg := &schedv1beta1.PodGroup{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{tickLabel: strconv.Itoa(n)}},
			Spec: schedv1beta1.PodGroupSpec{SchedulingPolicy: schedv1beta1.PodGroupSchedulingPolicy{
				Gang: &schedv1beta1.GangSchedulingPolicy{MinCount: int32(gangSize)},
			}},
		}
		if _, err := c.client.SchedulingV1beta1().PodGroups(c.ns).Create(ctx, pg, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating PodGroup %s: %w", name, err)
		}
		c.groups++
		for m := range gangSize {
			p := st.MakePod().Name(fmt.Sprintf("%s-%d", name, m)).Namespace(c.ns).SchedulerName(c.scheduler).
				Label(tickLabel, strconv.Itoa(n)).Label("app", "gang").Req("cpu", "200m", "memory", "128Mi").Obj()
			p.Spec.SchedulingGroup = &v1.PodSchedulingGroup{PodGroupName: ptr.To(name)}
			p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](0)
			if err := c.create(ctx, p); err != nil {
				return err
			}
		}
		first = gangSize
	}
	for i := first; i < perTick; i++ {
		if err := c.create(ctx, c.pod(n, n*perTick+i)); err != nil {
			return err
		}
	}
	return nil
}

func (c *churn) create(ctx context.Context, p *v1.Pod) error {
	if _, err := c.client.CoreV1().Pods(c.ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating pod %s: %w", p.Name, err)
	}
	c.created++
	return nil
}

// expire deletes tick n's pods and PodGroups (at once: no kubelet runs
// to finish a graceful deletion).
func (c *churn) expire(ctx context.Context, n int) error {
	sel := metav1.ListOptions{LabelSelector: tickLabel + "=" + strconv.Itoa(n)}
	list, err := c.client.CoreV1().Pods(c.ns).List(ctx, sel)
	if err != nil {
		return err
	}
	if err := c.client.CoreV1().Pods(c.ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, sel); err != nil {
		return fmt.Errorf("deleting tick %d's pods: %w", n, err)
	}
	c.deleted += len(list.Items)
	if err := c.client.SchedulingV1beta1().PodGroups(c.ns).DeleteCollection(ctx, metav1.DeleteOptions{}, sel); err != nil {
		return fmt.Errorf("deleting tick %d's PodGroups: %w", n, err)
	}
	return nil
}
