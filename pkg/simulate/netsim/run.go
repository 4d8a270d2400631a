package netsim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	goruntime "runtime"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/scheduler/cache"
	"github.com/berthsched/berth/pkg/scheduler/core"
)

// Size names a preset of Options.
type Size string

// The presets.
const (
	// SizeSmall runs in a few seconds: what `go test` runs.
	SizeSmall Size = "small"
	// SizeFull is the evaluation in docs/network-aware-evaluation.md.
	SizeFull Size = "full"
)

// Defaults of Options.
const (
	DefaultRequestFraction = 0.65
	DefaultBackgroundFirst = 0.5
	DefaultSeed            = 1
)

// Options configure a run of every policy on the same workloads.
type Options struct {
	// App is the application (SocialNetwork when it has no service).
	App App
	// Instances is how many copies of the application run, each in a
	// namespace of its own.
	Instances int
	// Order is the order an instance's Deployments are applied in
	// (OrderShuffled when empty).
	Order Order
	// Cluster is the cluster's shape.
	Cluster Cluster
	// RequestFraction is the CPU the applications and the background
	// request together, over the cluster's (DefaultRequestFraction when
	// 0): the rest is spare.
	RequestFraction float64
	// BackgroundFirst is the fraction of the background deployments
	// placed before the applications arrive (DefaultBackgroundFirst when
	// 0; negative for none); the others arrive among them.
	BackgroundFirst float64
	// Routing is how calls choose a pod of the callee (RoutingRandom
	// when empty).
	Routing Routing
	// Requests is the number of requests sent through the placed
	// applications per seed.
	Requests int
	// Seed is the first seed; Seeds how many consecutive seeds are run
	// (1 when 0). A seed draws the workload (order of arrival,
	// background), the core's tie-breaks and the requests; every policy
	// sees the same draws.
	Seed  int64
	Seeds int
	// Policies are the policies to compare (DefaultPolicies when empty).
	Policies []Policy
	// Registry builds the plugins (plugins.NewInTreeRegistry()): berth's
	// default profile's and NetworkAware.
	Registry framework.Registry
	// Parallelism bounds the runs (policy × seed) done at once; <= 0
	// means GOMAXPROCS. Results do not depend on it.
	Parallelism int
	// Progress, if set, is called after each run with the runs done and
	// the total. Calls are serialised.
	Progress func(done, total int)
}

// SizeOptions returns the preset's options (to which the caller adds a
// Registry).
func SizeOptions(s Size) (Options, error) {
	switch s {
	case SizeSmall:
		return Options{Instances: 1, Cluster: Cluster{Zones: 3, RacksPerZone: 2, NodesPerRack: 2, NodeCPUMilli: 8000, NodeMemoryMiB: 32 << 10},
			Requests: 5000, Seed: DefaultSeed, Seeds: 1}, nil
	case SizeFull:
		return Options{Instances: 8, Cluster: Cluster{Zones: 3, RacksPerZone: 3, NodesPerRack: 4, NodeCPUMilli: 16000, NodeMemoryMiB: 64 << 10},
			Requests: 20000, Seed: DefaultSeed, Seeds: 10}, nil
	}
	return Options{}, fmt.Errorf("unknown size %q; valid sizes are %s and %s", s, SizeSmall, SizeFull)
}

