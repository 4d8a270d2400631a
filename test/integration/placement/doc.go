// Package placement holds the integration tests of berth's placement
// plugins NodePreference (operator rule sets over node labels) and
// NetworkAware (pods placed near the pods they talk to), each run as the
// real `berth run` binary (bin/berth) with a configuration file against a
// real kube-apiserver (devcluster, via internal/testenv):
//
//   - an SSD preference honoured while the SSD nodes have room and
//     relaxed once they are full, and a required rule set that leaves the
//     overflow pod pending with a message naming it until a node is
//     relabelled;
//   - a chain frontend → api → db (berth.io/talks-to) that comes together
//     in one zone and its racks when db is placed first, and when it is
//     created in the reverse order (edges count both ways);
//   - required pod anti-affinity on the zone still spreads api pods that
//     prefer their db's zone;
//   - maxCost refuses nodes too far from a placed dependency, with the
//     plugin's reason in the pod's event;
//   - invalid args of either plugin stop `berth run` at start-up with
//     their field paths;
//   - `berth explain` shows both plugins' breakdowns.
//
// No controller manager runs: pods are created directly, owned by
// ReplicaSets that exist (so PodTopologySpread's default constraints and
// NetworkAware's grouping by workload see them) but that nothing
// reconciles. Every test has its own nodes, labelled and tainted with the
// test's name (its pods select and tolerate them), its own namespace and
// its own berth with a scheduler name of its own, so the tests run in
// parallel.
package placement
