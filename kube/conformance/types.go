package conformance

import (
	"context"
	"regexp"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Cluster is the state both schedulers see: nodes, the pods bound to them
// and the storage API objects (PersistentVolumes, PersistentVolumeClaims,
// StorageClasses, CSINodes, CSIDrivers, CSIStorageCapacities and
// VolumeAttachments) that the storage plugins read through informers.
type Cluster struct {
	Nodes []*v1.Node
	Pods  []*v1.Pod
	// Objects are the storage objects, in the typed v1 API structs.
	Objects []runtime.Object
}

// Case is one generated cluster and the pending pods to evaluate on it.
type Case struct {
	Seed    uint64
	Cluster *Cluster
	Pending []*v1.Pod
}

// Verdict is a status reduced to what the comparison looks at: the code's
// name and the reasons as a sorted set.
type Verdict struct {
	Code    string   `json:"code"`
	Reasons []string `json:"reasons,omitempty"`
}

func newVerdict(code string, reasons []string) Verdict {
	rs := slices.Clone(reasons)
	slices.Sort(rs)
	rs = slices.Compact(rs)
	return Verdict{Code: code, Reasons: rs}
}

// Equal compares code and reasons. Error verdicts compare by code only: the
// text of an internal error is not part of the contract.
func (v Verdict) Equal(o Verdict) bool {
	if v.Code != o.Code {
		return false
	}
	if v.Code == "Error" {
		return true
	}
	return slices.Equal(v.Reasons, o.Reasons)
}

// driverMissing matches NodeVolumeLimits' reason for a CSI driver that
// must be, and is not, installed on the node.
var driverMissing = regexp.MustCompile(`^\S+ CSI driver is not installed on the node$`)

// equalFor is Equal with the leeway that plugin's upstream behaviour needs.
// NodeVolumeLimits names the first driver missing from the node while
// ranging over a map, so a pod with volumes of two missing drivers gets
// either name from kube-scheduler itself: any "driver is not installed"
// reason matches another.
func (v Verdict) equalFor(plugin string, o Verdict) bool {
	if v.Equal(o) {
		return true
	}
	if plugin == "NodeVolumeLimits" && v.Code == "Unschedulable" && o.Code == v.Code &&
		len(v.Reasons) == 1 && len(o.Reasons) == 1 && driverMissing.MatchString(v.Reasons[0]) && driverMissing.MatchString(o.Reasons[0]) {
		return true
	}
	return false
}

// Rejected reports whether the verdict rejects the pod.
func (v Verdict) Rejected() bool {
	return v.Code == "Unschedulable" || v.Code == "UnschedulableAndUnresolvable" || v.Code == "Error" || v.Code == "Panic"
}

func (v Verdict) String() string {
	if len(v.Reasons) == 0 {
		return v.Code
	}
	return v.Code + ": " + strings.Join(v.Reasons, "; ")
}

var success = Verdict{Code: "Success"}

// FilterResult is one plugin's PreFilter and Filter outcome for one pod.
type FilterResult struct {
	// PreFilter is the PreFilter verdict; Skip is kept as Skip here and
	// treated like Success when comparing (both mean "Filter decides").
	PreFilter Verdict
	// Narrowed lists the nodes PreFilter's result kept, sorted; nil keeps all.
	Narrowed []string
	// Nodes is the effective verdict for each node, as the framework would
	// record it: the PreFilter rejection for every node, Success for every
	// node when PreFilter skipped, the framework's rejection for nodes
	// outside Narrowed, and otherwise Filter's verdict.
	Nodes map[string]Verdict
}

// ScoreResult is one plugin's normalised scores over the feasible nodes.
// A skipped plugin scores every node 0 (its score is left out of the sum).
type ScoreResult struct {
	PreScore Verdict
	// Failure is the first non-success of Score or NormalizeScore.
	Failure Verdict
	Scores  map[string]int64
}

// side is one scheduler's plugins loaded over one cluster.
type side interface {
	// Implements reports which of the compared extension points the named
	// plugin has on this side; ok is false if the plugin is not loaded.
	Implements(name string) (filter, score, ok bool)
	// Filter runs PreFilter then Filter over every node.
	Filter(name string, pod *v1.Pod) FilterResult
	// Score runs PreScore, Score and NormalizeScore over nodes.
	Score(name string, pod *v1.Pod, nodes []string) ScoreResult
}

// loaded is a side with its plugins loaded over one cluster.
type loaded interface {
	side
	// nodeNames lists the cluster's nodes, sorted.
	nodeNames() []string
	// reset forgets the cycle states before the next pod.
	reset()
	// close stops the informers.
	close()
}

// loader loads one scheduler's plugins over a cluster.
type loader interface {
	load(ctx context.Context, c *Cluster, names []string) (loaded, error)
}

// effective turns a PreFilter verdict, narrowed node set and per-node
// filter function into the per-node verdicts the framework would record.
func effective(plugin string, nodes []string, pre Verdict, narrowed []string, filter func(string) Verdict) map[string]Verdict {
	out := make(map[string]Verdict, len(nodes))
	var keep map[string]bool
	if narrowed != nil {
		keep = make(map[string]bool, len(narrowed))
		for _, n := range narrowed {
			keep[n] = true
		}
	}
	for _, n := range nodes {
		switch {
		case pre.Code == "Skip":
			out[n] = success
		case pre.Code != "Success":
			out[n] = pre
		case keep != nil && !keep[n]:
			out[n] = Verdict{Code: "UnschedulableAndUnresolvable", Reasons: []string{"node(s) didn't satisfy plugin " + plugin}}
		default:
			out[n] = filter(n)
		}
	}
	return out
}
