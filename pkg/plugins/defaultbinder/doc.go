// Package defaultbinder provides DefaultBinder, the Bind plugin that assigns
// a pod to its node by creating a Binding through the pods/binding
// subresource, as kube-scheduler does.
package defaultbinder
