package conformance

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	api "k8s.io/kubernetes/pkg/apis/core"
	_ "k8s.io/kubernetes/pkg/apis/core/install" // registers core/v1 defaulting and conversion
	noderegistry "k8s.io/kubernetes/pkg/registry/core/node"
	podregistry "k8s.io/kubernetes/pkg/registry/core/pod"
)

// AdmitPod returns pod as the API server would store it on create: v1
// defaulting, the pod strategy's PrepareForCreate (dropping disabled fields,
// merging matchLabelKeys, defaulting pod-level resources) and validation.
// A validation error means the generator made an invalid pod.
func AdmitPod(pod *v1.Pod) (*v1.Pod, error) {
	ctx := genericapirequest.WithNamespace(context.Background(), pod.Namespace)
	in := pod.DeepCopy()
	legacyscheme.Scheme.Default(in)
	internal := &api.Pod{}
	if err := legacyscheme.Scheme.Convert(in, internal, nil); err != nil {
		return nil, err
	}
	podregistry.Strategy.PrepareForCreate(ctx, internal)
	if errs := podregistry.Strategy.Validate(ctx, internal); len(errs) > 0 {
		return nil, fmt.Errorf("pod %s/%s is invalid: %w", pod.Namespace, pod.Name, errs.ToAggregate())
	}
	out := &v1.Pod{}
	if err := legacyscheme.Scheme.Convert(internal, out, nil); err != nil {
		return nil, err
	}
	// Bound pods come from the generator with a phase the create path resets.
	out.Status.Phase = pod.Status.Phase
	if out.Status.Phase == "" {
		out.Status.Phase = v1.PodPending
	}
	return out, nil
}

// AdmitNode is AdmitPod for nodes. Nodes may set status on create, so the
// capacity, allocatable and images are kept as generated.
func AdmitNode(node *v1.Node) (*v1.Node, error) {
	ctx := context.Background()
	in := node.DeepCopy()
	legacyscheme.Scheme.Default(in)
	internal := &api.Node{}
	if err := legacyscheme.Scheme.Convert(in, internal, nil); err != nil {
		return nil, err
	}
	noderegistry.Strategy.PrepareForCreate(ctx, internal)
	if errs := noderegistry.Strategy.Validate(ctx, internal); len(errs) > 0 {
		return nil, fmt.Errorf("node %s is invalid: %w", node.Name, errs.ToAggregate())
	}
	out := &v1.Node{}
	if err := legacyscheme.Scheme.Convert(internal, out, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// admitCase admits every object of a case.
func admitCase(c *Cluster, pending []*v1.Pod) (*Cluster, []*v1.Pod, error) {
	out := &Cluster{}
	for _, n := range c.Nodes {
		a, err := AdmitNode(n)
		if err != nil {
			return nil, nil, err
		}
		out.Nodes = append(out.Nodes, a)
	}
	for _, p := range c.Pods {
		a, err := AdmitPod(p)
		if err != nil {
			return nil, nil, err
		}
		out.Pods = append(out.Pods, a)
	}
	var ps []*v1.Pod
	for _, p := range pending {
		a, err := AdmitPod(p)
		if err != nil {
			return nil, nil, err
		}
		ps = append(ps, a)
	}
	return out, ps, nil
}
