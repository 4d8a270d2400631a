// Package gang tests, against a real API server (devcluster via
// internal/testenv), what berth's gang scheduling reads: the PodGroup
// CRDs of scheduler-plugins (scheduling.x-k8s.io) and Volcano
// (scheduling.volcano.sh) that berth ships in deploy/crds and the Helm
// chart, and berth's own Go types for them (pkg/apis). The CRDs are
// installed from the kustomization in deploy/crds, objects are written
// from the typed Go values through the dynamic client and read back into
// them, and the status of each is written the way its project writes it.
package gang
