package netsim

import (
	"math/rand/v2"
)

// Routing is how a call chooses among the callee's pods.
type Routing string

// The routings.
const (
	// RoutingRandom picks any pod, uniformly: a Service's default
	// (kube-proxy's random or round-robin choice).
	RoutingRandom Routing = "random"
	// RoutingPreferZone picks a pod in the caller's zone when there is
	// one, else any: a Service with trafficDistribution PreferSameZone
	// (PreferClose), ignoring the hints' load safeguards.
	RoutingPreferZone Routing = "prefer-zone"
)

// Routings lists the routings.
var Routings = []Routing{RoutingRandom, RoutingPreferZone}

// Metrics are what a policy's placements gave: the pods placed, and what
// the requests sent through the applications crossed.
type Metrics struct {
	// Placed and Failed count the arrivals: equal Placed across
	// policies (and no Failed) is the same packing.
	Placed int `json:"placed"`
	Failed int `json:"failed"`
	// Requests is the number of requests sent; Calls the calls they
	// made, by the distance between the caller's pod and the callee's:
	// the same node, another node of the rack, another rack of the zone,
	// another zone.
	Requests  int `json:"requests"`
	Calls     int `json:"calls"`
	SameNode  int `json:"sameNode"`
	SameRack  int `json:"sameRack"`
	SameZone  int `json:"sameZone"`
	CrossZone int `json:"crossZone"`
	// Unreached counts the calls (and requests) to a service none of
	// whose pods was placed; with spare capacity there are none.
	Unreached int `json:"unreached"`
	// Hops[k] is the number of requests that crossed zones k times.
	Hops []int `json:"hops"`
	// MultiReplica counts the services (per application instance) with
	// two or more pods placed; OneZone those of them all in one zone,
	// which a zone's outage takes down whole.
	MultiReplica int `json:"multiReplica"`
	OneZone      int `json:"oneZone"`
	// MaxZoneRequested is the requested CPU of the fullest zone over its
	// capacity (the highest over the seeds).
	MaxZoneRequested float64 `json:"maxZoneRequested"`
}

// MeanCrossZoneHops is the mean number of cross-zone calls per request.
func (m *Metrics) MeanCrossZoneHops() float64 { return ratio(m.CrossZone, m.Requests) }

// CrossZoneFraction is the fraction of calls that crossed zones.
func (m *Metrics) CrossZoneFraction() float64 { return ratio(m.CrossZone, m.Calls) }

// SameNodeFraction is the fraction of calls that stayed on a node.
func (m *Metrics) SameNodeFraction() float64 { return ratio(m.SameNode, m.Calls) }

// OneZoneFraction is the fraction of multi-replica services confined to
// one zone.
func (m *Metrics) OneZoneFraction() float64 { return ratio(m.OneZone, m.MultiReplica) }

// CallsPerRequest is the mean number of calls per request.
func (m *Metrics) CallsPerRequest() float64 { return ratio(m.Calls, m.Requests) }

