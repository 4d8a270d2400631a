// Package netsim evaluates network-aware placement by simulation: copies
// of a microservice application (SocialNetwork, shaped like
// DeathStarBench's social network) are deployed with background tenants
// onto a cluster of zones and racks, the same arrivals are placed under
// several scheduler configurations through berth's own plugins and
// scheduling core, in process and without an API server, and requests
// are then sent through the placed applications to count how often their
// calls cross zones.
//
// A seed draws a workload (generate): each application instance's
// Deployments are applied in an Order (shuffled by default: their pods
// interleave), background Deployments request the rest of the CPU up to
// Options.RequestFraction of the cluster's, half of them running before
// the applications arrive and the rest arriving among them. Every pod is
// owned by a ReplicaSet and selected by a Service with its app label, so
// PodTopologySpread's system default constraints spread it as they would
// a Deployment's, and each service's pods carry the berth.io/talks-to
// annotation naming its callees, weighted by their calls per request.
//
// A policy is a KubeSchedulerConfiguration (Policy.Config), loaded by
// config.Load and built by profile.New with the in-tree registry, over a
// handle whose informers (internal/st) list the namespaces, ReplicaSets
// and Services. Each pod goes through core.Evaluate on every node and is
// added to its node in the snapshot (AddPodForWhatIf). NetworkAware is
// given no informer factory: its count of the pods that declare
// berth.io/talks-to comes from the pod informer, which never sees the
// simulated pods, so it looks for them on every node instead.
//
// The placed pods then serve Options.Requests requests (measure): each
// enters at a random front-end pod and traverses the call graph, every
// call going to a pod of the callee chosen by the Routing (random, as a
// Service does, by default), and each call is classed by the distance
// between caller and callee: same node, same rack, same zone, other
// zone. Metrics pools the seeds.
//
// The package only computes; the `berth simulate network` command
// (cmd/berth/app) prints the table and writes JSON.
package netsim
