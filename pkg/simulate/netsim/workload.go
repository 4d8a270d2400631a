package netsim

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/pkg/placement/network"
	"github.com/berthsched/berth/pkg/simulate"
)

// AppLabel is the pod label naming a pod's service (or background
// deployment); the talks-to terms and the ReplicaSets select on it.
const AppLabel = "app"

// BackgroundNamespace holds the other tenants' pods, which talk to
// nobody.
const BackgroundNamespace = "background"

// Region is every node's topology.kubernetes.io/region.
const Region = "region-1"

// Cluster is the simulated cluster's shape: identical nodes in zones of
// racks.
type Cluster struct {
	Zones        int `json:"zones"`
	RacksPerZone int `json:"racksPerZone"`
	NodesPerRack int `json:"nodesPerRack"`
	// NodeCPUMilli and NodeMemoryMiB are each node's allocatable.
	NodeCPUMilli  int64 `json:"nodeCPUMilli"`
	NodeMemoryMiB int64 `json:"nodeMemoryMiB"`
}

// Nodes is the number of nodes.
func (c Cluster) Nodes() int { return c.Zones * c.RacksPerZone * c.NodesPerRack }

// zone names zone z: zone-a, zone-b …
func zone(z int) string { return fmt.Sprintf("zone-%c", 'a'+z) }

// node is one simulated node: where it is, for the traffic's distances.
type node struct {
	name       string
	zone, rack int // rack numbers are unique across zones
}

// build returns the nodes, zone by zone and rack by rack, as node objects
// (simulate.NodeObject with the hostname, zone, region and
// topology.berth.io/rack labels) and as locations.
func (c Cluster) build() ([]*v1.Node, []node) {
	var objs []*v1.Node
	var locs []node
	for z := range c.Zones {
		for r := range c.RacksPerZone {
			for n := range c.NodesPerRack {
				name := fmt.Sprintf("%s-r%d-n%02d", zone(z), r+1, n+1)
				obj := simulate.NodeObject(simulate.NodeRecord{Name: name, CPUMilli: c.NodeCPUMilli, MemoryMiB: c.NodeMemoryMiB})
				obj.Labels[v1.LabelTopologyZone] = zone(z)
				obj.Labels[v1.LabelTopologyRegion] = Region
				obj.Labels[network.RackLabel] = fmt.Sprintf("r%d", r+1)
				objs = append(objs, obj)
				locs = append(locs, node{name: name, zone: z, rack: z*c.RacksPerZone + r})
			}
		}
	}
	return objs, locs
}

// Deployment is a set of identical pods: a service of one instance of
// the application, or a background tenant's workload.
type Deployment struct {
	// Namespace and Name identify its ReplicaSet; Name is also the pods'
	// app label.
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Instance is the application instance (-1 for background), Service
	// the service's index in the App.
	Instance int `json:"instance"`
	Service  int `json:"service"`
	Replicas int `json:"replicas"`
	// CPUMilli and MemoryMiB are each pod's requests.
	CPUMilli  int64 `json:"cpuMilli"`
	MemoryMiB int64 `json:"memoryMiB"`
	// TalksTo is the pods' berth.io/talks-to annotation ("" for none).
	TalksTo string `json:"talksTo,omitempty"`
}

// Arrival is one pod reaching the scheduler.
type Arrival struct {
	// Deployment indexes Workload.Deployments; Replica is the pod's
	// number in it.
	Deployment int
	Replica    int
	// At orders the arrivals (seconds; negative for the background that
	// runs before the applications are deployed).
	At float64
}

// Workload is one seed's deployments and the order their pods arrive
// in.
type Workload struct {
	Deployments []Deployment
	Arrivals    []Arrival
	// AppCPUMilli and BackgroundCPUMilli are the pods' requested CPU.
	AppCPUMilli, BackgroundCPUMilli int64
}

// Order is the order in which an application's Deployments are applied.
type Order string

// The orders.
const (
	// OrderShuffled applies them in a random order within a few seconds,
	// so that their pods interleave: what applying a directory of
	// manifests (or a Helm chart) gives.
	OrderShuffled Order = "shuffled"
	// OrderCalleesFirst applies them one after the other, the services
	// called before their callers (databases first): what a queue
	// sorted by dependencies (scheduler-plugins' TopologicalSort) or a
	// careful rollout gives.
	OrderCalleesFirst Order = "callees-first"
	// OrderCallersFirst is the reverse: the front end first.
	OrderCallersFirst Order = "callers-first"
)

// Orders lists the orders.
var Orders = []Order{OrderShuffled, OrderCalleesFirst, OrderCallersFirst}

// Timing of the arrivals (seconds): the applications are applied at
// random moments of the horizon, each Deployment of an application
// within applySpread of its apply (in a random order), and a
// ReplicaSet's pods follow each other at exponential gaps of mean
// replicaGap. What matters is the order it gives: an application's
// services arrive shuffled, their replicas interleaved.
const (
	horizon     = 3600.0
	applySpread = 10.0
	replicaGap  = 0.5
)

// backgroundShapes are the background pods' CPU requests (milli); their
// memory is 2 MiB per milli-CPU, below the nodes' ratio so that CPU is
// what fills.
var backgroundShapes = []int64{250, 500, 1000, 2000}

