// Command demo shows berth scheduling a realistic sample workload on a local
// control plane. It is what "make demo" runs (go run ./hack/demo from the
// repository root, after "make build").
//
// It
//
//  1. starts a throw-away control plane (bin/devcluster via internal/testenv)
//     and prints its kubeconfig so you can look around with kubectl;
//  2. creates a fleet of synthetic nodes (mixed general-purpose machines
//     plus a few GPU machines, over three zones) and taints a handful of
//     them dedicated=infra:NoSchedule;
//  3. starts bin/berth as a child process, logging to a temporary file,
//     and waits until its /readyz answers;
//  4. creates pods in namespace "demo" with schedulerName berth: a plain
//     web tier, an api tier pinned to SSD nodes, a batch tier restricted to
//     two zones, an infra tier for the tainted nodes, a GPU tier, and two
//     pods that cannot be scheduled at all;
//  5. waits until every schedulable pod is bound and the others are
//     marked PodScheduled=False;
//  6. prints where the pods landed, per-zone CPU use, why the pending pods
//     are pending, and a few of berth's own metrics.
//
// Everything is torn down on exit, including on Ctrl-C: berth gets SIGTERM
// (SIGKILL after 10s) and the control plane is stopped and its directory
// removed. Pass -hold to keep the cluster and berth running after the
// summary until you press Ctrl-C; -h lists the other flags.
package main
