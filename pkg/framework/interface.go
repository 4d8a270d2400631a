package framework

import (
	"context"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
)

// MaxNodeScore is the top of the range every ScorePlugin must return after
// normalisation; MinNodeScore the bottom.
const (
	MaxNodeScore int64 = 100
	MinNodeScore int64 = 0
)

// Plugin is what every plugin is.
type Plugin interface {
	Name() string
}

// PreEnqueuePlugin gates a pod before it enters the active queue. A non-nil
// status keeps the pod out of scheduling (in the unschedulable pool) until an
// event the plugin registered for arrives.
type PreEnqueuePlugin interface {
	Plugin
	PreEnqueue(ctx context.Context, pod *v1.Pod) *Status
}

// QueueSortPlugin orders the active queue. Exactly one is enabled per
// scheduler (all profiles must agree).
type QueueSortPlugin interface {
	Plugin
	Less(a, b *QueuedPodInfo) bool
}

// PreFilterPlugin runs once per scheduling attempt before Filter. It may
// precompute state, narrow the candidate nodes (PreFilterResult) or reject
// the pod outright. Returning Skip disables the plugin's Filter for the pod.
type PreFilterPlugin interface {
	Plugin
	PreFilter(ctx context.Context, state *CycleState, pod *v1.Pod, nodes []*NodeInfo) (*PreFilterResult, *Status)
	// PreFilterExtensions returns nil when the plugin has no incremental
	// state to update when preemption simulates adding or removing pods.
	PreFilterExtensions() PreFilterExtensions
}

// PreFilterExtensions keep a PreFilter plugin's cycle state right when
// preemption (or nominated-pod accounting) evaluates a node with pods
// added or removed.
type PreFilterExtensions interface {
	AddPod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podInfoToAdd *PodInfo, nodeInfo *NodeInfo) *Status
	RemovePod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podInfoToRemove *PodInfo, nodeInfo *NodeInfo) *Status
}

// FilterPlugin decides whether the pod can run on one node. It is called
// concurrently for different nodes and must only read shared state.
type FilterPlugin interface {
	Plugin
	Filter(ctx context.Context, state *CycleState, pod *v1.Pod, nodeInfo *NodeInfo) *Status
}

// PostFilterPlugin runs when no node passed Filter. Preemption is one. A
// success status with a nominated node means the pod may fit there later.
type PostFilterPlugin interface {
	Plugin
	PostFilter(ctx context.Context, state *CycleState, pod *v1.Pod, statuses NodeToStatusReader) (*PostFilterResult, *Status)
}

// PreScorePlugin runs once before Score with the feasible nodes. Skip
// disables the plugin's Score for the pod.
type PreScorePlugin interface {
	Plugin
	PreScore(ctx context.Context, state *CycleState, pod *v1.Pod, nodes []*NodeInfo) *Status
}

// ScorePlugin ranks feasible nodes. Score is called concurrently.
type ScorePlugin interface {
	Plugin
	Score(ctx context.Context, state *CycleState, pod *v1.Pod, nodeInfo *NodeInfo) (int64, *Status)
	// ScoreExtensions returns nil when the raw scores are already in
	// [MinNodeScore, MaxNodeScore].
	ScoreExtensions() ScoreExtensions
}

// ScoreExtensions maps raw scores into [MinNodeScore, MaxNodeScore].
type ScoreExtensions interface {
	NormalizeScore(ctx context.Context, state *CycleState, pod *v1.Pod, scores NodeScoreList) *Status
}

