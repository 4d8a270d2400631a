// Package deploy tests berth's deployment artefacts against a real
// control plane (devcluster via internal/testenv), with Go only:
//
//   - the kustomize base (deploy/, rendered with krusty) and the Helm
//     chart (charts/berth, rendered and linted by helm v4 run through
//     `go run`) are accepted by the API server (server-side apply,
//     dry-run);
//   - the RBAC of the manifests is enough: berth runs in-process with the
//     ServiceAccount's token, leader election on in berth-system, binds
//     pods and reports an unschedulable one, and not one of its requests
//     is answered 403;
//   - the RBAC is not more than needed: the ServiceAccount cannot read
//     secrets, update nodes, delete namespaces or take leases elsewhere;
//   - /metrics on the secure port needs a token authorized for it, while
//     the health paths are open;
//   - a CGO_ENABLED=0 build, as in the Dockerfile, is a static binary.
//
// The Helm and static-binary tests compile large programs the first time
// (several minutes on a loaded 2-core machine); -short skips them.
package deploy
