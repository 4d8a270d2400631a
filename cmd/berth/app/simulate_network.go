package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/berthsched/berth/pkg/plugins"
	"github.com/berthsched/berth/pkg/simulate/netsim"
)

type simulateNetworkOptions struct {
	size        string
	instances   int
	requests    int
	seed        int64
	seeds       int
	order       string
	routing     string
	requested   float64
	policies    string
	out         string
	parallelism int
}

// Bounds of the flags: beyond them a run takes minutes or says nothing
// more.
const (
	maxNetworkInstances = 100
	maxNetworkRequests  = 1000000
	maxNetworkSeeds     = 100
)

func newSimulateNetworkCommand() *cobra.Command {
	o := &simulateNetworkOptions{}
	cmd := &cobra.Command{
		Use:   "network",
		Short: "Simulate microservices on a cluster of zones and count the calls that cross zones, with and without NetworkAware",
		Long: `Simulate, in process and with no API server, copies of a microservice
application shaped like DeathStarBench's social network (21 services, 40 pods,
each declaring its callees in berth.io/talks-to) deployed with background
tenants onto a cluster of three zones of racks, and place the same arrivals
under each policy through berth's filters, scorers and scheduling core:
berth's default profile (kube-scheduler's default plugins and weights) and the
same with NetworkAware. Requests then enter at a random front-end pod and
traverse the call graph, each call reaching a random pod of the callee (as a
Service picks), and every call is classed by how far it went.

For each policy it prints the pods placed and failed (the same packing), the
calls per request, the mean cross-zone hops per request (with the change
against the default profile and the range of the seeds' means), their p95, the
fractions of calls that crossed zones and stayed on a node, the multi-replica
services confined to one zone, and the fullest zone's requested CPU.

--size small is what the tests run (one application on 12 nodes, one seed);
--size full is the evaluation in docs/network-aware-evaluation.md (eight
applications on 36 nodes, ten seeds). --order changes the order in which an
application's Deployments are applied, --routing how calls choose a pod.
--out writes results.json (the table's data, the application and each
policy's configuration).`,
		Example: `  berth simulate network                        # the small size, every policy
  berth simulate network --size full --out results/
  berth simulate network --size full --order callees-first --routing prefer-zone`,
		Args: cobra.NoArgs,
		RunE: o.run,
	}
	f := cmd.Flags()
	f.StringVar(&o.size, "size", string(netsim.SizeSmall), "preset: small (what the tests run) or full (the documented evaluation)")
	f.IntVar(&o.instances, "instances", 0, "copies of the application (default: the size's)")
	f.IntVar(&o.requests, "requests", 0, "requests per seed (default: the size's)")
	f.Int64Var(&o.seed, "seed", netsim.DefaultSeed, "the first seed: it draws the arrivals, the background, the tie-breaks and the requests")
	f.IntVar(&o.seeds, "seeds", 0, "how many consecutive seeds to run and pool (default: the size's)")
	f.StringVar(&o.order, "order", string(netsim.OrderShuffled), "order of an application's Deployments: "+joinNames(netsim.Orders))
	f.StringVar(&o.routing, "routing", string(netsim.RoutingRandom), "how a call chooses a pod of the callee: "+joinNames(netsim.Routings))
	f.Float64Var(&o.requested, "request-fraction", netsim.DefaultRequestFraction, "the CPU the applications and the background request, as a fraction of the cluster's")
	f.StringVar(&o.policies, "policy", "all", "comma-separated policies ("+strings.Join(netsim.PolicyNames(), ", ")+") or all")
	f.StringVar(&o.out, "out", "", "directory to write results.json to")
	f.IntVar(&o.parallelism, "parallelism", 0, "runs (policy × seed) simulated at once (default: GOMAXPROCS)")
	return cmd
}

// run reads the flags and runs the simulation until it ends or is
// interrupted.
func (o *simulateNetworkOptions) run(cmd *cobra.Command, _ []string) error {
	no, err := o.options(cmd)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	return runSimulateNetwork(ctx, no, o.out, cmd.OutOrStdout(), cmd.ErrOrStderr())
}

