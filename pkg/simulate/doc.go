// Package simulate replays a GPU cluster trace through berth's own
// plugins and scheduling core, in process and without an API server, so
// that GPU placement policies can be compared like for like and against
// published numbers.
//
// It reproduces the protocol of the FGD paper (Weng et al., "Beware of
// Fragmentation: Scheduling GPU-Sharing Workloads with Fragmentation
// Gradient Descent", USENIX ATC '23) on its openb trace (the default is
// embedded, see openb/README.md):
//
//  1. every node row becomes a node and every pod row a pod, under
//     GPUShare's contract (whole cards as nvidia.com/gpu, a share of a
//     card as the berth.io/gpu-milli annotation, allowed models as
//     berth.io/gpu-model; see NodeObject and PodObject);
//  2. the pods arrive in the paper's order: sorted by name, shuffled with
//     a seeded math/rand source, then tuned to a multiple of the
//     cluster's GPU capacity with clones of random pods (Arrivals, Tune);
//  3. they are scheduled one at a time and never leave; a pod that fits
//     nowhere fails and the run goes on; after every pod the arrived and
//     the allocated GPU are recorded (Point);
//  4. the curve of allocation against arrived demand is aggregated as the
//     paper's analysis does (Curve); the headline number is the GPU
//     allocation at 100% arrived demand.
//
// Each pod goes through core.Evaluate on every node with a profile built
// by profile.New from the injected registry: berth's default filters that
// apply (FilterPlugins) and GPUShare, which is also the only scorer, with
// the policy under test. Ties between the best nodes go to the smallest
// node name, as in the paper's simulator, or (TieBreakRandom) to a node
// drawn by the core's seeded random source, as in berth's scheduler.
// GPUShare's Reserve then picks the cards,
// and the pod, carrying the assignment annotation PreBind would write,
// is added to the snapshot's NodeInfo with a new generation; nothing else
// in the snapshot is rebuilt, which is what makes a 10,000-pod run on
// 1,213 nodes take seconds.
//
// The package only computes: the `berth simulate` command (cmd/berth/app)
// loads traces, reports progress and writes the results (WriteCSV,
// WriteSVG).
package simulate
