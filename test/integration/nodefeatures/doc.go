// Package nodefeatures holds berth's end-to-end test of the
// NodeDeclaredFeatures plugin: a real kube-apiserver (internal/testenv),
// berth in-process with its default profile, nodes whose
// status.declaredFeatures change while a pod waits for one.
package nodefeatures
