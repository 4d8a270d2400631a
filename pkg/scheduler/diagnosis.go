package scheduler

import (
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/berthsched/berth/pkg/framework"
)

// NoNodeAvailableMsg starts every "why is my pod pending" message.
const NoNodeAvailableMsg = "0/%v nodes are available"

// NodeToStatus holds per-node filter verdicts; nodes not listed share
// absent (for instance every node when PreFilter rejected the pod).
type NodeToStatus struct {
	statuses map[string]*framework.Status
	absent   *framework.Status
}

var _ framework.NodeToStatusReader = (*NodeToStatus)(nil)

// NewNodeToStatus returns a map whose unlisted nodes are
// UnschedulableAndUnresolvable (they were never evaluated).
func NewNodeToStatus() *NodeToStatus {
	return &NodeToStatus{statuses: map[string]*framework.Status{}, absent: framework.NewStatus(framework.UnschedulableAndUnresolvable)}
}

// Set records a node's verdict.
func (m *NodeToStatus) Set(node string, st *framework.Status) { m.statuses[node] = st }

// SetAbsent sets the verdict of nodes not listed.
func (m *NodeToStatus) SetAbsent(st *framework.Status) { m.absent = st }

// Get implements framework.NodeToStatusReader.
func (m *NodeToStatus) Get(node string) *framework.Status {
	if st, ok := m.statuses[node]; ok {
		return st
	}
	return m.absent
}

// Len is the number of explicitly listed nodes.
func (m *NodeToStatus) Len() int { return len(m.statuses) }

// NodesForStatusCode implements framework.NodeToStatusReader.
func (m *NodeToStatus) NodesForStatusCode(lister framework.NodeInfoLister, code framework.Code) ([]*framework.NodeInfo, error) {
	var out []*framework.NodeInfo
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

// Diagnosis explains why a pod did not fit.
type Diagnosis struct {
	NodeToStatus *NodeToStatus
	// UnschedulablePlugins are the plugins that rejected the pod on some
	// node; only their events requeue it.
	UnschedulablePlugins sets.Set[string]
	// PreFilterMsg is set when PreFilter rejected the pod for every node.
	PreFilterMsg string
	// PostFilterMsg is what PostFilter (preemption) reported.
	PostFilterMsg string
	// Details are the rejecting plugins' own explanations
	// (framework.FailureExplainer), e.g. the claim no node can satisfy.
	Details []string
}

// FitError is the error of a pod that fits no node.
type FitError struct {
	Pod         *v1.Pod
	NumAllNodes int
	Diagnosis   Diagnosis
}

// Error renders the per-reason histogram, sorted, e.g.
// "0/5 nodes are available: 3 Insufficient cpu, 2 node(s) were unschedulable."
func (f *FitError) Error() string {
	msg := fmt.Sprintf(NoNodeAvailableMsg+":", f.NumAllNodes)
	if f.Diagnosis.PreFilterMsg != "" {
		msg += " " + f.Diagnosis.PreFilterMsg + "."
	} else {
		counts := map[string]int{}
		for _, st := range f.Diagnosis.NodeToStatus.statuses {
			for _, r := range st.Reasons() {
				counts[r]++
			}
		}
		if absent := f.NumAllNodes - f.Diagnosis.NodeToStatus.Len(); absent > 0 {
			for _, r := range f.Diagnosis.NodeToStatus.absent.Reasons() {
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
	for _, d := range f.Diagnosis.Details {
		msg += " " + d
		if !strings.HasSuffix(d, ".") {
			msg += "."
		}
	}
	if f.Diagnosis.PostFilterMsg != "" {
		msg += " " + f.Diagnosis.PostFilterMsg
	}
	return msg
}
