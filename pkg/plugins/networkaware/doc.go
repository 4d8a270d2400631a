// Package networkaware is berth's NetworkAware plugin: it puts a pod near
// the pods it talks to — and near the pods that say they talk to it — so
// that a chain frontend → api → db ends up together whatever order its
// pods are created in.
//
// Dependencies come from the pod annotation berth.io/talks-to ("app=db,
// app=cache:5") or, where teams already have them, from a Diktyo
// AppGroup named by the pod's labels, read through the dynamic informer
// factory only if the API server serves the CRD. The network's cost model
// is a list of node-label levels from the args, optionally refined by
// the zone and region costs of a NetworkTopology.
//
// It is a thin adapter over pkg/placement/network: PreScore (or
// PreFilter, when a bound applies) aggregates the dependencies' placed
// pods from the cycle's snapshot into counts per domain per level, Score
// returns the expected cost, NormalizeScore maps the cheapest feasible
// node to 100 and the dearest to 0, Filter refuses nodes above maxCost or
// an AppGroup's maxNetworkCost, and ExplainScore shows the breakdown. It
// is not node-local: a node's score depends on where other pods run.
// Problems with a pod's declarations (a bad annotation, an AppGroup that
// does not exist) never keep it pending: it is placed without them, and
// berth says so in a Warning event on the pod and in explain.
package networkaware
