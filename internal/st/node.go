package st

import (
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// NodeWrapper builds a node.
type NodeWrapper struct{ v1.Node }

// MakeNode starts a Ready node.
func MakeNode() *NodeWrapper {
	return &NodeWrapper{v1.Node{Status: v1.NodeStatus{
		Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}},
	}}}
}

// Obj returns the node.
func (n *NodeWrapper) Obj() *v1.Node { return &n.Node }

// Name sets the name, the UID and the hostname label.
func (n *NodeWrapper) Name(s string) *NodeWrapper {
	n.Node.Name = s
	n.Node.UID = types.UID("node-uid-" + s)
	return n.Label(v1.LabelHostname, s)
}

// Label adds a label.
func (n *NodeWrapper) Label(k, v string) *NodeWrapper {
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	n.Labels[k] = v
	return n
}

// Capacity sets capacity and allocatable, e.g. Capacity("cpu", "4", "memory", "8Gi", "pods", "110").
func (n *NodeWrapper) Capacity(kv ...string) *NodeWrapper {
	n.Status.Capacity = ResourceList(kv...)
	n.Status.Allocatable = ResourceList(kv...)
	return n
}

// Taint adds a taint.
func (n *NodeWrapper) Taint(key, value string, effect v1.TaintEffect) *NodeWrapper {
	n.Spec.Taints = append(n.Spec.Taints, v1.Taint{Key: key, Value: value, Effect: effect})
	return n
}

// Unschedulable sets spec.unschedulable.
func (n *NodeWrapper) Unschedulable(b bool) *NodeWrapper { n.Spec.Unschedulable = b; return n }

// Images adds an image with its size.
func (n *NodeWrapper) Images(size int64, names ...string) *NodeWrapper {
	n.Status.Images = append(n.Status.Images, v1.ContainerImage{Names: names, SizeBytes: size})
	return n
}

// CreationTimestamp sets metadata.creationTimestamp.
func (n *NodeWrapper) CreationTimestamp(t metav1.Time) *NodeWrapper {
	n.Node.CreationTimestamp = t
	return n
}
