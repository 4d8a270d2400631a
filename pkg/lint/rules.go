package lint

import "sort"

// Severity says how sure a rule is that a finding keeps pods from running
// as intended; the exit code of `berth lint` follows the worst one.
type Severity string

// The severities, from worst to mildest.
const (
	// Error: the API server rejects the object, or its pods can never be
	// scheduled as written.
	Error Severity = "error"
	// Warning: the spec is accepted and may schedule, but some part of it
	// does nothing or probably does not do what its author meant.
	Warning Severity = "warning"
	// Info: a fact worth knowing (a toleration no node needs, a spread
	// that can never bind); never a reason to fail a build by default.
	Info Severity = "info"
)

// rank orders severities so that the worst has the highest rank.
func (s Severity) rank() int {
	switch s {
	case Error:
		return 3
	case Warning:
		return 2
	case Info:
		return 1
	}
	return 0
}

// AtLeast reports whether s is as bad as min or worse, which is how
// --fail-on and the webhook's deny mode compare.
func (s Severity) AtLeast(min Severity) bool { return s.rank() >= min.rank() }

// ParseSeverity reads a severity name as flags spell it.
func ParseSeverity(s string) (Severity, bool) {
	switch Severity(s) {
	case Error, Warning, Info:
		return Severity(s), true
	}
	return "", false
}

// Rule describes one check. IDs are stable: BL, then three digits whose
// tens group the topic (00 node affinity, 10 tolerations, 20 topology,
// 30 resources and placement, 40 gangs, 50 GPUs, 60 DRA, 70 storage,
// 80 scheduler and priority, 90 API versions and decoding). An ID is never
// reused for a different check, so disable lists and code-scanning
// history stay valid across releases.
type Rule struct {
	// ID is the stable identifier (BL001).
	ID string `json:"id"`
	// Name is a short kebab-case name for people (node-selector-operator).
	Name string `json:"name"`
	// Severity is the rule's usual severity; a finding may be milder when
	// the rule is less sure (offline rather than against a cluster).
	Severity Severity `json:"severity"`
	// Summary says what the rule finds, in one sentence.
	Summary string `json:"summary"`
	// Help says why it matters and how to fix it in general.
	Help string `json:"help"`
	// NeedsCluster is true for rules that only speak with --cluster (or
	// in the webhook), because they compare against live objects.
	NeedsCluster bool `json:"needsCluster,omitempty"`
}

// The rule IDs. Code refers to rules by these constants so that a typo is
// a compile error, not a silently unknown rule.
const (
	RuleNodeSelectorOperator    = "BL001"
	RuleNodeSelectorValues      = "BL002"
	RuleNodeSelectorGtLt        = "BL003"
	RuleNodeSelectorTermEmpty   = "BL004"
	RuleLabelSelector           = "BL005"
	RuleTolerationEffect        = "BL010"
	RuleTolerationOperator      = "BL011"
	RuleTolerationUnused        = "BL012"
	RuleTopologyKeyMissing      = "BL020"
	RuleTopologyKeySuspicious   = "BL021"
	RuleSpreadNoSelector        = "BL022"
	RuleSpreadSelectorMismatch  = "BL023"
	RuleSpreadInvalid           = "BL024"
	RuleSpreadSkewIneffective   = "BL025"
	RuleRequestsExceedLimits    = "BL030"
	RuleRequestExceedsNodes     = "BL031"
	RuleNodeAffinityNoNode      = "BL032"
	RuleAntiAffinityReplicas    = "BL033"
	RuleGangMinMember           = "BL040"
	RuleGangGroupMissing        = "BL041"
	RuleGPURequestInvalid       = "BL050"
	RuleGPUUnsatisfiable        = "BL051"
	RuleDRADeviceClassMissing   = "BL060"
	RuleDRACountUnsatisfiable   = "BL061"
	RuleStorageTopologyConflict = "BL070"
	RuleSchedulerNameUnknown    = "BL080"
	RulePriorityClassMissing    = "BL081"
	RuleFieldUnsupported        = "BL090"
	RuleUnknownField            = "BL098"
	RuleUndecodable             = "BL099"
)

