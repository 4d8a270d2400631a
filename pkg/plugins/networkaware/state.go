package networkaware

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	agv1alpha1 "github.com/berthsched/berth/pkg/apis/appgroup/v1alpha1"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/placement/network"
)

// cycleState is one pod's dependencies on one snapshot. It is read-only
// once built (PreFilter or PreScore, whichever runs first).
type cycleState struct {
	model *network.Model
	deps  []*network.Dependency
	// notes are what was wrong with the pod's declarations or the
	// configuration, for explanations.
	notes []string
	// placed: some dependency has a placed pod (else nothing to score);
	// limited: some placed dependency has a bound (else nothing to
	// filter).
	placed, limited bool
}

// Clone returns the state itself: it is never modified after it is
// built.
func (s *cycleState) Clone() framework.StateData { return s }

// Reasons of the Warning events on pods whose declarations berth could
// not use.
const (
	// ReasonInvalidTalksTo: the berth.io/talks-to annotation does not
	// parse; the pod is placed without it.
	ReasonInvalidTalksTo = "InvalidTalksTo"
	// ReasonAppGroupNotFound: the pod names an AppGroup berth cannot
	// read (it does not exist, or the API server does not serve the
	// CRD); the pod is placed without it.
	ReasonAppGroupNotFound = "AppGroupNotFound"
	// ReasonAppGroupWorkloadNotFound: the AppGroup exists but the pod's
	// workload label is missing or names no workload of it.
	ReasonAppGroupWorkloadNotFound = "AppGroupWorkloadNotFound"
)

// matcher selects one dependency's pods in one namespace.
type matcher struct {
	// key identifies the selection (namespace and labels), for the
	// nodes' memoised counts.
	key   string
	ns    string
	match func(labels map[string]string) bool
	dep   *network.Dependency
}

// builder collects a pod's dependencies for one cycle.
type builder struct {
	pl       *NetworkAware
	ctx      context.Context
	pod      *v1.Pod
	state    *cycleState
	matchers []matcher
	// incoming are the dependencies of pods that talk to this one,
	// found while scanning, by talker and weight.
	incoming map[string]*network.Dependency
}

// state returns the pod's cycle state, building it once per cycle.
func (pl *NetworkAware) state(ctx context.Context, cs *framework.CycleState, pod *v1.Pod) *cycleState {
	if cs != nil {
		if d, err := cs.Read(stateKey); err == nil {
			if s, ok := d.(*cycleState); ok {
				return s
			}
		}
	}
	s := pl.build(ctx, pod)
	if cs != nil {
		cs.Write(stateKey, s)
	}
	return s
}

// build reads the pod's declarations and aggregates its dependencies'
// placed pods from the snapshot in one pass over the nodes.
func (pl *NetworkAware) build(ctx context.Context, pod *v1.Pod) *cycleState {
	model, note := pl.topologyModel(ctx)
	b := &builder{pl: pl, ctx: ctx, pod: pod, state: &cycleState{model: model}, incoming: map[string]*network.Dependency{}}
	if note != "" {
		b.state.notes = append(b.state.notes, note)
	}
	b.talksTo()
	b.appGroup()
	scanTalkers := pl.talkers.any(pod.Namespace)
	if len(b.matchers) > 0 || scanTalkers {
		b.scan(scanTalkers)
	}
	s := b.state
	for _, k := range slices.Sorted(maps.Keys(b.incoming)) {
		s.deps = append(s.deps, b.incoming[k])
	}
	for _, d := range s.deps {
		if d.IsPlaced() {
			s.placed = true
			s.limited = s.limited || d.Limited
		}
	}
	return s
}

// add registers an outgoing (or AppGroup) dependency whose pods are
// found by a label match in ns; sel names the match uniquely within the
// namespace.
func (b *builder) add(d *network.Dependency, ns, sel string, match func(map[string]string) bool) {
	d.Placed = b.state.model.NewPlaced()
	b.state.deps = append(b.state.deps, d)
	b.matchers = append(b.matchers, matcher{key: ns + "\x00" + sel, ns: ns, match: match, dep: d})
}

// limit bounds d by args.maxCost, if set.
func (b *builder) limit(d *network.Dependency) {
	if mc := b.pl.args.MaxCost; mc != nil {
		d.Limited, d.MaxCost, d.Limit = true, *mc, "maxCost"
	}
}

// problem records what kept a declaration from being used: an explain
// note, a log line and a Warning event on the pod.
func (b *builder) problem(reason, msg string) {
	b.state.notes = append(b.state.notes, msg)
	b.pl.report(b.ctx, b.pod, reason, msg)
}

// talksTo reads the pod's berth.io/talks-to annotation.
func (b *builder) talksTo() {
	v, ok := b.pod.Annotations[network.TalksToAnnotation]
	if !ok {
		return
	}
	terms, err := b.pl.parse(v)
	if err != nil {
		b.problem(ReasonInvalidTalksTo, err.Error()+"; the pod is placed without the annotation's dependencies")
		return
	}
	for _, t := range terms {
		d := &network.Dependency{Name: "talks-to " + t.String(), Weight: t.Weight}
		b.limit(d)
		b.add(d, b.pod.Namespace, "t\x00"+t.String(), t.Matches)
	}
}

