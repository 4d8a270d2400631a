package explain

// APIVersion and Kind identify the Explanation schema in JSON and YAML
// output, so tools can tell which fields to expect; fields are only added
// within a version, never renamed or removed.
const (
	APIVersion = "explain.berth.io/v1alpha1"
	Kind       = "Explanation"
)

// Cause names what a Suggestion addresses, so tools can filter suggestions
// without parsing their messages.
type Cause string

// The causes a suggestion can address.
const (
	CauseResources      Cause = "resources"
	CausePreemption     Cause = "preemption"
	CauseTaints         Cause = "taints"
	CauseNodeAffinity   Cause = "nodeAffinity"
	CauseTopologySpread Cause = "topologySpread"
	CausePodAffinity    Cause = "podAffinity"
	CauseVolumes        Cause = "volumes"
	CauseDevices        Cause = "devices"
	CauseGPU            Cause = "gpu"
	CauseUnschedulable  Cause = "nodeUnschedulable"
	CausePorts          Cause = "ports"
)

// Explanation is the answer for one pod: how the scheduler sees it on the
// current cluster state, and what would change the outcome.
type Explanation struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Pod is the pod explained.
	Pod PodSummary `json:"pod"`
	// Profile is the scheduler profile (schedulerName) that evaluated it.
	Profile string `json:"profile"`
	// Nodes is the number of nodes in the snapshot; every one was
	// evaluated (no sampling).
	Nodes int `json:"nodes"`
	// FeasibleNodes is how many nodes passed every filter.
	FeasibleNodes int `json:"feasibleNodes"`
	// Schedulable is FeasibleNodes > 0.
	Schedulable bool `json:"schedulable"`
	// ChosenNode is the node berth would bind the pod to now.
	ChosenNode string `json:"chosenNode,omitempty"`
	// Message is the FailedScheduling message berth would record for an
	// unschedulable pod (the same text as its event and condition).
	Message string `json:"message,omitempty"`
	// Rejections groups the rejected nodes by the plugin and reason of
	// their first rejection, biggest group first.
	Rejections []Rejection `json:"rejections,omitempty"`
	// TopNodes are the best feasible nodes, best first, with each score
	// plugin's weighted contribution.
	TopNodes []ScoredNode `json:"topNodes,omitempty"`
	// Suggestions are the changes that would make an unschedulable pod
	// fit (Verified) or that point at the obstacle (hints), most useful
	// first.
	Suggestions []Suggestion `json:"suggestions,omitempty"`
	// Details are the rejecting plugins' own explanations (for instance
	// which claim no node can provide).
	Details []string `json:"details,omitempty"`
	// Trace is every Filter plugin's verdict on the node asked for with
	// --node.
	Trace *NodeTrace `json:"trace,omitempty"`
	// Group is the gang the pod belongs to, evaluated whole: a member
	// that fits alone still waits when its group does not.
	Group *GroupSummary `json:"group,omitempty"`
}

// GroupSummary is a gang as the scheduler would place it now: its
// pending members one after the other, each seeing the room the previous
// ones took.
type GroupSummary struct {
	// Name is "<namespace>/<name>" and API the group's API group.
	Name string `json:"name"`
	API  string `json:"api"`
	// MinMember is the group's minimum; Scheduled the members already
	// bound or binding; Pending the members waiting.
	MinMember int `json:"minMember"`
	Scheduled int `json:"scheduled"`
	Pending   int `json:"pending"`
	// Fit is how many pending members would fit together.
	Fit int `json:"fit"`
	// Schedulable: Scheduled + Fit reaches MinMember.
	Schedulable bool `json:"schedulable"`
	// TopologyKey, if set, confines the group to one domain of that node
	// label (not simulated here; the scheduler tries each domain).
	TopologyKey string `json:"topologyKey,omitempty"`
	// Members are the pending members in the order they are placed.
	Members []GroupMemberSummary `json:"members,omitempty"`
	// Problem is why the group cannot be evaluated (its object is
	// missing, say).
	Problem string `json:"problem,omitempty"`
}

