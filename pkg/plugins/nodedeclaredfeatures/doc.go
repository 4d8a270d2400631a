// Package nodedeclaredfeatures provides NodeDeclaredFeatures, which keeps a
// pod off nodes that have not declared every node feature the pod needs.
//
// A kubelet publishes the optional behaviours it supports in the node's
// status.declaredFeatures (RestartAllContainersOnContainerExits,
// VolumeBindMountOptions …). A pod needs such a feature when its spec uses
// it, say a container restart rule with the RestartAllContainers action, and
// a kubelet without it would silently run the pod wrong, typically during a
// version skew between the control plane and older nodes.
//
// Which features exist, which pod specs need which, and the name-to-bit
// mapping all come from k8s.io/component-helpers/nodedeclaredfeatures, the
// library the kubelet, the API server and kube-scheduler share. berth adds
// only the scheduling glue, so its verdicts are kube-scheduler v1.37's:
// PreFilter infers the pod's requirements (Skip when there are none),
// Filter rejects, as UnschedulableAndUnresolvable, a node whose declared
// features are not a superset, and a node being added or changing its
// declared features requeues the pod.
package nodedeclaredfeatures
