package simulate

import (
	"errors"
	"fmt"
	goruntime "runtime"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/placement/gpu"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
	"github.com/berthsched/berth/pkg/plugins/nodeaffinity"
	"github.com/berthsched/berth/pkg/plugins/nodename"
	"github.com/berthsched/berth/pkg/plugins/nodeports"
	"github.com/berthsched/berth/pkg/plugins/noderesources"
	"github.com/berthsched/berth/pkg/plugins/nodeunschedulable"
	"github.com/berthsched/berth/pkg/plugins/tainttoleration"
)

// WorkloadMode says where FGD learns the typical workload from.
type WorkloadMode string

const (
	// WorkloadOnline lets GPUShare learn the typical workload from the
	// pods as they arrive, as it does in a live cluster.
	WorkloadOnline WorkloadMode = "online"
	// WorkloadTrace seeds GPUShare's learner with every pod of the
	// original (untuned) trace before the first pod arrives, as the paper
	// computes its distribution from the whole trace, and freezes it
	// (gpu.Workload.Freeze): the arrivals do not change it.
	WorkloadTrace WorkloadMode = "trace"
)

// ProfileName is the schedulerName of the simulation's profile.
const ProfileName = "berth-simulate"

// FilterPlugins are the filters the simulation runs besides GPUShare:
// berth's default filters that decide anything for trace pods (cpu,
// memory, pod count and extended resources in NodeResourcesFit) or cost
// nothing when pods and nodes do not use them. The volume, topology,
// inter-pod and DRA plugins are left out: trace pods use none of those
// features, and they need informers a simulation has none of.
var FilterPlugins = []string{
	nodename.Name,
	nodeunschedulable.Name,
	tainttoleration.Name,
	nodeaffinity.Name,
	nodeports.Name,
	noderesources.Name,
}

// Options configure one simulated run.
type Options struct {
	// Trace is the cluster and the pods (DefaultTrace, LoadTraceDir …).
	Trace *Trace
	// Registry builds the plugins (plugins.NewInTreeRegistry()); it must
	// hold GPUShare and FilterPlugins.
	Registry framework.Registry
	// Policy is GPUShare's policy (gpu.PolicyNames, case-insensitive);
	// empty means FGD.
	Policy string
	// Seed seeds the arrival order, random tie-breaks (TieBreakRandom)
	// and the Random policy's draws.
	Seed int64
	// Tune scales the GPU demand to Tune × capacity (see Tune); <= 0
	// replays the trace as it is.
	Tune float64
	// Workload is where FGD's typical workload comes from; empty means
	// WorkloadOnline.
	Workload WorkloadMode
	// Window is GPUShare's workload window. 0 means the plugin's default
	// with WorkloadOnline, and with WorkloadTrace a window that holds the
	// whole trace (which is then frozen).
	Window int
	// Parallelism bounds the goroutines that filter and score nodes; <= 0
	// means GOMAXPROCS.
	Parallelism int
	// TieBreak says how the core chooses among nodes with the best score;
	// empty means TieBreakName, the paper's rule.
	TieBreak TieBreak
	// Progress, if set, is called after each pod with the pods done and
	// the total; it runs on the simulation's goroutine, so keep it cheap.
	Progress func(done, total int)
}

// complete validates o and fills the defaults.
func (o *Options) complete() error {
	if o.Trace == nil || len(o.Trace.Nodes) == 0 {
		return errors.New("simulate: no trace, or a trace without nodes")
	}
	if o.Registry == nil {
		return errors.New("simulate: no plugin registry")
	}
	if o.Policy == "" {
		o.Policy = gpu.FGD
	}
	p, err := gpu.PolicyByName(o.Policy)
	if err != nil {
		return err
	}
	o.Policy = p.Name()
	switch o.TieBreak {
	case "":
		o.TieBreak = TieBreakName
	case TieBreakRandom, TieBreakName:
	default:
		return fmt.Errorf("unknown tie-break %q; valid ones are %s and %s", o.TieBreak, TieBreakRandom, TieBreakName)
	}
	switch o.Workload {
	case "":
		o.Workload = WorkloadOnline
	case WorkloadOnline, WorkloadTrace:
	default:
		return fmt.Errorf("unknown workload mode %q; valid modes are %s and %s", o.Workload, WorkloadOnline, WorkloadTrace)
	}
	if o.Window < 0 || o.Window > gpushare.MaxWorkloadWindow {
		return fmt.Errorf("workload window %d is outside 0..%d", o.Window, gpushare.MaxWorkloadWindow)
	}
	if o.Parallelism <= 0 {
		o.Parallelism = goruntime.GOMAXPROCS(0)
	}
	return nil
}

// TieBreak says how the choice among equally scored best nodes is made.
type TieBreak string

const (
	// TieBreakRandom picks uniformly at random with the core's Rand
	// seeded from Options.Seed, as berth's scheduler does. Policies whose
	// integer scores often tie allocate less so than under TieBreakName
	// (up to 4 points on the openb default trace): the paper's rule packs
	// the pods a policy is indifferent about onto the same nodes.
	TieBreakRandom TieBreak = "random"
	// TieBreakName picks the node with the smallest name
	// (core.Request.TieBreakByName), as the paper's simulator does (its
	// vendored kube-scheduler's selectHost was changed so, "for
	// reproducibility"): the default, so that numbers compare with the
	// paper's.
	TieBreakName TieBreak = "name"
)