// CrossZoneQuantile is the q-quantile (nearest rank) of the cross-zone
// calls per request.
func (m *Metrics) CrossZoneQuantile(q float64) int {
	rank := int(q*float64(m.Requests) + 0.999999)
	seen := 0
	for k, n := range m.Hops {
		if seen += n; seen >= rank {
			return k
		}
	}
	return len(m.Hops) - 1
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// add pools another run's metrics into m.
func (m *Metrics) add(o *Metrics) {
	m.Placed += o.Placed
	m.Failed += o.Failed
	m.Requests += o.Requests
	m.Calls += o.Calls
	m.SameNode += o.SameNode
	m.SameRack += o.SameRack
	m.SameZone += o.SameZone
	m.CrossZone += o.CrossZone
	m.Unreached += o.Unreached
	for k, n := range o.Hops {
		m.count(k, n)
	}
	m.MultiReplica += o.MultiReplica
	m.OneZone += o.OneZone
	m.MaxZoneRequested = max(m.MaxZoneRequested, o.MaxZoneRequested)
}

// count adds n requests that crossed zones k times.
func (m *Metrics) count(k, n int) {
	for len(m.Hops) <= k {
		m.Hops = append(m.Hops, 0)
	}
	m.Hops[k] += n
}

// placement is where one run put the pods.
type placement struct {
	g         *graph
	instances int
	cluster   Cluster
	locs      []node
	// replicas[instance][service] are the nodes of the service's placed
	// pods, in the order they were placed.
	replicas [][][]int
	// routing is how calls choose a pod; local[instance][service][zone]
	// are the nodes of the service's pods in the zone, for
	// RoutingPreferZone.
	routing Routing
	local   [][][][]int
	// zoneCPU is the CPU requested in each zone.
	zoneCPU        []int64
	placed, failed int
}

func newPlacement(o *Options, g *graph, locs []node) *placement {
	pl := &placement{g: g, instances: o.Instances, cluster: o.Cluster, locs: locs, routing: o.Routing,
		replicas: make([][][]int, o.Instances), zoneCPU: make([]int64, o.Cluster.Zones)}
	for i := range pl.replicas {
		pl.replicas[i] = make([][]int, len(g.app.Services))
	}
	return pl
}

// place records a pod of d placed on node n.
func (pl *placement) place(d *Deployment, n int) {
	pl.placed++
	pl.zoneCPU[pl.locs[n].zone] += d.CPUMilli
	if d.Instance >= 0 {
		pl.replicas[d.Instance][d.Service] = append(pl.replicas[d.Instance][d.Service], n)
	}
}

// measure fills m with the placement's figures and sends requests
// through it. Request r enters instance r mod instances at a random pod
// of the entry service; each service makes its calls (a fractional rate
// by a draw), each to a pod of the callee chosen as a Service's load
// balancing would (pick), and the callee makes its own. The random
// source depends on the seed only, so with RoutingRandom two policies
// that placed the same pods see the same requests, calls and replica
// choices: only the zones differ.
func (pl *placement) measure(m *Metrics, requests int, seed int64) {
	m.Placed, m.Failed = pl.placed, pl.failed
	pl.local = make([][][][]int, len(pl.replicas))
	for i, inst := range pl.replicas {
		pl.local[i] = make([][][]int, len(inst))
		for s, nodes := range inst {
			pl.local[i][s] = make([][]int, pl.cluster.Zones)
			for _, n := range nodes {
				z := pl.locs[n].zone
				pl.local[i][s][z] = append(pl.local[i][s][z], n)
			}
		}
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x7265717565737473))
	entry := pl.g.index[pl.g.app.Entry]
	for r := range requests {
		m.Requests++
		reps := pl.replicas[r%pl.instances][entry]
		if len(reps) == 0 {
			m.Unreached++
			m.count(0, 1)
			continue
		}
		m.count(pl.visit(m, rng, r%pl.instances, entry, reps[rng.IntN(len(reps))]), 1)
	}
	for _, inst := range pl.replicas {
		for _, nodes := range inst {
			if len(nodes) < 2 {
				continue
			}
			m.MultiReplica++
			same := true
			for _, n := range nodes[1:] {
				same = same && pl.locs[n].zone == pl.locs[nodes[0]].zone
			}
			if same {
				m.OneZone++
			}
		}
	}
	perZone := float64(pl.cluster.RacksPerZone*pl.cluster.NodesPerRack) * float64(pl.cluster.NodeCPUMilli)
	for _, cpu := range pl.zoneCPU {
		m.MaxZoneRequested = max(m.MaxZoneRequested, float64(cpu)/perZone)
	}
}

// pick chooses the pod of service svc (of instance inst, on nodes reps)
// that a call from node at reaches: any of them at random, or with
// RoutingPreferZone one in the caller's zone if there is one.
func (pl *placement) pick(rng *rand.Rand, reps []int, inst, svc, at int) int {
	if pl.routing == RoutingPreferZone {
		if local := pl.local[inst][svc][pl.locs[at].zone]; len(local) > 0 {
			reps = local
		}
	}
	return reps[rng.IntN(len(reps))]
}

// visit makes the calls of service svc of instance inst serving a
// request on node at, and returns how many of them, and of theirs,
// crossed zones.
func (pl *placement) visit(m *Metrics, rng *rand.Rand, inst, svc, at int) int {
	cross := 0
	for _, e := range pl.g.calls[svc] {
		n := int(e.rate)
		if f := e.rate - float64(n); f > 0 && rng.Float64() < f {
			n++
		}
		reps := pl.replicas[inst][e.to]
		for range n {
			if len(reps) == 0 {
				m.Unreached++
				continue
			}
			to := pl.pick(rng, reps, inst, e.to, at)
			m.Calls++
			from, dest := pl.locs[at], pl.locs[to]
			switch {
			case at == to:
				m.SameNode++
			case from.rack == dest.rack:
				m.SameRack++
			case from.zone == dest.zone:
				m.SameZone++
			default:
				m.CrossZone++
				cross++
			}
			cross += pl.visit(m, rng, inst, e.to, to)
		}
	}
	return cross
}
