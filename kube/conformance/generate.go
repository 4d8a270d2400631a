package conformance

import (
	"fmt"
	"math/rand/v2"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// GenOptions bounds the size of generated cases.
type GenOptions struct {
	MaxNodes     int // nodes per cluster, at least 1
	MaxBoundPods int // pods bound per node
	Pending      int // pending pods per case
	// Storage is the chance that a case has a storage scenario (see
	// addStorage); 0 generates none.
	Storage float64
	// DRA is the chance that a case has a dynamic resource allocation
	// scenario (see addDRA); 0 generates none.
	DRA float64
	// DRAExtendedResources is the chance that a DRA scenario also has
	// extended resources backed by DRA; 0 generates none.
	DRAExtendedResources float64
	// Features is the chance that a case has a node-features scenario
	// (see addFeatures); 0 generates none.
	Features float64
}

// DefaultGenOptions keeps a case small enough to read and large enough for
// spreading and normalisation to matter.
var DefaultGenOptions = GenOptions{MaxNodes: 8, MaxBoundPods: 5, Pending: 10, Storage: 0.75, DRA: 0.5, DRAExtendedResources: 0.25, Features: 0.5}

// Generate returns the case for seed: a cluster and pending pods. The same
// seed always gives the same case.
func Generate(seed uint64, opts GenOptions) *Case {
	g := &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	c := &Case{Seed: seed, Cluster: &Cluster{}}
	g.images = g.imagePool()
	n := 1 + g.r.IntN(opts.MaxNodes)
	for i := range n {
		c.Cluster.Nodes = append(c.Cluster.Nodes, g.node(i))
	}
	g.nodes = c.Cluster.Nodes
	for _, node := range c.Cluster.Nodes {
		for range g.r.IntN(opts.MaxBoundPods + 1) {
			c.Cluster.Pods = append(c.Cluster.Pods, g.boundPod(node))
		}
	}
	for range opts.Pending {
		c.Pending = append(c.Pending, g.pendingPod())
	}
	// Storage comes last, from its own random stream: the nodes and pods
	// above are the same with or without it.
	addStorage(c, g, opts.Storage)
	// DRA too, from a stream of its own: it adds claims to some of the pods above.
	addDRA(c, g, opts.DRA, opts.DRAExtendedResources)
	// Node features last, from a stream of their own, so that they change
	// nothing the other generators draw and see every volume.
	addFeatures(c, g, opts.Features)
	return c
}

type gen struct {
	r      *rand.Rand
	nodes  []*v1.Node
	images []image
	seq    int
}

type image struct {
	name string // as pods reference it
	size int64
}

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

func pick[T any](g *gen, xs ...T) T { return xs[g.r.IntN(len(xs))] }

func (g *gen) uid() types.UID {
	g.seq++
	return types.UID(fmt.Sprintf("uid-%d", g.seq))
}

// Label keys and values come from small pools so that selectors, affinities
// and spread constraints match some nodes and pods and miss others.
const (
	zoneKey     = "topology.kubernetes.io/zone"
	regionKey   = "topology.kubernetes.io/region"
	hostnameKey = "kubernetes.io/hostname"
	gpuName     = "example.com/gpu"
	fpgaName    = "example.com/fpga"
	hugepages   = "hugepages-2Mi"
)

var (
	zones       = []string{"zone-a", "zone-b", "zone-c"}
	nodeKeys    = []string{zoneKey, regionKey, hostnameKey, "disk", "tier", "gen", "example.com/pool", "k0", "k1", "absent"}
	taintKeys   = []string{"dedicated", "gpu", "spot", "node.kubernetes.io/unschedulable", "node-role.kubernetes.io/control-plane", "example.com/maintenance"}
	taintValues = []string{"", "true", "a", "b"}
	effects     = []v1.TaintEffect{v1.TaintEffectNoSchedule, v1.TaintEffectPreferNoSchedule, v1.TaintEffectNoExecute}
	podKeys     = []string{"app", "tier", "k0", "k1"}
	namespaces  = []struct {
		name   string
		labels map[string]string
	}{
		{"default", map[string]string{"kubernetes.io/metadata.name": "default"}},
		{"team-a", map[string]string{"kubernetes.io/metadata.name": "team-a", "team": "a", "env": "prod", draAdminLabel: "true"}},
		{"team-b", map[string]string{"kubernetes.io/metadata.name": "team-b", "team": "b", "env": "dev"}},
	}
)

// nodeLabelValues returns plausible values for a node label key.
func (g *gen) nodeLabelValue(key string, i int) string {
	switch key {
	case zoneKey:
		return pick(g, zones...)
	case regionKey:
		return pick(g, "r1", "r2")
	case hostnameKey:
		if g.chance(0.1) {
			return fmt.Sprintf("host-%d", i)
		}
		return fmt.Sprintf("node-%d", i)
	case "disk":
		return pick(g, "ssd", "hdd")
	case "tier":
		return pick(g, "frontend", "backend")
	case "gen":
		// Mostly integers for Gt/Lt, sometimes not (no match), sometimes
		// with a leading zero.
		return pick(g, "1", "2", "3", "4", "5", "6", "07", "x1")
	case "example.com/pool":
		return pick(g, "a", "b")
	default:
		return pick(g, "v0", "v1", "v2")
	}
}

func (g *gen) imagePool() []image {
	names := []string{"nginx:1.25", "nginx", "registry.example/app:v1", "registry.example/app:v2", "busybox:1.36", "docker.io/library/redis:7", "registry.example/big:latest", "gcr.io/proj/ml@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
	sizes := []int64{5 << 20, 30 << 20, 120 << 20, 400 << 20, 900 << 20, 1500 << 20, 3000 << 20}
	out := make([]image, len(names))
	for i, n := range names {
		out[i] = image{name: n, size: pick(g, sizes...)}
	}
	return out
}

func qty(s string) resource.Quantity { return resource.MustParse(s) }

func milli(m int64) resource.Quantity { return *resource.NewMilliQuantity(m, resource.DecimalSI) }

func mebi(m int64) resource.Quantity { return *resource.NewQuantity(m<<20, resource.BinarySI) }

func count(n int64) resource.Quantity { return *resource.NewQuantity(n, resource.DecimalSI) }

func (g *gen) node(i int) *v1.Node {
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%d", i), UID: g.uid(), Labels: map[string]string{}}}
	// The usual well-known labels, each sometimes missing.
	for _, k := range []string{hostnameKey, zoneKey, regionKey} {
		if g.chance(0.9) {
			n.Labels[k] = g.nodeLabelValue(k, i)
		}
	}
	for range g.r.IntN(4) {
		k := pick(g, nodeKeys[3:len(nodeKeys)-1]...)
		n.Labels[k] = g.nodeLabelValue(k, i)
	}

	alloc := v1.ResourceList{
		v1.ResourceCPU:    milli(pick[int64](g, 500, 2000, 3500, 4000, 8000, 8000, 16000)),
		v1.ResourceMemory: mebi(pick[int64](g, 512, 4096, 8192, 8192, 16384, 32768)),
		v1.ResourcePods:   count(pick[int64](g, 2, 8, 110, 110, 110)),
	}
	if g.chance(0.8) {
		alloc[v1.ResourceEphemeralStorage] = mebi(pick[int64](g, 1024, 10240, 51200))
	}
	if g.chance(0.4) {
		alloc[gpuName] = count(int64(g.r.IntN(5)))
	}
	if g.chance(0.1) {
		alloc[fpgaName] = count(int64(1 + g.r.IntN(2)))
	}
	if g.chance(0.15) {
		alloc[hugepages] = mebi(2 * int64(g.r.IntN(512)))
	}
	capacity := v1.ResourceList{}
	for _, k := range sortedKeys(alloc) {
		c := alloc[k].DeepCopy()
		if k == v1.ResourceCPU && g.chance(0.5) {
			c.Add(milli(100))
		}
		if k == v1.ResourceMemory && g.chance(0.5) {
			c.Add(mebi(256))
		}
		capacity[k] = c
	}
	n.Status.Capacity, n.Status.Allocatable = capacity, alloc

	// Taints unique by (key, effect), as validation requires.
	seen := map[string]bool{}
	for range max(0, g.r.IntN(5)-2) {
		t := v1.Taint{Key: pick(g, taintKeys...), Value: pick(g, taintValues...), Effect: pick(g, effects...)}
		if seen[t.Key+string(t.Effect)] {
			continue
		}
		seen[t.Key+string(t.Effect)] = true
		if t.Effect == v1.TaintEffectNoExecute && g.chance(0.5) {
			now := metav1.Unix(1700000000, 0)
			t.TimeAdded = &now
		}
		n.Spec.Taints = append(n.Spec.Taints, t)
	}
	if g.chance(0.15) {
		n.Spec.Unschedulable = true
		// The node controller adds this taint to cordoned nodes; sometimes
		// the snapshot is taken before it does.
		if g.chance(0.6) && !seen["node.kubernetes.io/unschedulable"+string(v1.TaintEffectNoSchedule)] {
			n.Spec.Taints = append(n.Spec.Taints, v1.Taint{Key: "node.kubernetes.io/unschedulable", Effect: v1.TaintEffectNoSchedule})
		}
	}

	for _, im := range g.images {
		if !g.chance(0.35) {
			continue
		}
		names := []string{im.name}
		if g.chance(0.3) {
			names = append(names, "alias.example/"+fmt.Sprint(g.r.IntN(100))+":v")
		}
		n.Status.Images = append(n.Status.Images, v1.ContainerImage{Names: names, SizeBytes: im.size})
	}
	return n
}
