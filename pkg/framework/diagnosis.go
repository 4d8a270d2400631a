package framework

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/sets"
)

// NoNodeAvailableMsg starts every "why is my pod pending" message.
const NoNodeAvailableMsg = "0/%v nodes are available"

// NodeToStatus holds per-node filter verdicts; nodes not listed share the
// absent status (for instance every node when PreFilter rejected the pod,
// or the nodes a PreFilterResult excluded).
type NodeToStatus struct {
	statuses map[string]*Status
	absent   *Status
}

var _ NodeToStatusReader = (*NodeToStatus)(nil)

// NewNodeToStatus returns a map whose unlisted nodes are
// UnschedulableAndUnresolvable (they were never evaluated).
func NewNodeToStatus() *NodeToStatus {
	return &NodeToStatus{statuses: map[string]*Status{}, absent: NewStatus(UnschedulableAndUnresolvable)}
}

// Set records a node's verdict.
func (m *NodeToStatus) Set(node string, st *Status) { m.statuses[node] = st }

// SetAbsent sets the verdict of nodes not listed.
func (m *NodeToStatus) SetAbsent(st *Status) { m.absent = st }

// Absent returns the verdict shared by the nodes not listed.
func (m *NodeToStatus) Absent() *Status { return m.absent }

// Get implements NodeToStatusReader.
func (m *NodeToStatus) Get(node string) *Status {
	if st, ok := m.statuses[node]; ok {
		return st
	}
	return m.absent
}

// Len is the number of explicitly listed nodes.
func (m *NodeToStatus) Len() int { return len(m.statuses) }

// Each calls fn for every listed node, in no particular order.
func (m *NodeToStatus) Each(fn func(node string, st *Status)) {
	for n, st := range m.statuses {
		fn(n, st)
	}
}

// NodesForStatusCode implements NodeToStatusReader.
func (m *NodeToStatus) NodesForStatusCode(lister NodeInfoLister, code Code) ([]*NodeInfo, error) {
	var out []*NodeInfo
	if m.absent.Code() == code {
		for _, ni := range lister.List() {
			if _, listed := m.statuses[ni.Node().Name]; !listed {
				out = append(out, ni)
			}
		}
	}
	for name, st := range m.statuses {
		if st.Code() != code {
			continue
		}
		ni, err := lister.Get(name)
		if err != nil {
			return nil, err
		}
		out = append(out, ni)
	}
	return out, nil
}

// PluginScore is one plugin's normalised, weighted score on a node.
type PluginScore struct {
	Name  string `json:"plugin"`
	Score int64  `json:"score"`
}

// NodePluginScores is a node's total score and its breakdown by plugin,
// in the profile's score-plugin order.
type NodePluginScores struct {
	Name       string        `json:"node"`
	TotalScore int64         `json:"total"`
	Scores     []PluginScore `json:"plugins,omitempty"`
}

// Diagnosis is the structured record of one evaluation of a pod: which
// plugin rejected it on which node and why, and how the best feasible nodes
// ranked. The FailedScheduling message is rendered from it (Message), and
// so are explain's answers, so the two can never disagree.
type Diagnosis struct {
	// NumAllNodes is the size of the snapshot the pod was evaluated on.
	NumAllNodes int
	// NodeToStatus holds the first rejection of every evaluated node that
	// failed; unevaluated nodes share its absent status.
	NodeToStatus *NodeToStatus
	// UnschedulablePlugins are the plugins that rejected the pod on some
	// node; only their events requeue it.
	UnschedulablePlugins sets.Set[string]
	// PreFilterMsg is set when PreFilter rejected the pod for every node.
	PreFilterMsg string
	// PostFilterMsg is what PostFilter (preemption) reported.
	PostFilterMsg string
	// Details are the rejecting plugins' own explanations
	// (FailureExplainer), e.g. the claim no node can satisfy.
	Details []string
	// TopNodes are the best feasible nodes with each plugin's weighted
	// score, best first; only as many as the evaluation asked for.
	TopNodes []NodePluginScores
}

// NewDiagnosis returns an empty diagnosis over numAllNodes nodes.
func NewDiagnosis(numAllNodes int) *Diagnosis {
	return &Diagnosis{NumAllNodes: numAllNodes, NodeToStatus: NewNodeToStatus(), UnschedulablePlugins: sets.New[string]()}
}

// ReasonCount is how many nodes one plugin rejected with one reason.
type ReasonCount struct {
	Plugin string `json:"plugin"`
	Reason string `json:"reason"`
	Code   Code   `json:"-"`
	Nodes  int    `json:"nodes"`
}

// ReasonCounts counts rejected nodes per (plugin, reason), nodes that were
// never listed included (they share the absent status). A node whose status
// has several reasons counts once under each. The result is sorted by
// descending count, then plugin, then reason, so it reads as "the biggest
// obstacle first".
func (d *Diagnosis) ReasonCounts() []ReasonCount {
	type key struct {
		plugin, reason string
		code           Code
	}
	counts := map[key]int{}
	add := func(st *Status, n int) {
		for _, r := range st.Reasons() {
			counts[key{st.Plugin(), r, st.Code()}] += n
		}
	}
	if d.NodeToStatus != nil {
		d.NodeToStatus.Each(func(_ string, st *Status) { add(st, 1) })
		if absent := d.NumAllNodes - d.NodeToStatus.Len(); absent > 0 && d.PreFilterMsg == "" {
			add(d.NodeToStatus.Absent(), absent)
		}
	}
	if d.PreFilterMsg != "" && d.NodeToStatus != nil {
		st := d.NodeToStatus.Absent()
		counts[key{st.Plugin(), d.PreFilterMsg, st.Code()}] = d.NumAllNodes
	}
	out := make([]ReasonCount, 0, len(counts))
	for k, n := range counts {
		out = append(out, ReasonCount{Plugin: k.plugin, Reason: k.reason, Code: k.code, Nodes: n})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Nodes != b.Nodes {
			return a.Nodes > b.Nodes
		}
		if a.Plugin != b.Plugin {
			return a.Plugin < b.Plugin
		}
		return a.Reason < b.Reason
	})
	return out
}

// Message renders the FailedScheduling message: the per-reason histogram
// sorted as strings (as kube-scheduler does), e.g. "0/5 nodes are
// available: 3 Insufficient cpu, 2 node(s) were unschedulable.", then the
// plugins' details and what preemption said.
func (d *Diagnosis) Message() string {
	msg := fmt.Sprintf(NoNodeAvailableMsg+":", d.NumAllNodes)
	if d.PreFilterMsg != "" {
		msg += " " + d.PreFilterMsg + "."
	} else if d.NodeToStatus != nil {
		counts := map[string]int{}
		d.NodeToStatus.Each(func(_ string, st *Status) {
			for _, r := range st.Reasons() {
				counts[r]++
			}
		})
		if absent := d.NumAllNodes - d.NodeToStatus.Len(); absent > 0 {
			for _, r := range d.NodeToStatus.Absent().Reasons() {
				counts[r] += absent
			}
		}
		parts := make([]string, 0, len(counts))
		for r, n := range counts {
			parts = append(parts, fmt.Sprintf("%d %s", n, r))
		}
		sort.Strings(parts)
		if len(parts) > 0 {
			msg += " " + strings.Join(parts, ", ") + "."
		}
	}
	for _, det := range d.Details {
		msg += " " + det
		if !strings.HasSuffix(det, ".") {
			msg += "."
		}
	}
	if d.PostFilterMsg != "" {
		msg += " " + d.PostFilterMsg
	}
	return msg
}
