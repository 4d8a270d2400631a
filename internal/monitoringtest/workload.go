package monitoringtest

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	schedv1beta1 "k8s.io/api/scheduling/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
)

// Profiles of SchedulerConfig.
const (
	DefaultProfile = "berth"
	LoadProfile    = "berth-load"
)

// SchedulerConfig is a KubeSchedulerConfiguration with the default
// profile (GPUShare, GangScheduling …) and a load-aware one reading the
// Prometheus at promURL every refresh, so that every capability the
// dashboard has a row for exports its series. Nodes above 85% CPU are
// refused.
func SchedulerConfig(promURL, refresh string) string {
	return fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: %s
- schedulerName: %s
  plugins:
    multiPoint:
      enabled:
      - name: LoadAware
        weight: 10
  pluginConfig:
  - name: LoadAware
    args:
      source:
        type: prometheus
        interval: %s
        prometheus:
          address: %s
      ttl: 15s
      thresholdPercent:
        cpu: 85
`, DefaultProfile, LoadProfile, refresh, promURL)
}

// Workload creates pods of every kind the dashboard shows in a namespace.
// Pods have no grace period (no kubelet runs to finish a deletion).
type Workload struct {
	Client    kubernetes.Interface
	Namespace string
	// Created counts the pods created.
	Created int
}

func (w *Workload) create(p *v1.Pod) error {
	w.Created++
	p.Namespace = w.Namespace
	p.Name = fmt.Sprintf("%s-%05d", p.Name, w.Created)
	p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](0)
	_, err := w.Client.CoreV1().Pods(w.Namespace).Create(context.Background(), p, metav1.CreateOptions{})
	return err
}

// Plain creates n small pods for the default profile.
func (w *Workload) Plain(n int) error {
	for range n {
		if err := w.create(st.MakePod().Name("plain").SchedulerName(DefaultProfile).Req("cpu", "100m", "memory", "64Mi").Obj()); err != nil {
			return err
		}
	}
	return nil
}

// Load creates n small pods for the load-aware profile.
func (w *Workload) Load(n int) error {
	for range n {
		if err := w.create(st.MakePod().Name("load").SchedulerName(LoadProfile).Req("cpu", "100m").Obj()); err != nil {
			return err
		}
	}
	return nil
}

// GPU creates n GPU pods for the default profile: in turn a whole card, a
// 300-milli share and a 600-milli share.
func (w *Workload) GPU(n int) error {
	for i := range n {
		var p *v1.Pod
		if i%3 == 0 {
			p = st.MakePod().Name("gpu").SchedulerName(DefaultProfile).Req("cpu", "1", string(nodegen.ResourceGPU), "1").Obj()
			c := &p.Spec.Containers[0]
			c.Resources.Limits = v1.ResourceList{nodegen.ResourceGPU: c.Resources.Requests[nodegen.ResourceGPU]}
		} else {
			p = st.MakePod().Name("gpu").SchedulerName(DefaultProfile).Req("cpu", "1").Obj()
			p.Annotations = map[string]string{gpushare.AnnotationMilli: []string{"", "300", "600"}[i%3]}
		}
		if err := w.create(p); err != nil {
			return err
		}
	}
	return nil
}

// Gang creates a scheduling.k8s.io PodGroup of minimum min and that many
// members: fewer than min keep it waiting.
func (w *Workload) Gang(name string, min int32, members int) error {
	pg := &schedv1beta1.PodGroup{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: schedv1beta1.PodGroupSpec{SchedulingPolicy: schedv1beta1.PodGroupSchedulingPolicy{
			Gang: &schedv1beta1.GangSchedulingPolicy{MinCount: min},
		}},
	}
	if _, err := w.Client.SchedulingV1beta1().PodGroups(w.Namespace).Create(context.Background(), pg, metav1.CreateOptions{}); err != nil {
		return err
	}
	for range members {
		p := st.MakePod().Name(name).SchedulerName(DefaultProfile).Req("cpu", "500m").Obj()
		p.Spec.SchedulingGroup = &v1.PodSchedulingGroup{PodGroupName: ptr.To(name)}
		if err := w.create(p); err != nil {
			return err
		}
	}
	return nil
}

// TooBig creates a pod no node can hold, which stays unschedulable.
func (w *Workload) TooBig() error {
	return w.create(st.MakePod().Name("too-big").SchedulerName(DefaultProfile).Req("cpu", "1000").Obj())
}
