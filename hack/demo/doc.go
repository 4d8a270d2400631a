// Command demo shows berth scheduling a realistic sample workload on a local
// control plane. It is what "make demo" runs (go run ./hack/demo from the
// repository root, after "make build").
//
// It
//
//  1. starts a throw-away control plane (bin/devcluster via internal/testenv:
//     etcd, kube-apiserver, kube-controller-manager and devcluster's
//     node-local volume provisioner local.berth.io) and prints its
//     kubeconfig so you can look around with kubectl; it installs the
//     PodGroup CRDs of deploy/crds (scheduler-plugins' and Volcano's)
//     before berth starts, since berth reads only the pod group APIs
//     served when it starts;
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
//  6. prints where the pods landed, per-zone CPU use and why the pending
//     pods are pending, then runs "berth explain" on each pending pod (the
//     rejected nodes by plugin and reason, and the verified changes that
//     would make it fit, e.g. the nodeSelector value nodes do have);
//  7. runs a stateful part: a WaitForFirstConsumer StorageClass "local" of
//     the local.berth.io provisioner limited to zone-a and zone-b (the
//     provisioner publishes a CSIStorageCapacity per node it reaches,
//     100Gi each), a StatefulSet "db" of 6 replicas with a 10Gi claim
//     each, and a pod "huge" whose 5Ti claim fits no node. berth picks a
//     node per replica, the provisioner creates a local PV on it and the
//     PV controller binds the claim; the demo prints each replica's node,
//     zone, claim, PV and berth.io/bound-at stamp, the zones without a
//     replica, and the PodScheduled message of "huge", which names the
//     claim that kept it off every node, and "berth explain pod/huge";
//  8. runs a DRA part: GPUs published as ResourceSlices by devcluster's
//     fake driver, pods with ResourceClaims and claim templates, the cards
//     per node and the pod holding each, and a claim no device satisfies;
//  9. runs a GPU sharing part: an 8-card and a 4-card node, whole-card
//     pods and shares of one card (berth.io/gpu-milli, -memory, -model)
//     created one at a time, a per-card table built from the
//     berth.io/gpu-assignment annotations berth writes, and a share no
//     card has room for, explained card by card;
//  10. runs a gang part on a pool of four tainted nodes, one worker per
//     node: train-a (a scheduling.k8s.io PodGroup) and train-b (a
//     scheduling.x-k8s.io one), three workers each, created interleaved,
//     of which berth binds one whole and none of the other ("berth
//     explain" shows the pending member's pod group section); the placed
//     job finishes and the other is placed whole; then urgent (a
//     scheduling.volcano.sh PodGroup of a higher PriorityClass, two
//     workers) evicts the training job whole, though it needed the room
//     of one worker. It prints each job's bound workers, nodes and
//     PodGroup status, the victims and the events on the PodGroup;
//  11. runs a load-aware part on a pool of four tainted nodes: a
//     synthetic node-exporter (internal/promtest) reports 92 %, 70 %,
//     15 % and 25 % CPU, the real Prometheus of bin/prometheus (fetched
//     by make build) scrapes it every second, and a second berth with a
//     profile berth-load (LoadAware weight 10, CPU threshold 85 %, TTL
//     5s) schedules pods created one after another. It prints the
//     pool's utilisation as Prometheus reports it and the pods per node
//     (none on the hot nodes: one refused, one outscored), and "berth
//     explain" on one of them (the threshold rejection, the measured
//     load behind each score). It then kills Prometheus, waits until
//     berth-load's samples are older than the TTL, and shows the next
//     pods bound all the same, scored by requests, with explain's line
//     saying so and berth-load's LoadAware metrics;
//  12. prints a few of berth's own metrics.
//
// No kubelet runs, so pods are only bound, never started.
//
// Everything is torn down on exit, including on Ctrl-C: berth gets SIGTERM
// (SIGKILL after 10s), so do the load-aware part's berth and Prometheus,
// and the control plane is stopped and its directory removed. Pass -hold to keep the cluster and berth running after the
// summary until you press Ctrl-C; -h lists the other flags.
package main