// joinNames lists names, comma-separated.
func joinNames[T ~string](names []T) string {
	s := make([]string, len(names))
	for i, n := range names {
		s[i] = string(n)
	}
	return strings.Join(s, ", ")
}

// options turns the flags into netsim.Options: the size's preset, then
// the flags the user set.
func (o *simulateNetworkOptions) options(cmd *cobra.Command) (netsim.Options, error) {
	no, err := netsim.SizeOptions(netsim.Size(o.size))
	if err != nil {
		return no, fmt.Errorf("--size: %w", err)
	}
	if o.parallelism < 0 {
		return no, fmt.Errorf("--parallelism %d is negative", o.parallelism)
	}
	f := cmd.Flags()
	for _, c := range []struct {
		flag     string
		value    int
		max      int
		into     *int
		positive string
	}{
		{"instances", o.instances, maxNetworkInstances, &no.Instances, "copies"},
		{"requests", o.requests, maxNetworkRequests, &no.Requests, "requests"},
		{"seeds", o.seeds, maxNetworkSeeds, &no.Seeds, "seeds"},
	} {
		if !f.Changed(c.flag) {
			continue
		}
		if c.value < 1 || c.value > c.max {
			return no, fmt.Errorf("--%s %d is outside 1..%d", c.flag, c.value, c.max)
		}
		*c.into = c.value
	}
	if !(o.requested > 0 && o.requested <= 1) {
		return no, fmt.Errorf("--request-fraction %g is outside (0, 1]", o.requested)
	}
	// "all", or nothing, is every policy.
	var names []string
	if !strings.EqualFold(strings.TrimSpace(o.policies), "all") {
		names = strings.FieldsFunc(o.policies, func(r rune) bool { return r == ',' })
	}
	if no.Policies, err = netsim.PoliciesByName(names); err != nil {
		return no, fmt.Errorf("--policy: %w", err)
	}
	no.Order, no.Routing = netsim.Order(o.order), netsim.Routing(o.routing)
	if !slices.Contains(netsim.Orders, no.Order) {
		return no, fmt.Errorf("--order %q: valid orders are %s", o.order, joinNames(netsim.Orders))
	}
	if !slices.Contains(netsim.Routings, no.Routing) {
		return no, fmt.Errorf("--routing %q: valid routings are %s", o.routing, joinNames(netsim.Routings))
	}
	no.RequestFraction, no.Seed, no.Parallelism = o.requested, o.seed, o.parallelism
	no.Registry = plugins.NewInTreeRegistry()
	return no, nil
}

// runSimulateNetwork runs the simulation, prints the table on stdout
// and, with out, writes results.json there (the simulation takes
// seconds, so the directory is made at the end).
func runSimulateNetwork(ctx context.Context, o netsim.Options, out string, stdout, stderr io.Writer) error {
	c := o.Cluster
	fmt.Fprintf(stderr, "Cluster: %d zones × %d racks × %d nodes (%g CPU each); %d × social network; order %s, routing %s; %d requests × %d seeds from seed %d\n",
		c.Zones, c.RacksPerZone, c.NodesPerRack, float64(c.NodeCPUMilli)/1000, o.Instances, o.Order, o.Routing, o.Requests, max(o.Seeds, 1), o.Seed)
	start := time.Now()
	rep, err := netsim.Run(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%.0f pods per seed (%d of the applications), %.0f%% of the CPU requested; %.2f calls per request expected; simulated in %s\n",
		rep.Pods, rep.AppPods, 100*rep.RequestedCPU, rep.CallsPerRequest, time.Since(start).Round(100*time.Millisecond))
	if err := netsim.WriteTable(stdout, rep); err != nil {
		return err
	}
	if out == "" {
		return nil
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	path := filepath.Join(out, "results.json")
	if err := writeFile(path, func(w io.Writer) error { return netsim.WriteJSON(w, rep) }); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "Wrote %s\n", path)
	return nil
}
