package devcluster_test

import (
	"context"
	"slices"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	schedulingv1beta1 "k8s.io/api/scheduling/v1beta1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
)

// podGroupFinalizer is the finalizer the API server's PodGroupProtection
// admission plugin puts on every new PodGroup.
const podGroupFinalizer = "scheduling.k8s.io/podgroup-protection"

// TestPodGroups checks that the control plane serves
// scheduling.k8s.io/v1beta1 PodGroups with their gang policy, keeps a
// pod's spec.schedulingGroup, and that kube-controller-manager releases a
// deleted PodGroup once its last pod is gone.
func TestPodGroups(t *testing.T) {
	_, _, client := upClient(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const ns = "default"

	pg := &schedulingv1beta1.PodGroup{
		ObjectMeta: metav1.ObjectMeta{Name: "gang"},
		Spec: schedulingv1beta1.PodGroupSpec{
			SchedulingPolicy: schedulingv1beta1.PodGroupSchedulingPolicy{
				Gang: &schedulingv1beta1.GangSchedulingPolicy{MinCount: 2},
			},
		},
	}
	if _, err := client.SchedulingV1beta1().PodGroups(ns).Create(ctx, pg, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create PodGroup: %v", err)
	}
	got, err := client.SchedulingV1beta1().PodGroups(ns).Get(ctx, "gang", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get PodGroup: %v", err)
	}
	if g := got.Spec.SchedulingPolicy.Gang; g == nil || g.MinCount != 2 {
		t.Errorf("PodGroup gang policy read back as %+v", got.Spec.SchedulingPolicy)
	}
	if !slices.Contains(got.Finalizers, podGroupFinalizer) {
		t.Errorf("PodGroup finalizers %v, want %s (PodGroupProtection admission)", got.Finalizers, podGroupFinalizer)
	}

	// The pod needs the namespace's default ServiceAccount, which the
	// controller manager creates.
	if err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		t.Fatalf("no default ServiceAccount: %v", err)
	}
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "member-0"},
		Spec: v1.PodSpec{
			Containers:      []v1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}},
			SchedulingGroup: &v1.PodSchedulingGroup{PodGroupName: ptr.To("gang")},
		},
	}
	if _, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	gotPod, err := client.CoreV1().Pods(ns).Get(ctx, "member-0", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pod: %v", err)
	}
	if sg := gotPod.Spec.SchedulingGroup; sg == nil || sg.PodGroupName == nil || *sg.PodGroupName != "gang" {
		t.Fatalf("pod spec.schedulingGroup read back as %+v, want podGroupName gang (is GenericWorkload on in kube-apiserver?)", sg)
	}

	// A deleted PodGroup stays while a pod references it, and goes once
	// the pod is gone: kube-controller-manager's
	// podgroup-protection-controller removes the finalizer.
	if err := client.SchedulingV1beta1().PodGroups(ns).Delete(ctx, "gang", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete PodGroup: %v", err)
	}
	time.Sleep(time.Second)
	got, err = client.SchedulingV1beta1().PodGroups(ns).Get(ctx, "gang", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("PodGroup with a member pod gone after delete: %v", err)
	}
	if got.DeletionTimestamp == nil {
		t.Errorf("PodGroup not terminating after delete")
	}
	if err := client.CoreV1().Pods(ns).Delete(ctx, "member-0", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatalf("delete pod: %v", err)
	}
	if err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := client.SchedulingV1beta1().PodGroups(ns).Get(ctx, "gang", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		t.Fatalf("PodGroup not released after its last pod was deleted (podgroup-protection-controller): %v", err)
	}
}