var rules = []Rule{
	{ID: RuleNodeSelectorOperator, Name: "node-selector-operator", Severity: Error,
		Summary: "A node affinity requirement uses an operator Kubernetes does not know, or a matchFields requirement uses a key or operator it does not support.",
		Help:    "The API server rejects the object. Node affinity operators are In, NotIn, Exists, DoesNotExist, Gt and Lt (case-sensitive); matchFields supports only key metadata.name with In or NotIn."},
	{ID: RuleNodeSelectorValues, Name: "node-selector-values", Severity: Error,
		Summary: "A node affinity requirement has values its operator forbids, or lacks values it needs.",
		Help:    "The API server rejects the object. In and NotIn need at least one value; Exists and DoesNotExist take none; a matchFields requirement takes exactly one."},
	{ID: RuleNodeSelectorGtLt, Name: "node-selector-gt-lt", Severity: Error,
		Summary: "A Gt or Lt node affinity requirement does not have exactly one integer value.",
		Help:    "With more or fewer than one value the API server rejects the object. With one value that is not an integer it accepts it, but the scheduler cannot compare node labels with it and the term matches no node: the pods stay pending."},
	{ID: RuleNodeSelectorTermEmpty, Name: "node-selector-term-empty", Severity: Warning,
		Summary: "A node selector term has neither matchExpressions nor matchFields.",
		Help:    "An empty term matches no node (it is not a wildcard). If it is the only required term the pods never schedule. Remove the term or give it a requirement."},
	{ID: RuleLabelSelector, Name: "label-selector", Severity: Error,
		Summary: "A pod (anti-)affinity or topology spread label selector has an unknown operator or values its operator forbids.",
		Help:    "The API server rejects the object. Label selector operators are In, NotIn, Exists and DoesNotExist; In and NotIn need values, Exists and DoesNotExist take none."},
	{ID: RuleTolerationEffect, Name: "toleration-effect", Severity: Error,
		Summary: "A toleration's effect is not NoSchedule, PreferNoSchedule or NoExecute, or tolerationSeconds is set without NoExecute.",
		Help:    "The API server rejects the object. Effects are case-sensitive; leave the effect empty to tolerate every effect."},
	{ID: RuleTolerationOperator, Name: "toleration-operator", Severity: Error,
		Summary: "A toleration's operator is misspelt, Exists is given a value, or an empty key is used without Exists.",
		Help:    "The API server rejects the object. Operators are Equal (the default) and Exists; Exists matches any value, so it takes none; an empty key with Exists tolerates every taint. Gt and Lt need the TaintTolerationComparisonOperators feature gate and an integer value."},
	{ID: RuleTolerationUnused, Name: "toleration-unused", Severity: Info, NeedsCluster: true,
		Summary: "A toleration matches no taint on any node of the cluster.",
		Help:    "It does nothing today. That may be intended (nodes yet to come); otherwise it is a typo in the key, value or effect of the taint it was meant for."},
	{ID: RuleTopologyKeyMissing, Name: "topology-key-missing", Severity: Warning, NeedsCluster: true,
		Summary: "No node of the cluster has the label a topologyKey names.",
		Help:    "Pod affinity and topology spread count domains by that node label. With DoNotSchedule spreading, nodes without the label are not candidates at all; affinity terms on it never find a peer. Use a label the nodes carry (topology.kubernetes.io/zone, kubernetes.io/hostname)."},
	{ID: RuleTopologyKeySuspicious, Name: "topology-key-suspicious", Severity: Warning,
		Summary: "A topologyKey is empty, a bare word such as zone or hostname, or a deprecated failure-domain.beta.kubernetes.io label.",
		Help:    "Nodes are labelled with topology.kubernetes.io/zone, topology.kubernetes.io/region and kubernetes.io/hostname. The failure-domain.beta labels were deprecated in Kubernetes 1.17 and newer nodes may not carry them. An empty key is rejected by the API server."},
	{ID: RuleSpreadNoSelector, Name: "spread-no-selector", Severity: Warning,
		Summary: "A topology spread constraint has no labelSelector.",
		Help:    "Without a labelSelector the constraint counts no pods, so every domain has skew 0 and the constraint silently does nothing (kubernetes/kubernetes#135797). Set labelSelector to the workload's pod labels."},
	{ID: RuleSpreadSelectorMismatch, Name: "spread-selector-mismatch", Severity: Warning,
		Summary: "A topology spread constraint's labelSelector does not match the pod's own labels.",
		Help:    "The constraint then spreads these pods relative to other pods, not to each other; replicas can pile up in one domain. Select the pod's own labels unless that is intended."},
	{ID: RuleSpreadInvalid, Name: "spread-invalid", Severity: Error,
		Summary: "A topology spread constraint has an invalid maxSkew, whenUnsatisfiable, minDomains or node inclusion policy, or repeats a {topologyKey, whenUnsatisfiable} pair.",
		Help:    "The API server rejects the object. maxSkew must be at least 1; whenUnsatisfiable is DoNotSchedule or ScheduleAnyway; minDomains (at least 1) needs DoNotSchedule; nodeAffinityPolicy and nodeTaintsPolicy are Honor or Ignore."},
	{ID: RuleSpreadSkewIneffective, Name: "spread-skew-ineffective", Severity: Info,
		Summary: "A topology spread constraint's maxSkew is at least the workload's replica count.",
		Help:    "The skew between domains can never exceed the number of pods, so the constraint never binds. Lower maxSkew (1 spreads evenly)."},
	{ID: RuleRequestsExceedLimits, Name: "requests-exceed-limits", Severity: Error,
		Summary: "A container requests more of a resource than its limit.",
		Help:    "The API server rejects the object. Raise the limit or lower the request."},
	{ID: RuleRequestExceedsNodes, Name: "request-exceeds-nodes", Severity: Error, NeedsCluster: true,
		Summary: "The pod requests more of a resource than the largest node can allocate, or a resource no node has.",
		Help:    "No node can ever run the pod, however empty. Lower the request, or add a node large enough."},
	{ID: RuleNodeAffinityNoNode, Name: "node-affinity-no-node", Severity: Error, NeedsCluster: true,
		Summary: "No current node satisfies the pod's nodeSelector and required node affinity.",
		Help:    "The pods stay pending until such a node appears. Check the label keys and values against `kubectl get nodes --show-labels`."},
	{ID: RuleAntiAffinityReplicas, Name: "anti-affinity-replicas", Severity: Error,
		Summary: "Required pod anti-affinity against the workload's own pods needs one topology domain per replica, and there are fewer.",
		Help:    "Each replica needs its own domain of the topologyKey (a node for kubernetes.io/hostname, a zone for topology.kubernetes.io/zone); the replicas beyond the number of domains stay pending, and a rolling update needs maxSurge more. Offline this is reported as info with the minimum number of domains; with --cluster it is an error when the cluster has fewer. Use preferred anti-affinity or topology spread constraints instead."},
	{ID: RuleGangMinMember, Name: "gang-min-member", Severity: Error,
		Summary: "A pod group's minMember (minCount) is larger than the number of pods that can ever join it.",
		Help:    "A gang is scheduled only when minMember pods can be placed together; with fewer members none of them is ever bound. Lower minMember or raise replicas."},
	{ID: RuleGangGroupMissing, Name: "gang-group-missing", Severity: Warning, NeedsCluster: true,
		Summary: "The pods name a pod group that exists neither in the manifests nor in the cluster, or whose API the cluster does not serve.",
		Help:    "Gang scheduling holds pods of an unknown group until it appears. Create the PodGroup first (or in the same apply), or remove the reference."},
	{ID: RuleGPURequestInvalid, Name: "gpu-request-invalid", Severity: Error,
		Summary: "berth's GPU request (nvidia.com/gpu, berth.io/gpu-milli, berth.io/gpu-memory, berth.io/gpu-model) is malformed or contradictory.",
		Help:    "berth's GPUShare plugin marks such pods unschedulable. A share is 1..1000 milli-GPU of one card (1000 is a whole card; ask for nvidia.com/gpu for more); card memory is a positive quantity; do not ask for whole cards and a share at once. See docs/gpu.md."},
	{ID: RuleGPUUnsatisfiable, Name: "gpu-unsatisfiable", Severity: Error, NeedsCluster: true,
		Summary: "No node has enough GPU cards, card memory or an allowed card model for the request.",
		Help:    "Even an empty cluster could not place the pod. Compare the request with the nodes' nvidia.com/gpu allocatable and nvidia.com/gpu.product / nvidia.com/gpu.memory labels."},
	{ID: RuleDRADeviceClassMissing, Name: "dra-device-class-missing", Severity: Error, NeedsCluster: true,
		Summary: "A resource claim asks for a DeviceClass that does not exist.",
		Help:    "The claim cannot be allocated and the pod stays pending. List the classes with `kubectl get deviceclasses`."},
	{ID: RuleDRACountUnsatisfiable, Name: "dra-count-unsatisfiable", Severity: Error, NeedsCluster: true,
		Summary: "A resource claim asks for more devices of a class than any node's ResourceSlices offer.",
		Help:    "Devices of one claim request are allocated on the pod's node; no node has that many. Lower the count or split the work."},
	{ID: RuleStorageTopologyConflict, Name: "storage-topology-conflict", Severity: Error,
		Summary: "A claim's StorageClass only provisions in topologies the pod's required node affinity excludes.",
		Help:    "The volume and the pod can never be on the same node. Align the StorageClass's allowedTopologies with the pod's node affinity or nodeSelector."},
	{ID: RuleSchedulerNameUnknown, Name: "scheduler-name-unknown", Severity: Warning, NeedsCluster: true,
		Summary: "schedulerName names neither a profile of berth's configuration nor default-scheduler.",
		Help:    "Unless another scheduler serves that name the pods stay pending with no event at all. Use a profile name from berth's KubeSchedulerConfiguration."},
	{ID: RulePriorityClassMissing, Name: "priority-class-missing", Severity: Error, NeedsCluster: true,
		Summary: "priorityClassName names a PriorityClass that exists neither in the manifests nor in the cluster.",
		Help:    "The Priority admission plugin rejects the pods, so a controller's pods are never created. Create the PriorityClass or fix the name."},
	{ID: RuleFieldUnsupported, Name: "field-unsupported-by-server", Severity: Warning, NeedsCluster: true,
		Summary: "A topology spread field is used that the cluster's Kubernetes version does not enable by default.",
		Help:    "An API server whose feature is off drops the field silently (minDomains before 1.27, nodeAffinityPolicy and nodeTaintsPolicy before 1.26, matchLabelKeys before 1.27). The same loss happens when a client built against an older API (an operator, a CI tool) reads and writes the object back. Upgrade the cluster or the client, or do without the field."},
	{ID: RuleUnknownField, Name: "unknown-field", Severity: Warning,
		Summary: "A document has a field its kind does not know (a typo), or the same field twice.",
		Help:    "kubectl's strict field validation rejects it; clients that do not validate drop the field silently, so the setting it was meant to make never takes effect."},
	{ID: RuleUndecodable, Name: "undecodable", Severity: Error,
		Summary: "A document is not valid YAML or JSON, or is not a Kubernetes object of its declared kind.",
		Help:    "Nothing in the document can be checked or applied. Fix the syntax or the apiVersion/kind."},
}

var rulesByID = func() map[string]*Rule {
	m := make(map[string]*Rule, len(rules))
	for i := range rules {
		m[rules[i].ID] = &rules[i]
	}
	return m
}()

// Rules returns the catalogue of rules, ordered by ID, for docs, SARIF and
// `berth lint --list-rules`.
func Rules() []Rule {
	out := append([]Rule(nil), rules...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// LookupRule returns the rule with an ID, so callers can validate IDs in a
// disable list.
func LookupRule(id string) (Rule, bool) {
	r, ok := rulesByID[id]
	if !ok {
		return Rule{}, false
	}
	return *r, true
}