// complete validates o and fills its defaults.
func (o *Options) complete() error {
	if len(o.App.Services) == 0 {
		o.App = SocialNetwork()
	}
	c := o.Cluster
	switch {
	case o.Instances < 1:
		return errors.New("netsim: at least one application instance")
	case c.Zones < 1 || c.Zones > 26 || c.RacksPerZone < 1 || c.NodesPerRack < 1:
		return errors.New("netsim: the cluster needs 1 to 26 zones and at least one rack per zone and one node per rack")
	case c.NodeCPUMilli <= 0 || c.NodeMemoryMiB <= 0:
		return errors.New("netsim: node capacity must be positive")
	case o.Requests < 1:
		return errors.New("netsim: at least one request")
	case o.Registry == nil:
		return errors.New("netsim: no plugin registry")
	}
	if o.Order == "" {
		o.Order = OrderShuffled
	}
	if !slices.Contains(Orders, o.Order) {
		return fmt.Errorf("netsim: unknown order %q; valid orders are %s, %s and %s", o.Order, Orders[0], Orders[1], Orders[2])
	}
	if o.Routing == "" {
		o.Routing = RoutingRandom
	}
	if !slices.Contains(Routings, o.Routing) {
		return fmt.Errorf("netsim: unknown routing %q; valid routings are %s and %s", o.Routing, Routings[0], Routings[1])
	}
	if o.RequestFraction == 0 {
		o.RequestFraction = DefaultRequestFraction
	}
	if !(o.RequestFraction > 0 && o.RequestFraction <= 1) {
		return errors.New("netsim: the request fraction must be in (0, 1]")
	}
	if o.BackgroundFirst == 0 {
		o.BackgroundFirst = DefaultBackgroundFirst
	}
	o.BackgroundFirst = min(max(o.BackgroundFirst, 0), 1)
	if o.Seeds <= 0 {
		o.Seeds = 1
	}
	if len(o.Policies) == 0 {
		o.Policies = DefaultPolicies()
	}
	if o.Parallelism <= 0 {
		o.Parallelism = goruntime.GOMAXPROCS(0)
	}
	return nil
}

// Report is the outcome of a run: the setup, and one Result per policy in
// the order of Options.Policies.
type Report struct {
	App       App     `json:"app"`
	Instances int     `json:"instances"`
	Order     Order   `json:"order"`
	Routing   Routing `json:"routing"`
	Cluster   Cluster `json:"cluster"`
	// RequestFraction and BackgroundFirst are as run.
	RequestFraction float64 `json:"requestFraction"`
	BackgroundFirst float64 `json:"backgroundFirst"`
	Requests        int     `json:"requests"`
	Seed            int64   `json:"seed"`
	Seeds           int     `json:"seeds"`
	// Pods, AppPods and RequestedCPU are per seed on average: arrivals,
	// those of the applications, and the CPU they request over the
	// cluster's.
	Pods         float64 `json:"pods"`
	AppPods      int     `json:"appPods"`
	RequestedCPU float64 `json:"requestedCPU"`
	// CallsPerRequest is the call graph's expected calls per request.
	CallsPerRequest float64   `json:"callsPerRequest"`
	Results         []*Result `json:"results"`
}

// Result returns the named policy's result, or nil.
func (r *Report) Result(policy string) *Result {
	for _, res := range r.Results {
		if res.Policy.Name == policy {
			return res
		}
	}
	return nil
}

// Result is one policy's outcome over every seed.
type Result struct {
	Policy Policy `json:"policy"`
	// Config is the policy's configuration file.
	Config string `json:"config"`
	// Metrics pools every seed's placements and requests.
	Metrics
	// SeedMeans are the mean cross-zone hops per request of each seed.
	SeedMeans []float64 `json:"seedMeans"`
	// Wall is the time its runs took together.
	Wall time.Duration `json:"wall"`
}