// appGroup reads the dependencies of the pod's workload from its
// AppGroup, both ways.
func (b *builder) appGroup() {
	name, ok := b.pod.Labels[agv1alpha1.AppGroupLabel]
	if !ok {
		return
	}
	ag, msg := b.pl.appGroup(b.pod.Namespace, name)
	if ag == nil {
		b.problem(ReasonAppGroupNotFound, msg+"; the pod is placed without its dependencies")
		return
	}
	sel, ok := b.pod.Labels[agv1alpha1.AppGroupSelectorLabel]
	if !ok {
		b.problem(ReasonAppGroupWorkloadNotFound, fmt.Sprintf("the pod names AppGroup %s/%s but has no label %s naming its workload; the pod is placed without its dependencies",
			ag.Namespace, ag.Name, agv1alpha1.AppGroupSelectorLabel))
		return
	}
	edges, found := network.AppGroupEdges(ag, sel)
	if !found {
		b.problem(ReasonAppGroupWorkloadNotFound, fmt.Sprintf("AppGroup %s/%s has no workload with selector %q (the pod's label %s); the pod is placed without its dependencies",
			ag.Namespace, ag.Name, sel, agv1alpha1.AppGroupSelectorLabel))
		return
	}
	for _, e := range edges {
		d := &network.Dependency{Weight: b.pl.args.AppGroupWeight}
		if e.Direction == network.Outgoing {
			d.Name = fmt.Sprintf("talks-to workload %s of AppGroup %s", e.Workload.Selector, ag.Name)
		} else {
			d.Name = fmt.Sprintf("talked to by workload %s of AppGroup %s", e.Workload.Selector, ag.Name)
		}
		b.limit(d)
		if e.MaxNetworkCost > 0 {
			d.Limited, d.MaxCost, d.Limit = true, e.MaxNetworkCost, "the AppGroup's maxNetworkCost"
		}
		ns := e.Workload.Namespace
		if ns == "" {
			ns = b.pod.Namespace
		}
		agName, wl := ag.Name, e.Workload.Selector
		b.add(d, ns, "g\x00"+agName+"\x00"+wl, func(l map[string]string) bool {
			return l[agv1alpha1.AppGroupLabel] == agName && l[agv1alpha1.AppGroupSelectorLabel] == wl
		})
	}
}

// scan visits every node once: how many of its pods each outgoing
// dependency selects (memoised on the node), and (with talkers) which of
// its pods declare that they talk to this one.
func (b *builder) scan(talkers bool) {
	for _, ni := range b.pl.h.SnapshotSharedLister().NodeInfos().List() {
		node := ni.Node()
		if node == nil {
			continue
		}
		idx := b.pl.index(ni)
		self := b.pod.Spec.NodeName != "" && b.pod.Spec.NodeName == node.Name
		for i := range b.matchers {
			m := &b.matchers[i]
			n := idx.count(m)
			if self && n > 0 && m.ns == b.pod.Namespace && m.match(b.pod.Labels) {
				// A bound pod evaluated as if pending (explain) is not
				// its own dependency.
				n--
			}
			m.dep.Placed.AddN(idx.loc, n)
		}
		if talkers {
			b.talkers(idx)
		}
	}
}

// talkers counts the node's pods whose berth.io/talks-to selects this
// pod: per talker and weight (a pod with several matching terms counts
// once, at its highest weight).
func (b *builder) talkers(idx *nodeIndex) {
	byTerm := idx.talkers[b.pod.Namespace]
	if len(byTerm) == 0 {
		return
	}
	var found []talkerTerm
	for k, v := range b.pod.Labels {
		for _, t := range byTerm[k+"="+v] {
			if t.uid == b.pod.UID && t.uid != "" {
				continue
			}
			dup := false
			for i := range found {
				if found[i].uid == t.uid {
					found[i].weight, dup = max(found[i].weight, t.weight), true
				}
			}
			if !dup {
				found = append(found, t)
			}
		}
	}
	for _, t := range found {
		key := t.who + "\x00" + strconv.FormatInt(t.weight, 10)
		d := b.incoming[key]
		if d == nil {
			d = &network.Dependency{Name: "talked to by " + t.who, Weight: t.weight, Placed: b.state.model.NewPlaced()}
			b.limit(d)
			b.incoming[key] = d
		}
		d.Placed.Add(idx.loc)
	}
}

// maxTold bounds the set of events already recorded (it is cleared when
// full).
const maxTold = 10000

// report logs a problem and records it as a Warning event on the pod,
// once per pod and problem. Engines that evaluate without side effects
// (explain, simulations: no Preemption) record no events.
func (pl *NetworkAware) report(ctx context.Context, pod *v1.Pod, reason, msg string) {
	if pl.h.Preemption() == nil {
		return
	}
	key := string(pod.UID) + "\x00" + msg
	pl.toldMu.Lock()
	_, told := pl.told[key]
	if !told {
		if len(pl.told) >= maxTold {
			clear(pl.told)
		}
		pl.told[key] = struct{}{}
	}
	pl.toldMu.Unlock()
	if told {
		return
	}
	klog.FromContext(ctx).V(2).Info("Pod's network dependencies not used", "plugin", Name, "pod", klog.KObj(pod), "reason", reason, "message", msg)
	if rec := pl.h.EventRecorder(); rec != nil {
		rec.Eventf(pod, nil, v1.EventTypeWarning, reason, "Scheduling", "%s", msg)
	}
}
