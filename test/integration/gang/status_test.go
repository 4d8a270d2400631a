package gang

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	schedv1beta1 "k8s.io/api/scheduling/v1beta1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
	volcanov1beta1 "github.com/berthsched/berth/pkg/apis/volcano/v1beta1"
	xv1alpha1 "github.com/berthsched/berth/pkg/apis/xscheduling/v1alpha1"
)

// TestGroupStatusAndEvents checks what berth writes about groups, on two
// nodes:
//   - a placed scheduler-plugins PodGroup is in phase Scheduling (its pods
//     never run: no kubelet) with scheduleStartTime set;
//   - a placed Kubernetes PodGroup has PodGroupInitiallyScheduled=True,
//     reason Scheduled;
//   - the members of a group whose minResources exceed the whole cluster
//     get a Warning FailedScheduling event saying it can never fit, and
//     stay pending;
//   - a pod naming a PodGroup that does not exist, in any of the three
//     APIs, stays pending; once the missing group is created its members
//     are placed.
func TestGroupStatusAndEvents(t *testing.T) {
	const test = "status"
	ctx := context.Background()
	c := testenv.Current().Client
	installCRDs(t)
	createNodes(t, test, nodegen.ProfileBasic, 0, 1)
	ns := newTestNamespace(t, "gang-"+test)
	startBerth(t, "berth-"+test)
	tr := newTracker(t, ns, partialGrace)

	small := cpuReq("100m")
	// Groups whose objects are not created (yet).
	missing := []*gangJob{
		{api: apiUpstream, name: "missing-up", pods: 1, req: small},
		{api: apiVolcano, name: "missing-vc", pods: 1, req: small},
		{api: apiSchedulerPlugins, name: "late", pods: 2, req: small},
	}
	sp := &gangJob{api: apiSchedulerPlugins, name: "sp", pods: 3, req: small}
	up := &gangJob{api: apiUpstream, name: "up", pods: 2, req: small}
	vc := &gangJob{api: apiVolcano, name: "vc", pods: 2, req: small}
	huge := &gangJob{api: apiSchedulerPlugins, name: "huge", pods: 2, req: small,
		minResources: v1.ResourceList{v1.ResourceCPU: resource.MustParse("100000")}}
	placed := []*gangJob{sp, up, vc}

	missingSince := time.Now()
	for _, j := range append(append(missing, placed...), huge) {
		tr.expect(j)
	}
	for _, j := range missing {
		if err := createPodsInOrder(j.allPods(ns, test), 2); err != nil {
			t.Fatal(err)
		}
	}
	for _, j := range append(placed, huge) {
		if err := j.createGroup(ns); err != nil {
			t.Fatalf("creating PodGroup %s: %v", j.name, err)
		}
		if err := createPodsInOrder(j.allPods(ns, test), 2); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 30*time.Second, "the groups that fit to be bound", func() (bool, string) {
		var not []string
		for _, j := range placed {
			if n := tr.boundOf(j.name); n != j.pods {
				not = append(not, fmt.Sprintf("%s %d/%d", j.name, n, j.pods))
			}
		}
		return len(not) == 0, "not bound: " + strings.Join(not, ", ")
	})

	// scheduler-plugins: phase Scheduling, scheduleStartTime set.
	var xpg xv1alpha1.PodGroup
	waitUntil(t, 30*time.Second, "PodGroup sp's status", func() (bool, string) {
		u, err := dynamicClientOf().Resource(xv1alpha1.PodGroupResource).Namespace(ns).Get(ctx, sp.name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		fromUnstructured(t, u, &xpg)
		return xpg.Status.Phase == xv1alpha1.PodGroupScheduling && !xpg.Status.ScheduleStartTime.IsZero(),
			fmt.Sprintf("status %+v", xpg.Status)
	})
	t.Logf("scheduler-plugins PodGroup %s: %+v", sp.name, xpg.Status)

	// Kubernetes: PodGroupInitiallyScheduled=True, reason Scheduled.
	var cond *metav1.Condition
	waitUntil(t, 30*time.Second, "PodGroup up's PodGroupInitiallyScheduled condition", func() (bool, string) {
		pg, err := c.SchedulingV1beta1().PodGroups(ns).Get(ctx, up.name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		cond = apimeta.FindStatusCondition(pg.Status.Conditions, schedv1beta1.PodGroupInitiallyScheduled)
		return cond != nil && cond.Status == metav1.ConditionTrue && cond.Reason == "Scheduled", fmt.Sprintf("conditions %+v", pg.Status.Conditions)
	})
	t.Logf("Kubernetes PodGroup %s: %s=%s reason %s: %s", up.name, cond.Type, cond.Status, cond.Reason, cond.Message)

	// Volcano: logged only (see the report on its phase).
	if u, err := dynamicClientOf().Resource(volcanov1beta1.PodGroupResource).Namespace(ns).Get(ctx, vc.name, metav1.GetOptions{}); err == nil {
		var vpg volcanov1beta1.PodGroup
		fromUnstructured(t, u, &vpg)
		t.Logf("Volcano PodGroup %s with its %d members bound: phase %q, conditions %+v", vc.name, vc.pods, vpg.Status.Phase, vpg.Status.Conditions)
	}

	// A group that can never fit: a Warning event on each member.
	for i := range huge.pods {
		name := huge.podName(i)
		var note string
		waitUntil(t, 30*time.Second, "a FailedScheduling event on "+name, func() (bool, string) {
			evs, err := c.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			last := "none"
			for _, e := range evs.Items {
				if e.Regarding.Name != name || e.Reason != "FailedScheduling" {
					continue
				}
				last = e.Type + ": " + e.Note
				if e.Type == v1.EventTypeWarning && strings.Contains(e.Note, "can never fit") {
					note = e.Note
					return true, ""
				}
			}
			return false, "last FailedScheduling event: " + last
		})
		if i == 0 {
			t.Logf("event on %s: %s", name, note)
		}
	}
	if n := tr.boundOf(huge.name); n != 0 {
		t.Errorf("%d members of %s bound; its minResources exceed the cluster", n, huge.name)
	}

	// Pods naming missing groups stay pending (at least 5 s here, while
	// berth placed the groups above).
	if d := 5*time.Second - time.Since(missingSince); d > 0 {
		time.Sleep(d)
	}
	for _, j := range missing {
		for i := range j.pods {
			p, err := c.CoreV1().Pods(ns).Get(ctx, j.podName(i), metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if p.Spec.NodeName != "" {
				t.Errorf("pod %s naming the missing %s PodGroup %s was bound to %s", p.Name, j.api, j.name, p.Spec.NodeName)
			}
		}
	}
	// The late group arrives: its waiting members are placed.
	late := missing[2]
	created := time.Now()
	if err := late.createGroup(ns); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "the members of the late group to be bound", func() (bool, string) {
		n := tr.boundOf(late.name)
		return n == late.pods, fmt.Sprintf("%d of %d bound", n, late.pods)
	})
	t.Logf("the members of %s were bound %v after their group was created", late.name, time.Since(created).Round(time.Millisecond))
	tr.verify(t)
}