// Run runs every policy on every seed's workload: the pods arrive one
// at a time and each is placed by core.Evaluate with the policy's profile
// on a snapshot that holds the pods placed before it; then the requests
// go through the placed applications.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.complete(); err != nil {
		return nil, err
	}
	g, err := newGraph(&o.App)
	if err != nil {
		return nil, fmt.Errorf("netsim: application %s: %w", o.App.Name, err)
	}
	// The plugins' logs say what a live scheduler would (CRDs not
	// served), noise here.
	ctx = klog.NewContext(ctx, klog.Logger{})
	capacity := int64(o.Cluster.Nodes()) * o.Cluster.NodeCPUMilli
	rep := &Report{App: o.App, Instances: o.Instances, Order: o.Order, Routing: o.Routing, Cluster: o.Cluster, RequestFraction: o.RequestFraction,
		BackgroundFirst: o.BackgroundFirst, Requests: o.Requests, Seed: o.Seed, Seeds: o.Seeds,
		CallsPerRequest: g.callsPerRequest(), Results: make([]*Result, len(o.Policies))}
	workloads := make([]*Workload, o.Seeds)
	for s := range workloads {
		w, err := generate(g, o.Instances, o.Order, capacity, o.RequestFraction, o.BackgroundFirst, o.Seed+int64(s))
		if err != nil {
			return nil, fmt.Errorf("netsim: %w", err)
		}
		workloads[s] = w
		rep.Pods += float64(len(w.Arrivals)) / float64(o.Seeds)
		rep.RequestedCPU += float64(w.AppCPUMilli+w.BackgroundCPUMilli) / float64(capacity) / float64(o.Seeds)
	}
	for _, s := range o.App.Services {
		rep.AppPods += o.Instances * s.Replicas
	}

	runs := make([][]*outcome, len(o.Policies))
	for i := range runs {
		runs[i] = make([]*outcome, o.Seeds)
	}
	var mu sync.Mutex
	done, total := 0, len(o.Policies)*o.Seeds
	eg, gctx := errgroup.WithContext(ctx)
	eg.SetLimit(o.Parallelism)
	for i, p := range o.Policies {
		for s, w := range workloads {
			eg.Go(func() error {
				out, err := runOne(gctx, &o, g, w, p, o.Seed+int64(s))
				if err != nil {
					return fmt.Errorf("policy %s, seed %d: %w", p.Name, o.Seed+int64(s), err)
				}
				mu.Lock()
				defer mu.Unlock()
				runs[i][s] = out
				if done++; o.Progress != nil {
					o.Progress(done, total)
				}
				return nil
			})
		}
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	for i, p := range o.Policies {
		res := &Result{Policy: p, Config: p.Config()}
		for _, out := range runs[i] {
			res.Metrics.add(&out.Metrics)
			res.SeedMeans = append(res.SeedMeans, out.MeanCrossZoneHops())
			res.Wall += out.wall
		}
		rep.Results[i] = res
	}
	return rep, nil
}

// outcome is one policy's run on one seed.
type outcome struct {
	Metrics
	wall time.Duration
}

// runOne places a seed's workload under a policy and sends the requests.
func runOne(ctx context.Context, o *Options, g *graph, w *Workload, p Policy, seed int64) (*outcome, error) {
	start := time.Now()
	nodes, locs := o.Cluster.build()
	snap := cache.NewSnapshot(nil, nodes)
	h := st.NewHandle(snap, w.objects()...)
	ctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); h.Informers.Shutdown() }()
	prof, err := buildProfile(ctx, o.Registry, h, p)
	if err != nil {
		return nil, err
	}
	if err := h.SyncInformers(ctx); err != nil {
		return nil, err
	}
	byName := make(map[string]int, len(locs))
	for i, n := range locs {
		byName[n.name] = i
	}
	pl := newPlacement(o, g, locs)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x636f7265))
	for i, a := range w.Arrivals {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pod := w.pod(a, i)
		res, err := core.Evaluate(ctx, core.Request{Pod: pod, State: framework.NewCycleState(), Profile: prof, Snapshot: snap,
			Rand: rng, EvaluateAllNodes: true, Parallelism: 1})
		if fit := (*core.FitError)(nil); errors.As(err, &fit) {
			pl.failed++
			continue
		} else if err != nil {
			return nil, err
		}
		pod.Spec.NodeName = res.SuggestedHost
		if err := snap.AddPodForWhatIf(pod); err != nil {
			return nil, err
		}
		pl.place(&w.Deployments[a.Deployment], byName[res.SuggestedHost])
	}
	out := &outcome{}
	pl.measure(&out.Metrics, o.Requests, seed)
	out.wall = time.Since(start)
	return out, nil
}
