// Package lint finds scheduling mistakes in Kubernetes manifests before
// they ship: specs the API server accepts (or rejects only at apply time)
// but that leave pods pending, spread nothing, or ask for nodes, cards or
// devices that do not exist. It is what `berth lint` and `berth webhook`
// run.
//
// A guided tour:
//
//   - Read turns files, directories and streams into Objects: every
//     document of a multi-document YAML (or JSON) file, and every item of a
//     List, decoded with the Kubernetes API types (strictly, so a misspelt
//     field is reported). A document that cannot be decoded becomes a
//     finding, never an error that stops the run.
//   - Workloads finds the pod specs inside Objects: Pods and the pod
//     templates of Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs
//     and CronJobs, each with the field path of its spec and its replica
//     count.
//   - Cluster is the plain-data view of a live cluster that the rules
//     that need one consult (nodes, storage and priority classes, pod
//     groups, DRA device classes and slices, the server version and the
//     scheduler names berth serves). FromCluster fills it with a client;
//     the webhook fills it from informers; tests fill it from fixtures.
//     Without one (nil) those rules stay silent.
//   - Lint runs every rule of Rules over the Objects and returns Findings:
//     a stable rule ID, a severity, the object, the field path, what is
//     wrong and how to fix it.
//   - WriteText, WriteJSON and WriteSARIF render findings for people,
//     programs and code-scanning UIs.
//
// Rules read only the objects and the Cluster; they do no I/O, so the same
// rule gives the same answer in the CLI, the webhook and the tests.
package lint
