package core

import (
	"encoding/json"
	"hash/fnv"

	v1 "k8s.io/api/core/v1"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/scheduler/profile"
)

// Memo is the equivalence memo. It lets a burst of pods with the same scheduling
// signature (replicas of one workload, typically) reuse each other's work.
// For every node it remembers, for the last signature seen, the Filter
// verdict of the node-local filter plugins and the raw scores of the
// node-local score plugins (framework.NodeLocalPlugin), together with the
// node's NodeInfo.Generation at the time. The next pod with the same
// signature takes a node's verdict and raw scores from the memo as long as
// the node's generation is unchanged, so after the first pod of a burst
// only the node that received the previous pod is evaluated again.
//
// It changes nothing about which nodes are evaluated (the same adaptive
// sample from the same rotating start) or how scores are normalised: it is
// a cache of pure functions, invalidated by generation. Plugins that are
// not node-local (inter-pod affinity, topology spread, image locality) run
// every cycle as before; filter verdicts are only reused when every filter
// that runs for the pod is node-local.
//
// A Memo belongs to one caller (the scheduling loop) and is not safe for
// concurrent evaluations; the zero value is ready to use.
type Memo struct {
	sig  uint64
	prof *profile.Profile
	// base identifies the node list the entries are aligned with.
	base    *framework.NodeInfo
	entries []memoEntry
	// active: the memo applies to this cycle's filter verdicts.
	active bool
	// scores: the memo may serve raw scores this cycle.
	scores bool
}

type memoEntry struct {
	ni  *framework.NodeInfo
	gen int64
	// checked: status holds the verdict of the node-local filters.
	checked bool
	status  *framework.Status
	// scoreMask has bit slot set when raw[slot] is valid.
	scoreMask uint32
	raw       [profile.MaxMemoSlots]int64
}

// sync makes the entry describe ni as it is now, resetting it when the
// node or its generation changed since the entry was filled.
func (e *memoEntry) sync(ni *framework.NodeInfo) {
	if e.ni != ni || e.gen != ni.Generation {
		*e = memoEntry{ni: ni, gen: ni.Generation}
	}
}

// begin prepares the memo for a cycle over nodes (the snapshot's full
// list). usable is false when this cycle must not use it at all.
func (m *Memo) begin(sig uint64, prof *profile.Profile, nodes []*framework.NodeInfo, usable, filtersLocal bool) {
	m.active, m.scores = false, false
	if !usable || len(nodes) == 0 {
		return
	}
	if sig != m.sig || prof != m.prof || len(nodes) != len(m.entries) || nodes[0] != m.base {
		if cap(m.entries) >= len(nodes) {
			m.entries = m.entries[:len(nodes)]
			clear(m.entries)
		} else {
			m.entries = make([]memoEntry, len(nodes))
		}
		m.sig, m.prof, m.base = sig, prof, nodes[0]
	}
	m.active = filtersLocal
	m.scores = true
}

// filter returns the memoised verdict for nodes[idx], running run when
// there is none. It is called concurrently for distinct idx.
func (m *Memo) filter(idx int, ni *framework.NodeInfo, run func() *framework.Status) *framework.Status {
	e := &m.entries[idx]
	e.sync(ni)
	if e.checked {
		return e.status
	}
	st := run()
	if st.Code() != framework.Error {
		e.status, e.checked = st, true
	}
	return st
}

// scoreView adapts the memo to profile.ScoreMemo for the feasible nodes,
// whose positions in the full list are idx.
type scoreView struct {
	m     *Memo
	nodes []*framework.NodeInfo
	idx   []int
}

func (v scoreView) Lookup(i, slot int) (int64, bool) {
	e := &v.m.entries[v.idx[i]]
	e.sync(v.nodes[i])
	if e.scoreMask&(1<<uint(slot)) != 0 {
		return e.raw[slot], true
	}
	return 0, false
}

func (v scoreView) Store(i, slot int, raw int64) {
	e := &v.m.entries[v.idx[i]]
	e.sync(v.nodes[i])
	e.raw[slot] = raw
	e.scoreMask |= 1 << uint(slot)
}

// signatureFields is what makes two pods equivalent for scheduling: the
// parts of the pod that any plugin reads. Per-pod noise (names, the
// service-account token volume and its mounts) is left out.
type signatureFields struct {
	Namespace         string
	Labels            map[string]string
	SchedulerName     string
	Priority          *int32
	PreemptionPolicy  *v1.PreemptionPolicy
	NodeName          string
	NodeSelector      map[string]string
	Affinity          *v1.Affinity
	Tolerations       []v1.Toleration
	Spread            []v1.TopologySpreadConstraint
	Overhead          v1.ResourceList
	Resources         *v1.ResourceRequirements
	RuntimeClassName  *string
	HostNetwork       bool
	OS                *v1.PodOS
	Containers        []containerSig
	InitContainers    []containerSig
	Volumes           []v1.Volume
	ResourceClaims    []v1.PodResourceClaim
	SchedulingGates   []v1.PodSchedulingGate
	NominatedNodeName string
	// Fragments are what the profile's plugins read beyond the above
	// (framework.SignatureContributor).
	Fragments []string
}

type containerSig struct {
	Image         string
	Resources     v1.ResourceRequirements
	Ports         []v1.ContainerPort
	RestartPolicy *v1.ContainerRestartPolicy
}

// podSignature hashes the scheduling-relevant parts of a pod. ok is false
// when the pod cannot be encoded (then it is never considered equivalent).
func podSignature(pod *v1.Pod, prof *profile.Profile) (sig uint64, ok bool) {
	f := signatureFields{
		Namespace: pod.Namespace, Labels: pod.Labels, SchedulerName: pod.Spec.SchedulerName,
		Priority: pod.Spec.Priority, PreemptionPolicy: pod.Spec.PreemptionPolicy, NodeName: pod.Spec.NodeName,
		NodeSelector: pod.Spec.NodeSelector, Affinity: pod.Spec.Affinity, Tolerations: pod.Spec.Tolerations,
		Spread: pod.Spec.TopologySpreadConstraints, Overhead: pod.Spec.Overhead, Resources: pod.Spec.Resources,
		RuntimeClassName: pod.Spec.RuntimeClassName, HostNetwork: pod.Spec.HostNetwork, OS: pod.Spec.OS,
		ResourceClaims: pod.Spec.ResourceClaims, SchedulingGates: pod.Spec.SchedulingGates,
		NominatedNodeName: pod.Status.NominatedNodeName,
		Fragments:         prof.SignatureFragments(pod),
	}
	for _, c := range pod.Spec.Containers {
		f.Containers = append(f.Containers, containerSig{Image: c.Image, Resources: c.Resources, Ports: c.Ports})
	}
	for _, c := range pod.Spec.InitContainers {
		f.InitContainers = append(f.InitContainers, containerSig{Image: c.Image, Resources: c.Resources, Ports: c.Ports, RestartPolicy: c.RestartPolicy})
	}
	for _, vol := range pod.Spec.Volumes {
		src := vol.VolumeSource
		if src.Projected != nil || src.Secret != nil || src.ConfigMap != nil || src.DownwardAPI != nil || src.EmptyDir != nil {
			continue
		}
		f.Volumes = append(f.Volumes, vol)
	}
	b, err := json.Marshal(&f)
	if err != nil {
		return 0, false
	}
	h := fnv.New64a()
	_, _ = h.Write(b)
	return h.Sum64(), true
}