// generate builds a seed's workload: instances copies of the application
// (namespaces <app>-1 …) whose Deployments are applied in the order
// given, and background deployments (1–6 replicas of one of
// backgroundShapes, the last one cut to fit) requesting the rest of
// fraction × capacity, backgroundFirst of them (by deployment) placed
// before the applications arrive and the others arriving at random
// moments among them.
func generate(g *graph, instances int, order Order, capacityMilli int64, fraction, backgroundFirst float64, seed int64) (*Workload, error) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x776f726b6c6f6164))
	w := &Workload{}
	app := g.app
	for inst := range instances {
		ns := fmt.Sprintf("%s-%d", app.Name, inst+1)
		apply := rng.Float64() * horizon
		services := rng.Perm(len(app.Services))
		switch order {
		case OrderCallersFirst:
			services = slices.Clone(g.order)
		case OrderCalleesFirst:
			services = slices.Clone(g.order)
			slices.Reverse(services)
		}
		for rank, s := range services {
			start := apply + rng.Float64()*applySpread
			if order != OrderShuffled {
				// One after the other: each ReplicaSet's pods are out
				// before the next Deployment is applied.
				start = apply + float64(rank)*applySpread
			}
			svc := &app.Services[s]
			w.add(rng, Deployment{Namespace: ns, Name: svc.Name, Instance: inst, Service: s, Replicas: svc.Replicas,
				CPUMilli: svc.CPUMilli, MemoryMiB: svc.MemoryMiB, TalksTo: g.talksTo(s)}, start)
			w.AppCPUMilli += int64(svc.Replicas) * svc.CPUMilli
		}
	}
	target := int64(fraction*float64(capacityMilli)) - w.AppCPUMilli
	if target < 0 {
		return nil, fmt.Errorf("the applications request %.1f CPUs, more than %.0f%% of the cluster's %.1f",
			float64(w.AppCPUMilli)/1000, 100*fraction, float64(capacityMilli)/1000)
	}
	for k := 0; w.BackgroundCPUMilli < target; k++ {
		cpu := backgroundShapes[rng.IntN(len(backgroundShapes))]
		replicas := 1 + rng.IntN(6)
		if left := target - w.BackgroundCPUMilli; int64(replicas)*cpu > left {
			// The last deployment takes what is left.
			replicas = int(left / cpu)
			if replicas == 0 {
				replicas, cpu = 1, left
			}
		}
		start := rng.Float64() * horizon
		if rng.Float64() < backgroundFirst {
			start -= horizon
		}
		w.add(rng, Deployment{Namespace: BackgroundNamespace, Name: fmt.Sprintf("tenant-%03d", k), Instance: -1, Service: -1,
			Replicas: replicas, CPUMilli: cpu, MemoryMiB: 2 * cpu}, start)
		w.BackgroundCPUMilli += int64(replicas) * cpu
	}
	slices.SortStableFunc(w.Arrivals, func(a, b Arrival) int { return cmp.Compare(a.At, b.At) })
	return w, nil
}

// add appends a deployment and its pods' arrivals from start on.
func (w *Workload) add(rng *rand.Rand, d Deployment, start float64) {
	at := start
	for r := range d.Replicas {
		w.Arrivals = append(w.Arrivals, Arrival{Deployment: len(w.Deployments), Replica: r, At: at})
		at += rng.ExpFloat64() * replicaGap
	}
	w.Deployments = append(w.Deployments, d)
}

// rsName is a deployment's ReplicaSet's name, as a Deployment would name
// it.
func (d *Deployment) rsName() string { return d.Name + "-7d9c5" }

// rsUID is the ReplicaSet's UID.
func (d *Deployment) rsUID() types.UID { return types.UID(d.Namespace + "/" + d.rsName()) }

// objects are what the plugins list through informers: the namespaces,
// and a ReplicaSet and a Service per deployment (PodTopologySpread's
// system default constraints spread the pods their selectors select).
func (w *Workload) objects() []runtime.Object {
	var out []runtime.Object
	seen := map[string]bool{}
	for i := range w.Deployments {
		d := &w.Deployments[i]
		if !seen[d.Namespace] {
			seen[d.Namespace] = true
			out = append(out, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: d.Namespace}})
		}
		sel := map[string]string{AppLabel: d.Name}
		out = append(out,
			&appsv1.ReplicaSet{
				ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: d.rsName(), UID: d.rsUID()},
				Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(int32(d.Replicas)), Selector: &metav1.LabelSelector{MatchLabels: sel},
					Template: v1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel}}},
			},
			&v1.Service{
				ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: d.Name},
				Spec:       v1.ServiceSpec{Selector: sel},
			})
	}
	return out
}

// pod is the pod of an arrival: simulate.PodObject's container with the
// deployment's requests, its app label and talks-to annotation, owned by
// its ReplicaSet.
func (w *Workload) pod(a Arrival, index int) *v1.Pod {
	d := &w.Deployments[a.Deployment]
	name := fmt.Sprintf("%s-%d", d.rsName(), a.Replica)
	p := simulate.PodObject(simulate.PodRecord{Name: name, CPUMilli: d.CPUMilli, MemoryMiB: d.MemoryMiB},
		types.UID(fmt.Sprintf("netsim-%06d", index)))
	p.Namespace = d.Namespace
	p.Spec.SchedulerName = ProfileName
	p.Labels = map[string]string{AppLabel: d.Name}
	if d.TalksTo != "" {
		p.Annotations = map[string]string{network.TalksToAnnotation: d.TalksTo}
	}
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: d.rsName(), UID: d.rsUID(), Controller: ptr.To(true)}}
	return p
}
