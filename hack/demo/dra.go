package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/dynamic-resource-allocation/resourceclaim"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
)

// The DRA part: devcluster's fake driver publishes the cards of two
// 8-card nodes as ResourceSlices; a Deployment of inference pods asks for
// one card each and two trainers for two cards in one NVLink domain, all
// through ResourceClaimTemplates; one pod asks for a model nobody has.
const (
	draNodes         = 2
	draCards         = 8
	draModel         = "h100"
	inferenceName    = "inference"
	inferenceCount   = 12
	trainerPrefix    = "trainer-"
	trainerCount     = 2
	wantsMissingName = "wants-b200"
)

var draNodeOpts = nodegen.Options{Count: draNodes, Profile: nodegen.ProfileBasic, Prefix: "dra-", Zones: 1}

// draResult is where the DRA part's pods went and which cards they hold.
type draResult struct {
	pods   []v1.Pod
	cards  map[string]string // "node/device" -> pod
	models map[string]string // node -> model label
}

func gpuTemplate(name string, count int64, sameNVLink bool) *resourceapi.ResourceClaimTemplate {
	t := &resourceapi.ResourceClaimTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: resourceapi.ResourceClaimTemplateSpec{Spec: resourceapi.ResourceClaimSpec{Devices: resourceapi.DeviceClaim{
			Requests: []resourceapi.DeviceRequest{{Name: "gpu", Exactly: &resourceapi.ExactDeviceRequest{
				DeviceClassName: testenv.GPUDeviceClass, AllocationMode: resourceapi.DeviceAllocationModeExactCount, Count: count,
			}}},
		}}},
	}
	if sameNVLink {
		attr := resourceapi.FullyQualifiedName(testenv.GPUDriver + "/" + testenv.GPUAttributeNVLinkDomain)
		t.Spec.Spec.Devices.Constraints = []resourceapi.DeviceConstraint{{MatchAttribute: &attr}}
	}
	return t
}

// draPod is a small berth pod using the given claims, tolerating the GPU
// taint.
func draPod(claims ...v1.PodResourceClaim) v1.PodSpec {
	spec := newPod("500m", "2Gi", 0).Spec
	spec.Tolerations = []v1.Toleration{{Key: gpuTaint.Key, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule}}
	spec.ResourceClaims = claims
	for _, c := range claims {
		spec.Containers[0].Resources.Claims = append(spec.Containers[0].Resources.Claims, v1.ResourceClaim{Name: c.Name})
	}
	return spec
}