// ReservePlugin is told when a pod is assumed on a node (Reserve) and when
// that decision is undone (Unreserve). Unreserve must be idempotent and must
// not fail.
type ReservePlugin interface {
	Plugin
	Reserve(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status
	Unreserve(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string)
}

// PermitPlugin may approve, reject or delay (Wait with a timeout) the
// binding of a reserved pod. A waiting pod is allowed or rejected through
// Handle.GetWaitingPod.
type PermitPlugin interface {
	Plugin
	Permit(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) (*Status, time.Duration)
}

// PreBindPlugin does work that must precede the binding (provision volumes,
// write annotations). It runs in the binding cycle, off the scheduling loop.
type PreBindPlugin interface {
	Plugin
	PreBind(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status
}

// BindPlugin binds the pod. The first bind plugin that does not return Skip
// owns the binding.
type BindPlugin interface {
	Plugin
	Bind(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status
}

// PostBindPlugin is informed of a successful bind (cleanup only).
type PostBindPlugin interface {
	Plugin
	PostBind(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string)
}

// EnqueueExtensions is implemented by plugins that can reject pods: it says
// which cluster events may make a rejected pod schedulable again, so the
// queue moves only the pods an event can help.
type EnqueueExtensions interface {
	Plugin
	EventsToRegister(ctx context.Context) ([]ClusterEventWithHint, error)
}

// PreFilterResult narrows the nodes to evaluate; nil NodeNames means all.
type PreFilterResult struct {
	NodeNames sets.Set[string]
}

// AllNodes reports whether the result does not restrict the nodes.
func (r *PreFilterResult) AllNodes() bool { return r == nil || r.NodeNames == nil }

// Merge intersects two results.
func (r *PreFilterResult) Merge(o *PreFilterResult) *PreFilterResult {
	if r.AllNodes() && o.AllNodes() {
		return nil
	}
	if r.AllNodes() {
		return &PreFilterResult{NodeNames: o.NodeNames.Clone()}
	}
	if o.AllNodes() {
		return &PreFilterResult{NodeNames: r.NodeNames.Clone()}
	}
	return &PreFilterResult{NodeNames: r.NodeNames.Intersection(o.NodeNames)}
}

// PostFilterResult carries the node a PostFilter nominated for the pod.
type PostFilterResult struct {
	NominatedNodeName string
}

// NodeScore is one node's score.
type NodeScore struct {
	Name  string
	Score int64
}

// NodeScoreList is a plugin's scores over the feasible nodes, in the same
// order as the nodes it was given.
type NodeScoreList []NodeScore

// NodeToStatusReader gives PostFilter plugins the per-node filter verdicts.
// Nodes not listed explicitly share AbsentNodesStatus (e.g. all nodes when
// PreFilter rejected the pod, or nodes a PreFilterResult excluded).
type NodeToStatusReader interface {
	Get(nodeName string) *Status
	// NodesForStatusCode lists the nodes whose verdict has the code.
	NodesForStatusCode(lister NodeInfoLister, code Code) ([]*NodeInfo, error)
}

// NodeInfoLister reads the snapshot.
type NodeInfoLister interface {
	// List returns every node in the snapshot.
	List() []*NodeInfo
	// HavePodsWithAffinityList returns the nodes with pods that have any pod
	// (anti-)affinity.
	HavePodsWithAffinityList() []*NodeInfo
	// HavePodsWithRequiredAntiAffinityList returns the nodes with pods that
	// have required pod anti-affinity.
	HavePodsWithRequiredAntiAffinityList() []*NodeInfo
	// Get returns one node's info or an error when it is not in the snapshot.
	Get(nodeName string) (*NodeInfo, error)
}

// SharedLister is the snapshot as plugins see it.
type SharedLister interface {
	NodeInfos() NodeInfoLister
}

// WaitingPod is a pod held at Permit.
type WaitingPod interface {
	GetPod() *v1.Pod
	// Allow lets the named plugin's wait end successfully; the pod binds
	// when every waiting plugin has allowed it.
	Allow(pluginName string)
	// Reject fails the pod's permit with a message.
	Reject(pluginName, msg string)
}

// Handle is what the engine gives every plugin at construction. It is kept
// small on purpose: read the snapshot, talk to the API, subscribe to
// informers, emit events, and reach pods waiting at Permit. Abilities that
// only some engines have (preemption, a queue to activate pods in) are
// accessors that return nil where they are absent, never wider interfaces
// to find by type assertion: explain and simulations build the same
// plugins with fewer abilities.
type Handle interface {
	// SnapshotSharedLister returns the current cycle's snapshot. Plugins
	// must read cluster state from here, never from informers, so one cycle
	// sees one consistent state.
	SnapshotSharedLister() SharedLister
	// ClientSet is for API writes in PreBind/Bind/PostFilter only.
	ClientSet() kubernetes.Interface
	// SharedInformerFactory lets a plugin register informers it needs
	// (they are started and synced before scheduling begins).
	SharedInformerFactory() informers.SharedInformerFactory
	// DynamicInformerFactory lets a plugin read custom resources (the
	// ones it declared as EventSources, say); nil where the engine has no
	// dynamic client. Informers registered on it are started and synced
	// before scheduling begins.
	DynamicInformerFactory() dynamicinformer.DynamicSharedInformerFactory
	// EventRecorder records events on pods for this profile.
	EventRecorder() events.EventRecorder
	// GetWaitingPod returns a pod waiting at Permit, or nil.
	GetWaitingPod(uid string) WaitingPod
	// Preemption returns what a preemption plugin needs (nominated pods,
	// the profile's filter runner, where to report), or nil where the
	// engine evaluates pods without side effects (explain, simulations).
	// The profile is complete only after every plugin was built, so call
	// it when preempting, not in the plugin's factory.
	Preemption() Preemption
	// PodActivator moves queued pods to the active queue (say, the rest
	// of a gang once its last member arrived), or is nil where there is
	// no queue.
	PodActivator() PodActivator
}

// PodActivator moves pods that wait in the queue's unschedulable pool or
// backoff to the active queue at once.
type PodActivator interface {
	// Activate activates the pods (keyed by namespace/name) that are
	// queued; pods not in the queue are ignored.
	Activate(logger klog.Logger, pods map[string]*v1.Pod)
}

// PluginFactory builds a plugin from its args (nil for defaults, otherwise
// the plugin's typed args, e.g. *configv1.NodeResourcesFitArgs) and the
// profile's Handle. Factories are listed explicitly in the registry that
// main builds; there is no init-time registration.
type PluginFactory func(ctx context.Context, args runtime.Object, h Handle) (Plugin, error)

// ArgsSpec tells the config loader how to handle a plugin's pluginConfig
// args: which Go type to decode them into, how to default them and how to
// validate them (reporting every problem with its field path).
type ArgsSpec struct {
	New      func() runtime.Object
	Default  func(args runtime.Object)
	Validate func(args runtime.Object, path *field.Path) field.ErrorList
}

// Registration is one entry of a plugin registry: the factory and, for
// plugins that take args, their spec.
type Registration struct {
	Factory PluginFactory
	Args    *ArgsSpec
}

// Registry maps plugin names to registrations. main builds it explicitly
// from the in-tree plugins plus any out-of-tree ones.
type Registry map[string]Registration

// NodeLocalPlugin is implemented by Filter and Score plugins whose verdict
// and raw (pre-normalisation) score for a node depend only on the pod's
// scheduling-relevant spec, the plugin's args and that node's NodeInfo —
// nothing about other nodes or other pods elsewhere. The engine may then
// reuse a node's verdict and raw score for the next pod with the same
// scheduling signature until the node's NodeInfo.Generation changes, which
// is what makes bursts of identical pods cheap. A plugin that is not sure
// must not implement it (or return false).
type NodeLocalPlugin interface {
	Plugin
	NodeLocal() bool
}

// SignatureContributor is implemented by plugins that read parts of a pod
// the engine's equivalence signature does not cover (an annotation or a
// label of their own, say). The engine adds each plugin's fragment to the
// pod's signature, so two pods that differ in such a part never share a
// memoised verdict or score. A NodeLocalPlugin that reads anything beyond
// the pod's spec, labels and namespace must implement it.
type SignatureContributor interface {
	Plugin
	// SignatureFragment returns what of the pod the plugin reads beyond
	// the engine's signature, in any stable encoding; "" for nothing.
	SignatureFragment(pod *v1.Pod) string
}

// SyncedPlugin is implemented by plugins that keep state fed by their own
// informer event handlers (DynamicResources' claim and slice trackers,
// NodeResourcesFit's DRA-backed resource names). An informer factory's
// WaitForCacheSync covers the informers' stores, not their handlers, so
// whoever builds a profile waits for HasSynced before the first pod is
// evaluated: berth run before it schedules, explain before it answers.
type SyncedPlugin interface {
	Plugin
	// HasSynced reports whether the plugin's state has seen its
	// informers' initial lists.
	HasSynced() bool
}

// FailureExplainer is implemented by Filter plugins that can say more
// about why a pod fits nowhere than their per-node reasons do, e.g. which
// of the pod's claims no node can satisfy. When the pod fits no node and
// the plugin rejected it somewhere, the engine appends the explanation to
// the failure message (the PodScheduled condition and the event), so
// "why is my pod pending?" names the object to fix.
type FailureExplainer interface {
	Plugin
	ExplainFailure(state *CycleState, pod *v1.Pod) string
}

// ScoreExplainer is implemented by Score plugins whose score rests on
// data the pod and the node do not show (measured load, say): explain
// asks it, for each of the top nodes, what the score was based on, so
// "why did my pod land there?" has an answer beyond a number.
type ScoreExplainer interface {
	Plugin
	// ExplainScore describes the basis of the node's score for the pod;
	// state is the pod's cycle state after scoring (may be nil).
	ExplainScore(state *CycleState, pod *v1.Pod, nodeInfo *NodeInfo) string
}
