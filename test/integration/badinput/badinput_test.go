package badinput

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	schedv1beta1 "k8s.io/api/scheduling/v1beta1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/gputest"
	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/placement/network"
	"github.com/berthsched/berth/pkg/placement/preference"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
	"github.com/berthsched/berth/pkg/plugins/networkaware"
)

// config is berth's default profile with NodePreference (one rule set)
// and NetworkAware added, so that every annotation berth reads is read.
const config = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: berth
  plugins:
    multiPoint:
      enabled:
      - name: NodePreference
      - name: NetworkAware
  pluginConfig:
  - name: NodePreference
    args:
      ruleSets:
      - name: fast-disk
        preferred:
        - weight: 1
          labelValues: {key: disk-type, values: {nvme: 100}}
`

// badPod is one catalogue entry: a pod berth must refuse with its own
// message, or (placed) place with a warning event.
type badPod struct {
	name string
	pod  func(ns string) *v1.Pod
	// want are substrings of the FailedScheduling event; placed entries
	// instead name the warning event's reason and substrings.
	want   []string
	placed bool
	reason string
}

func plain(name string) *st.PodWrapper {
	return st.MakePod().Name(name).SchedulerName("berth").Req("cpu", "100m", "memory", "64Mi")
}

func annotated(name string, kv ...string) func(string) *v1.Pod {
	return func(ns string) *v1.Pod {
		p := plain(name).Namespace(ns).Obj()
		p.Annotations = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Annotations[kv[i]] = kv[i+1]
		}
		return p
	}
}

func badPods() []badPod {
	milli, mem, model := gpushare.AnnotationMilli, gpushare.AnnotationMemory, gpushare.AnnotationModel
	return []badPod{
		{name: "milli-not-a-number", pod: annotated("milli-not-a-number", milli, "half"),
			want: []string{`invalid GPU request: berth.io/gpu-milli="half" is not an integer number of milli-GPU`}},
		{name: "milli-out-of-range", pod: annotated("milli-out-of-range", milli, "1500"),
			want: []string{`berth.io/gpu-milli=1500 is outside 1..1000 (1000 is one whole card; ask for nvidia.com/gpu for more)`}},
		{name: "milli-zero", pod: annotated("milli-zero", milli, "0"),
			want: []string{`berth.io/gpu-milli=0 is outside 1..1000`}},
		{name: "share-and-whole-cards", pod: func(ns string) *v1.Pod {
			p := st.MakePod().Name("share-and-whole-cards").SchedulerName("berth").Namespace(ns).Req("cpu", "100m", string(nodegen.ResourceGPU), "1").Obj()
			p.Spec.Containers[0].Resources.Limits = v1.ResourceList{nodegen.ResourceGPU: p.Spec.Containers[0].Resources.Requests[nodegen.ResourceGPU]}
			p.Annotations = map[string]string{milli: "500"}
			return p
		}, want: []string{`pod asks for 1 nvidia.com/gpu and for a share (berth.io/gpu-milli="500"); ask for one or the other`}},
		{name: "memory-not-a-quantity", pod: annotated("memory-not-a-quantity", milli, "300", mem, "lots"),
			want: []string{`berth.io/gpu-memory="lots" is not a quantity (say 8Gi)`}},
		{name: "memory-negative", pod: annotated("memory-negative", milli, "300", mem, "-8Gi"),
			want: []string{`berth.io/gpu-memory="-8Gi" must be positive`}},
		{name: "memory-without-gpu", pod: annotated("memory-without-gpu", mem, "8Gi"),
			want: []string{`berth.io/gpu-memory="8Gi" is set but the pod asks for no GPU`}},
		{name: "model-names-none", pod: annotated("model-names-none", milli, "300", model, " | "),
			want: []string{`berth.io/gpu-model=" | " names no model`}},
		{name: "unknown-preference-set", pod: annotated("unknown-preference-set", preference.AnnotationKey, "fastest-disk"),
			want: []string{`fastest-disk`}},
		{name: "podgroup-missing", pod: func(ns string) *v1.Pod {
			p := plain("podgroup-missing").Namespace(ns).Obj()
			p.Spec.SchedulingGroup = &v1.PodSchedulingGroup{PodGroupName: ptr.To("nope")}
			return p
		}, want: []string{"GangScheduling: waiting for PodGroup %s/nope (scheduling.k8s.io) to be created"}},
		{name: "talks-to-malformed", pod: annotated("talks-to-malformed", network.TalksToAnnotation, "app=db:0,tier"),
			placed: true, reason: networkaware.ReasonInvalidTalksTo,
			want: []string{`annotation berth.io/talks-to: term 1 "app=db:0": weight "0" is not a whole number from 1 to`, "the pod is placed without the annotation's dependencies"}},
	}
}

// TestBadPodsAndPodGroups creates every bad pod and PodGroup of the
// catalogue together with a healthy workload (plain pods, GPU shares, a
// gang), and requires: each bad pod refused with its own message in a
// FailedScheduling event (or placed with its warning event), the API
// server refusing the PodGroups it validates, a gang whose minimum
// cannot be met waiting with the count, and every healthy pod bound.
func TestBadPodsAndPodGroups(t *testing.T) {
	env := testenv.Current()
	ctx := context.Background()
	c := env.Client
	for _, o := range []nodegen.Options{
		{Count: 4, Profile: nodegen.ProfileBasic, Prefix: "cpu-", Zones: 2},
		{Count: 2, Profile: nodegen.ProfileGPU, Prefix: "gpu-", Zones: 1},
	} {
		if _, err := nodegen.Create(ctx, c, o); err != nil {
			t.Fatal(err)
		}
	}
	berth := berthtest.StartRun(t, "berth", "--config", berthtest.WriteConfig(t, config))
	ns := env.CreateNamespace(t, "bad")

	create := func(p *v1.Pod) {
		t.Helper()
		if _, err := c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating %s: %v", p.Name, err)
		}
	}
	// PodGroups of the built-in API: the API server validates minCount.
	for _, minCount := range []int32{0, -2} {
		pg := &schedv1beta1.PodGroup{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("min-%d", minCount+10)},
			Spec: schedv1beta1.PodGroupSpec{SchedulingPolicy: schedv1beta1.PodGroupSchedulingPolicy{Gang: &schedv1beta1.GangSchedulingPolicy{MinCount: minCount}}}}
		_, err := c.SchedulingV1beta1().PodGroups(ns).Create(ctx, pg, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "minCount") {
			t.Errorf("PodGroup with minCount %d: %v, want the API server's Invalid naming minCount", minCount, err)
		} else {
			t.Logf("minCount %d: %v", minCount, err)
		}
	}
	gang := func(name string, min int32, members int, cpu string) []string {
		pg := &schedv1beta1.PodGroup{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: schedv1beta1.PodGroupSpec{SchedulingPolicy: schedv1beta1.PodGroupSchedulingPolicy{Gang: &schedv1beta1.GangSchedulingPolicy{MinCount: min}}}}
		if _, err := c.SchedulingV1beta1().PodGroups(ns).Create(ctx, pg, metav1.CreateOptions{}); err != nil {
			t.Fatalf("PodGroup %s: %v", name, err)
		}
		var names []string
		for i := range members {
			p := st.MakePod().Name(fmt.Sprintf("%s-%d", name, i)).SchedulerName("berth").Namespace(ns).Req("cpu", cpu).Obj()
			p.Spec.SchedulingGroup = &v1.PodSchedulingGroup{PodGroupName: ptr.To(name)}
			create(p)
			names = append(names, p.Name)
		}
		return names
	}

	// The healthy workload and the bad one, interleaved.
	var healthy []string
	bad := badPods()
	for i, b := range bad {
		p := b.pod(ns)
		create(p)
		h := plain(fmt.Sprintf("healthy-%02d", i)).Namespace(ns).Obj()
		if i%3 == 0 {
			h.Annotations = map[string]string{gpushare.AnnotationMilli: "250"}
		}
		create(h)
		healthy = append(healthy, h.Name)
	}
	unreachable := gang("too-few-members", 5, 2, "100m")
	healthy = append(healthy, gang("whole-gang", 3, 3, "100m")...)

	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			want := make([]string, len(b.want))
			for i, w := range b.want {
				want[i] = strings.ReplaceAll(w, "%s", ns)
			}
			if !b.placed {
				note := gputest.WaitFailedScheduling(t, c, ns, b.name, want...)
				t.Logf("%s", note)
				return
			}
			note := waitEvent(t, ns, b.name, b.reason, want...)
			t.Logf("%s: %s", b.reason, note)
			berthtest.WaitFor(t, time.Minute, b.name+" to be bound", func() (bool, string) {
				p, err := c.CoreV1().Pods(ns).Get(ctx, b.name, metav1.GetOptions{})
				if err != nil {
					return false, err.Error()
				}
				return p.Spec.NodeName != "", "pending"
			})
		})
	}
	t.Run("minimum-not-reachable", func(t *testing.T) {
		note := gputest.WaitFailedScheduling(t, c, ns, unreachable[0],
			fmt.Sprintf("GangScheduling: waiting for members of PodGroup %s/too-few-members (scheduling.k8s.io): 2 of minMember 5 exist", ns))
		t.Logf("%s", note)
	})
	berthtest.WaitFor(t, time.Minute, "every healthy pod to be bound", func() (bool, string) {
		var pending []string
		for _, name := range healthy {
			p, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			if p.Spec.NodeName == "" {
				pending = append(pending, name)
			}
		}
		return len(pending) == 0, fmt.Sprintf("pending: %v", pending)
	})
	if berth.Exited() {
		t.Fatalf("berth exited: %v", berth.Cmd.ProcessState)
	}
}

// waitEvent waits for an event of reason about pod name whose note holds
// every want, and returns the note.
func waitEvent(t *testing.T, ns, name, reason string, want ...string) string {
	t.Helper()
	var note string
	berthtest.WaitFor(t, 30*time.Second, "a "+reason+" event for "+name, func() (bool, string) {
		var why string
		var found bool
		note, why, found = berthtest.FindEvent(context.Background(), testenv.Current().Client, ns, name, reason, want...)
		return found, why
	})
	return note
}