func runDRA(ctx context.Context, u *ui, client kubernetes.Interface, timeout time.Duration) (*draResult, error) {
	u.step("GPUs through Dynamic Resource Allocation: %d nodes with %d cards each, published by devcluster's %s driver", draNodes, draCards, testenv.GPUDriver)
	t := time.Now()
	if _, err := nodegen.Create(ctx, client, draNodeOpts); err != nil {
		return nil, fmt.Errorf("create DRA nodes: %v", err)
	}
	var names []string
	for i := range draNodes {
		names = append(names, nodegen.NodeName(draNodeOpts.Defaults(), i))
	}
	labels := map[string]string{testenv.GPUCountLabel: fmt.Sprint(draCards), testenv.GPUModelLabel: draModel}
	if err := taint(ctx, client, names, gpuTaint, labels); err != nil {
		return nil, err
	}
	for {
		l, err := client.ResourceV1().ResourceSlices().List(ctx, metav1.ListOptions{})
		have := 0
		if err == nil {
			for _, s := range l.Items {
				if s.Spec.Driver == testenv.GPUDriver {
					have += len(s.Spec.Devices)
				}
			}
		}
		if have >= draNodes*draCards {
			u.done("Labelled %s %s=%d; the driver published %d devices in ResourceSlices after %s",
				strings.Join(names, ", "), testenv.GPUCountLabel, draCards, have, since(t))
			break
		}
		u.progress("%4.1fs  %d/%d devices published", time.Since(t).Seconds(), have, draNodes*draCards)
		if time.Since(t) > timeout {
			u.abort()
			return nil, fmt.Errorf("the DRA driver published %d of %d devices within %s", have, draNodes*draCards, timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}

	u.plain("    ResourceClaimTemplate one-gpu          1 device of class %s", testenv.GPUDeviceClass)
	u.plain("    ResourceClaimTemplate two-gpus-nvlink  2 devices, constraint matchAttribute %s", testenv.GPUAttributeNVLinkDomain)
	u.plain("    Deployment %-12s %d replicas, one-gpu each", inferenceName, inferenceCount)
	u.plain("    Pods %s0..%d         two-gpus-nvlink each", trainerPrefix, trainerCount-1)
	u.plain("    Pod %-17s a claim for model == %q, which no node has", wantsMissingName, "b200")
	for _, tmpl := range []*resourceapi.ResourceClaimTemplate{gpuTemplate("one-gpu", 1, false), gpuTemplate("two-gpus-nvlink", 2, true)} {
		if _, err := client.ResourceV1().ResourceClaimTemplates(namespace).Create(ctx, tmpl, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("create ResourceClaimTemplate %s: %v", tmpl.Name, err)
		}
	}
	sel := map[string]string{"app": inferenceName}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: inferenceName},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](inferenceCount),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: v1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec: draPod(v1.PodResourceClaim{Name: "gpu", ResourceClaimTemplateName: ptr.To("one-gpu")})},
		},
	}
	if _, err := client.AppsV1().Deployments(namespace).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create Deployment %s: %v", dep.Name, err)
	}
	for i := range trainerCount {
		p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s%d", trainerPrefix, i), Labels: map[string]string{"app": "trainer"}},
			Spec: draPod(v1.PodResourceClaim{Name: "gpus", ResourceClaimTemplateName: ptr.To("two-gpus-nvlink")})}
		if _, err := client.CoreV1().Pods(namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("create pod %s: %v", p.Name, err)
		}
	}
	missing := &resourceapi.ResourceClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "b200"},
		Spec: resourceapi.ResourceClaimSpec{Devices: resourceapi.DeviceClaim{Requests: []resourceapi.DeviceRequest{{
			Name: "gpu", Exactly: &resourceapi.ExactDeviceRequest{DeviceClassName: testenv.GPUDeviceClass,
				Selectors: []resourceapi.DeviceSelector{{CEL: &resourceapi.CELDeviceSelector{
					Expression: fmt.Sprintf(`device.attributes[%q].%s == "b200"`, testenv.GPUDriver, testenv.GPUAttributeModel)}}}},
		}}}},
	}
	if _, err := client.ResourceV1().ResourceClaims(namespace).Create(ctx, missing, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create claim b200: %v", err)
	}
	odd := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: wantsMissingName},
		Spec: draPod(v1.PodResourceClaim{Name: "gpu", ResourceClaimName: ptr.To("b200")})}
	if _, err := client.CoreV1().Pods(namespace).Create(ctx, odd, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create pod %s: %v", odd.Name, err)
	}
	u.done("Created them; kube-controller-manager makes a claim per pod from its template")

	t = time.Now()
	want := inferenceCount + trainerCount
	for {
		res, done, err := readDRA(ctx, client, want)
		if err == nil && done {
			u.done("%d pods bound with their claims allocated and %s reported unschedulable, in %s", want, wantsMissingName, since(t))
			return res, nil
		}
		bound := 0
		if res != nil {
			for _, p := range res.pods {
				if p.Spec.NodeName != "" {
					bound++
				}
			}
		}
		u.progress("%4.1fs  %d/%d GPU pods bound", time.Since(t).Seconds(), bound, want)
		if time.Since(t) > timeout {
			u.abort()
			return res, fmt.Errorf("%d of %d GPU pods bound within %s", bound, want, timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// readDRA reads the DRA part's pods and claims; done means every GPU pod
// is bound with its claims allocated and the odd pod is unschedulable.
func readDRA(ctx context.Context, client kubernetes.Interface, want int) (*draResult, bool, error) {
	pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, false, err
	}
	claims, err := client.ResourceV1().ResourceClaims(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, false, err
	}
	byName := map[string]*resourceapi.ResourceClaim{}
	for i := range claims.Items {
		byName[claims.Items[i].Name] = &claims.Items[i]
	}
	res := &draResult{cards: map[string]string{}, models: map[string]string{}}
	allocated, oddDone := 0, false
	for _, p := range pods.Items {
		if len(p.Spec.ResourceClaims) == 0 {
			continue
		}
		res.pods = append(res.pods, p)
		if p.Name == wantsMissingName {
			oddDone = isUnschedulable(&p)
			continue
		}
		if p.Spec.NodeName == "" {
			continue
		}
		ok := true
		for _, pc := range p.Spec.ResourceClaims {
			name, _, err := resourceclaim.Name(&p, &pc)
			c := (*resourceapi.ResourceClaim)(nil)
			if err == nil && name != nil {
				c = byName[*name]
			}
			if c == nil || c.Status.Allocation == nil {
				ok = false
				continue
			}
			for _, r := range c.Status.Allocation.Devices.Results {
				res.cards[r.Pool+"/"+r.Device] = p.Name
			}
		}
		if ok {
			allocated++
		}
	}
	sort.Slice(res.pods, func(i, j int) bool { return res.pods[i].Name < res.pods[j].Name })
	return res, allocated == want && oddDone, nil
}

// printDRA draws each DRA node's cards and the pod holding each.
func printDRA(res *draResult) {
	fmt.Println()
	fmt.Printf("  Cards per node (ResourceClaim allocations written by berth; NVLink domain = card index / 4):\n")
	for i := range draNodes {
		node := nodegen.NodeName(draNodeOpts.Defaults(), i)
		fmt.Printf("  %s (%d x %s)\n", node, draCards, draModel)
		for c := range draCards {
			dev := fmt.Sprintf("%s%d", testenv.GPUDeviceNamePrefix, c)
			holder := res.cards[node+"/"+dev]
			if holder == "" {
				holder = "(free)"
			}
			fmt.Printf("    %-6s nvlink %d  %s\n", dev, c/4, holder)
		}
	}
	for _, p := range res.pods {
		if p.Spec.NodeName != "" {
			continue
		}
		if c := scheduledCondition(&p); c != nil {
			fmt.Printf("  %s pending: %s\n", p.Name, c.Message)
		}
	}
	fmt.Println()
}