// GroupMemberSummary is one pending member's outcome in the group
// evaluation.
type GroupMemberSummary struct {
	Name string `json:"name"`
	// Node is where it would go; empty when it fits nowhere (Reason says
	// why).
	Node   string `json:"node,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// PodSummary identifies the pod and the fields that decide how it is
// scheduled and whether it may preempt.
type PodSummary struct {
	Namespace        string `json:"namespace"`
	Name             string `json:"name"`
	SchedulerName    string `json:"schedulerName"`
	Priority         int32  `json:"priority"`
	PreemptionPolicy string `json:"preemptionPolicy"`
	// NodeName is set when the pod is already bound; it is evaluated as
	// if it were not.
	NodeName string `json:"nodeName,omitempty"`
	// NominatedNodeName is the node preemption reserved for it, if any.
	NominatedNodeName string `json:"nominatedNodeName,omitempty"`
	// Requests is what the pod takes from a node (containers, init
	// containers and overhead combined), by resource name.
	Requests map[string]string `json:"requests,omitempty"`
}

// Rejection is one (plugin, reason) and the nodes it rejected.
type Rejection struct {
	Plugin string `json:"plugin"`
	Reason string `json:"reason"`
	// Code is Unschedulable (preemption or a cluster change may help) or
	// UnschedulableAndUnresolvable (preemption cannot help on that node).
	Code string `json:"code"`
	// Count is the number of nodes.
	Count int `json:"count"`
	// Nodes lists up to Options.MaxNodes of them, sorted by name.
	Nodes []string `json:"nodes"`
}

// ScoredNode is a feasible node's total score and its breakdown.
type ScoredNode struct {
	Node    string        `json:"node"`
	Total   int64         `json:"total"`
	Chosen  bool          `json:"chosen,omitempty"`
	Plugins []PluginScore `json:"plugins,omitempty"`
	// Notes say what scores rest on beyond the pod and the node, per
	// plugin (e.g. LoadAware's measured load, or why it fell back to
	// requests).
	Notes []string `json:"notes,omitempty"`
}

// PluginScore is one score plugin's normalised, weighted score.
type PluginScore struct {
	Plugin string `json:"plugin"`
	Score  int64  `json:"score"`
}

// Suggestion is one change that would let the pod fit, or a hint at what
// blocks it.
type Suggestion struct {
	Cause Cause `json:"cause"`
	// Verified is true when the change was tried on the snapshot (the
	// pod or node changed, the same PreFilter and Filter plugins run) and
	// the pod then fits on FitNodes nodes. False marks a hint: counts and
	// facts that point at the obstacle but were not tried.
	Verified bool `json:"verified"`
	// Message says it in one sentence.
	Message string `json:"message"`
	// Change is the change itself, in the terms of the pod spec or the
	// cluster (e.g. "add toleration dedicated=infra:NoSchedule").
	Change string `json:"change,omitempty"`
	// FitNodes is the number of nodes the pod would fit on after the
	// change (verified suggestions only).
	FitNodes int `json:"fitNodes,omitempty"`
	// Nodes lists up to Options.MaxNodes of the nodes concerned.
	Nodes []string `json:"nodes,omitempty"`
	// Shortfall is what the node lacks for the pod (resources), by
	// resource name.
	Shortfall map[string]string `json:"shortfall,omitempty"`
	// Victims are the pods preemption would evict (most important
	// first).
	Victims []Victim `json:"victims,omitempty"`
}

// Victim is a pod that would be preempted.
type Victim struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Priority  int32  `json:"priority"`
	// ViolatesPDB is true when evicting it (after the victims before it)
	// exceeds a PodDisruptionBudget's allowed disruptions.
	ViolatesPDB bool `json:"violatesPDB,omitempty"`
}

// NodeTrace is every Filter plugin's verdict on one node, in filter order,
// not stopping at the first rejection.
type NodeTrace struct {
	Node string `json:"node"`
	// Feasible is whether every filter passed.
	Feasible bool `json:"feasible"`
	// Note explains an empty trace (e.g. PreFilter rejected the pod
	// before any node was filtered).
	Note    string          `json:"note,omitempty"`
	Plugins []PluginVerdict `json:"plugins,omitempty"`
	// Skipped are the Filter plugins that PreFilter found nothing to
	// check for (e.g. NodeAffinity for a pod without node affinity); they
	// pass on every node.
	Skipped []string `json:"skipped,omitempty"`
}

// PluginVerdict is one Filter plugin's status on the traced node.
type PluginVerdict struct {
	Plugin string `json:"plugin"`
	// Code is Success, Unschedulable, UnschedulableAndUnresolvable or
	// Error.
	Code    string   `json:"code"`
	Reasons []string `json:"reasons,omitempty"`
}
