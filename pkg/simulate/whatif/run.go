package whatif

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/scheduler"
	"github.com/berthsched/berth/pkg/scheduler/core"
	"github.com/berthsched/berth/pkg/scheduler/profile"
)

// Mode says which pods a what-if places.
type Mode string

const (
	// ModePending places the snapshot's pending pods, pods displaced by
	// removed nodes, and added workloads; bound pods stay where they are.
	// It answers "where would what is waiting go?".
	ModePending Mode = "pending"
	// ModeAll also unbinds every pod berth's profiles serve (except
	// DaemonSet and static pods, whose node is fixed) and places
	// everything again in queue order, in both runs, so that a config
	// change shows which pods it would move.
	ModeAll Mode = "all"
)

// NodeAddition adds Count copies of a node template.
type NodeAddition struct {
	Template *v1.Node
	Count    int
	// Source names the template in the report (its file).
	Source string
}

// WorkloadAddition adds Count copies of each workload.
type WorkloadAddition struct {
	Workloads []Workload
	Count     int
	Source    string
}

// Options are one what-if: a snapshot, the configuration in force, and
// the change to compare it with.
type Options struct {
	Snapshot *Snapshot
	Registry framework.Registry
	// Config is the configuration the baseline runs with.
	Config *config.Config
	// ConfigAfter, if set, is the changed run's configuration;
	// ConfigAfterSource names it in the report.
	ConfigAfter       *config.Config
	ConfigAfterSource string
	// RemoveNodes, if set, removes the nodes it selects (a zone
	// drained): their pods are displaced and placed again.
	RemoveNodes labels.Selector
	AddNodes    []NodeAddition
	// AddWorkloads are new pods, placed after the pending ones.
	AddWorkloads []WorkloadAddition
	Mode         Mode
	// Capacity, if set, asks how many more copies of this pod fit after
	// the change (or in the baseline when there is none), up to
	// MaxCapacity.
	Capacity    *v1.Pod
	MaxCapacity int
	// Seed seeds the tie-breaking between equally scored nodes.
	Seed uint64
	// TieBreakByName breaks those ties by node name instead, as berth run
	// --tie-break=name does.
	TieBreakByName bool
	// Progress, if set, is told how far each stage is ("before",
	// "after", "capacity").
	Progress func(stage string, done, total int)
}

// ZoneLabel is the node label utilisation is grouped by.
const ZoneLabel = "topology.kubernetes.io/zone"

func (o *Options) hasChange() bool {
	return o.ConfigAfter != nil || o.RemoveNodes != nil || len(o.AddNodes) > 0 || len(o.AddWorkloads) > 0
}

// Run computes the baseline placement and, when Options has a change,
// the changed one, then the differences, the utilisation before and
// after, and the capacity question.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Mode == "" {
		o.Mode = ModePending
	}
	if o.Mode != ModePending && o.Mode != ModeAll {
		return nil, fmt.Errorf("mode %q: want %s or %s", o.Mode, ModePending, ModeAll)
	}
	if o.MaxCapacity <= 0 {
		o.MaxCapacity = 10000
	}
	start := time.Now()
	// prepare copies what it keeps; the snapshot is never changed.
	base := toPtrs(o.Snapshot.Objects)
	res := &Result{
		TypeMeta: metav1.TypeMeta{APIVersion: ResultAPIVersion, Kind: ResultKind},
		Snapshot: SnapshotInfo{TakenAt: o.Snapshot.TakenAt, Server: o.Snapshot.Server, Objects: o.Snapshot.CountsString(),
			Nodes: o.Snapshot.Counts()["Node"], Pods: o.Snapshot.Counts()["Pod"]},
		Mode: o.Mode,
		Seed: o.Seed,
	}
	before, err := simulate(ctx, &o, "before", o.Config, prepare(&o, base, false, res))
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	defer before.Close()
	after := before
	if o.hasChange() {
		cfg := o.Config
		if o.ConfigAfter != nil {
			cfg = o.ConfigAfter
		}
		after, err = simulate(ctx, &o, "after", cfg, prepare(&o, base, true, res))
		if err != nil {
			return nil, fmt.Errorf("changed run: %w", err)
		}
		defer after.Close()
	}
	res.diff(before, after)
	res.utilisation(before, after)
	if o.Capacity != nil {
		c, err := capacity(ctx, &o, after)
		if err != nil {
			return nil, fmt.Errorf("capacity: %w", err)
		}
		res.Capacity = c
	}
	res.Wall = metav1.Duration{Duration: time.Since(start).Round(time.Millisecond)}
	return res, nil
}

// input is one run's world before placement: the objects to serve and
// the pods to place, in order.
type input struct {
	objs    []*unstructured.Unstructured
	toPlace []*v1.Pod
	// unbound maps a pod that was bound in the snapshot and is placed
	// again to its node there.
	unbound map[string]string
	// nodes maps every node of the run to its zone.
	nodes map[string]string
	// priorities are the snapshot's PriorityClasses by name, and
	// defaultPriority the global default's value, for the pods the run
	// makes.
	priorities      map[string]int32
	defaultPriority int32
}

// prepare applies the change (when changed) to the snapshot's objects and
// picks the pods to place. Descriptions of the change go to res.Changes
// (once, from the changed run).
func prepare(o *Options, base []*unstructured.Unstructured, changed bool, res *Result) *input {
	in := &input{unbound: map[string]string{}, nodes: map[string]string{}}
	in.priorities, in.defaultPriority = priorityClasses(base)
	removed := map[string]bool{}
	for _, u := range base {
		if u.GetKind() == "Node" && u.GetAPIVersion() == "v1" {
			if changed && o.RemoveNodes != nil && o.RemoveNodes.Matches(labels.Set(u.GetLabels())) {
				removed[u.GetName()] = true
				continue
			}
			in.nodes[u.GetName()] = u.GetLabels()[ZoneLabel]
		}
		in.objs = append(in.objs, u.DeepCopy())
	}
	cfg := o.Config
	if changed && o.ConfigAfter != nil {
		cfg = o.ConfigAfter
	}
	profiles := map[string]bool{}
	for _, p := range cfg.Profiles {
		profiles[p.SchedulerName] = true
	}
	displaced, dropped := 0, 0
	movedClaims, movedPods := map[string]bool{}, map[types.UID]bool{}
	kept := in.objs[:0]
	for _, u := range in.objs {
		if u.GetKind() != "Pod" || u.GetAPIVersion() != "v1" {
			kept = append(kept, u)
			continue
		}
		pod := &v1.Pod{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, pod); err != nil {
			kept = append(kept, u)
			continue
		}
		if pod.DeletionTimestamp != nil || pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
			kept = append(kept, u)
			continue
		}
		fixed := isDaemonOrStatic(pod)
		node := pod.Spec.NodeName
		switch {
		case node != "" && removed[node] && fixed:
			dropped++
			continue // its node is gone, and so is it
		case node != "" && removed[node]:
			displaced++
			in.unbound[podKey(pod)] = node
		case node != "" && o.Mode == ModeAll && !fixed && profiles[pod.Spec.SchedulerName]:
			in.unbound[podKey(pod)] = node
		case node != "":
			kept = append(kept, u)
			continue
		case !profiles[pod.Spec.SchedulerName]:
			kept = append(kept, u)
			continue // pending, but not berth's to place
		}
		if node != "" {
			for _, c := range claimNames(pod) {
				movedClaims[pod.Namespace+"/"+c] = true
			}
			movedPods[pod.UID] = true
		}
		pod.Spec.NodeName = ""
		pod.Status.NominatedNodeName = ""
		kept = append(kept, toUnstructured(pod))
		in.toPlace = append(in.toPlace, pod)
	}
	in.objs = kept
	deallocate(in.objs, movedClaims, movedPods)
	var changes []string
	if changed {
		if o.ConfigAfter != nil {
			changes = append(changes, "scheduler configuration "+o.ConfigAfterSource)
		}
		if o.RemoveNodes != nil {
			changes = append(changes, fmt.Sprintf("remove nodes %s (%d nodes; %d pods displaced, %d DaemonSet/static pods gone)", o.RemoveNodes, len(removed), displaced, dropped))
		}
		for _, a := range o.AddNodes {
			for i := range a.Count {
				n := a.Template.DeepCopy()
				n.Name = fmt.Sprintf("%s-%d", a.Template.Name, i)
				if n.Labels == nil {
					n.Labels = map[string]string{}
				}
				n.Labels[v1.LabelHostname] = n.Name
				n.UID = types.UID("whatif-node-" + n.Name)
				if len(n.Status.Allocatable) == 0 {
					n.Status.Allocatable = n.Status.Capacity
				}
				in.objs = append(in.objs, toUnstructured(n))
				in.nodes[n.Name] = n.Labels[ZoneLabel]
			}
			changes = append(changes, fmt.Sprintf("add %d × node %s (%s)", a.Count, a.Template.Name, a.Source))
		}
		seq := 0
		for _, a := range o.AddWorkloads {
			pods := 0
			for c := range a.Count {
				for _, w := range a.Workloads {
					for _, tmpl := range w.Pods {
						p := tmpl.DeepCopy()
						if a.Count > 1 {
							p.Name = fmt.Sprintf("%s-c%d", p.Name, c)
						}
						seq++
						defaultPod(p, in.priorities, in.defaultPriority, o.Snapshot.TakenAt.Add(time.Duration(seq)*time.Millisecond+time.Second))
						in.objs = append(in.objs, toUnstructured(p))
						in.toPlace = append(in.toPlace, p)
						pods++
					}
				}
			}
			changes = append(changes, fmt.Sprintf("add %d × %s (%d pods)", a.Count, a.Source, pods))
		}
		res.Changes = changes
	}
	sortQueue(in.toPlace)
	return in
}

// claimNames lists the ResourceClaims a pod uses: those it names and
// those made for it from templates (status.resourceClaimStatuses).
func claimNames(p *v1.Pod) []string {
	var out []string
	for _, c := range p.Spec.ResourceClaims {
		if c.ResourceClaimName != nil {
			out = append(out, *c.ResourceClaimName)
		}
	}
	for _, c := range p.Status.ResourceClaimStatuses {
		if c.ResourceClaimName != nil {
			out = append(out, *c.ResourceClaimName)
		}
	}
	return out
}

// deallocate drops the allocation of the claims of pods placed again
// when no pod that stays bound uses them: the devices of a drained node
// are gone, and a pod placed anew gets new devices, as the claim
// controller and the scheduler would give it. A claim shared with a pod
// that stays keeps its devices, and pins the pod to them.
func deallocate(objs []*unstructured.Unstructured, claims map[string]bool, moved map[types.UID]bool) {
	for _, u := range objs {
		if u.GetKind() != "ResourceClaim" || !claims[u.GetNamespace()+"/"+u.GetName()] {
			continue
		}
		users, _, _ := unstructured.NestedSlice(u.Object, "status", "reservedFor")
		keep := false
		for _, r := range users {
			m, _ := r.(map[string]any)
			if uid, _ := m["uid"].(string); !moved[types.UID(uid)] {
				keep = true
			}
		}
		if !keep {
			unstructured.RemoveNestedField(u.Object, "status", "allocation")
			unstructured.RemoveNestedField(u.Object, "status", "reservedFor")
		}
	}
}

// isDaemonOrStatic reports pods whose node is not the scheduler's
// choice: DaemonSet pods and static (mirror) pods.
func isDaemonOrStatic(p *v1.Pod) bool {
	if _, ok := p.Annotations[v1.MirrorPodAnnotationKey]; ok {
		return true
	}
	for _, r := range p.OwnerReferences {
		if r.Controller != nil && *r.Controller && r.Kind == "DaemonSet" {
			return true
		}
	}
	return false
}

// priorityClasses reads the snapshot's PriorityClasses: value by name,
// and the global default's value.
func priorityClasses(objs []*unstructured.Unstructured) (map[string]int32, int32) {
	out := map[string]int32{}
	var def int32
	for _, u := range objs {
		if u.GetKind() != "PriorityClass" {
			continue
		}
		v, _, _ := unstructured.NestedInt64(u.Object, "value")
		out[u.GetName()] = int32(v)
		if g, _, _ := unstructured.NestedBool(u.Object, "globalDefault"); g {
			def = int32(v)
		}
	}
	return out, def
}

// defaultPod fills what the API server and its admission would for a new
// pod: namespace, scheduler name, priority, a UID and a creation time
// (which orders it in the queue). Requests from limits are filled when
// the pod is read (lint.Defaulted).
func defaultPod(p *v1.Pod, priorities map[string]int32, def int32, created time.Time) {
	if p.Namespace == "" {
		p.Namespace = metav1.NamespaceDefault
	}
	if p.Spec.SchedulerName == "" {
		p.Spec.SchedulerName = v1.DefaultSchedulerName
	}
	if p.Spec.Priority == nil {
		v := def
		if pv, ok := priorities[p.Spec.PriorityClassName]; ok {
			v = pv
		}
		p.Spec.Priority = &v
	}
	p.UID = types.UID("whatif-" + p.Namespace + "-" + p.Name)
	p.CreationTimestamp = metav1.NewTime(created)
	p.Status = v1.PodStatus{Phase: v1.PodPending}
}

func toUnstructured(obj runtime.Object) *unstructured.Unstructured {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		// Only typed API objects reach here; they always convert.
		panic(err)
	}
	u := &unstructured.Unstructured{Object: m}
	switch obj.(type) {
	case *v1.Pod:
		u.SetAPIVersion("v1")
		u.SetKind("Pod")
	case *v1.Node:
		u.SetAPIVersion("v1")
		u.SetKind("Node")
	}
	return u
}

// sortQueue orders pods as berth's queue pops them when they all wait:
// higher priority first, then older, then by namespace and name.
func sortQueue(pods []*v1.Pod) {
	prio := func(p *v1.Pod) int32 {
		if p.Spec.Priority != nil {
			return *p.Spec.Priority
		}
		return 0
	}
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if pa, pb := prio(a), prio(b); pa != pb {
			return pa > pb
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return podKey(a) < podKey(b)
	})
}

func podKey(p *v1.Pod) string { return p.Namespace + "/" + p.Name }

// outcome is one run's result, with its world kept for the capacity
// question and utilisation.
type outcome struct {
	*world
	in *input
	// node is where each placed pod went; reason why each unplaced pod
	// did not fit. tied marks pods whose best node shared its score.
	node   map[string]string
	reason map[string]string
	tied   map[string]bool
	order  []string
	seed   uint64
	byName bool
}

// maxRounds bounds the passes over pods that did not fit: a pod whose
// required affinity names pods placed after it fits in a later pass, as
// the scheduler's queue would retry it.
const maxRounds = 5

// simulate builds a world and places in.toPlace one at a time.
func simulate(ctx context.Context, o *Options, stage string, cfg *config.Config, in *input) (*outcome, error) {
	w, err := newWorld(ctx, in.objs, cfg, o.Registry)
	if err != nil {
		return nil, err
	}
	out := &outcome{world: w, in: in, node: map[string]string{}, reason: map[string]string{}, tied: map[string]bool{}, seed: o.Seed, byName: o.TieBreakByName}
	for _, p := range in.toPlace {
		out.order = append(out.order, podKey(p))
	}
	pending := in.toPlace
	total, done := len(pending), 0
	for round := 0; round < maxRounds && len(pending) > 0; round++ {
		var next []*v1.Pod
		handled := map[string]bool{}
		for _, p := range pending {
			if err := ctx.Err(); err != nil {
				w.Close()
				return nil, err
			}
			key := podKey(p)
			if handled[key] {
				continue
			}
			members := out.groupOf(p, pending)
			gang := members != nil
			if !gang {
				members = []*v1.Pod{p}
			}
			if err := out.placeGroup(ctx, members, gang); err != nil {
				w.Close()
				return nil, err
			}
			for _, m := range members {
				k := podKey(m)
				handled[k] = true
				if _, ok := out.node[k]; !ok {
					next = append(next, m)
				}
			}
			if round == 0 {
				done += len(members)
				if o.Progress != nil {
					o.Progress(stage, done, total)
				}
			}
		}
		if len(next) == len(pending) {
			break // nothing new fitted: another pass would change nothing
		}
		pending = next
	}
	return out, nil
}

// isGang reports whether the pod belongs to a gang with a minimum.
func (o *outcome) isGang(p *v1.Pod) bool {
	prof := o.Evaluator().Profile(p.Spec.SchedulerName)
	if prof == nil || prof.GroupPlugin() == nil {
		return false
	}
	g, st := prof.GroupPlugin().PodGroup(p)
	return st.IsSuccess() && g != nil && g.MinMember > 1
}

// groupOf returns the pending members of p's gang (p among them), in
// queue order, or nil when p is placed alone.
func (o *outcome) groupOf(p *v1.Pod, pending []*v1.Pod) []*v1.Pod {
	if !o.isGang(p) {
		return nil
	}
	prof := o.Evaluator().Profile(p.Spec.SchedulerName)
	gp := prof.GroupPlugin()
	key := gp.GroupKey(p)
	var members []*v1.Pod
	for _, q := range pending {
		if q.Spec.SchedulerName == p.Spec.SchedulerName && gp.GroupKey(q) == key {
			members = append(members, q)
		}
	}
	return members
}

// placed is one pod reserved on a node in this run.
type placed struct {
	pod   *v1.Pod
	node  string
	state *framework.CycleState
	prof  *profile.Profile
}

// placeGroup places pods one after the other; as a gang, all or none:
// when fewer than the group's minimum fit, every member placed is taken
// back and all are reported pending.
func (o *outcome) placeGroup(ctx context.Context, pods []*v1.Pod, gang bool) error {
	logger := klog.FromContext(ctx)
	var done []placed
	for _, p := range pods {
		pl, reason, err := o.placeOne(ctx, p)
		if err != nil {
			return err
		}
		if pl == nil {
			o.reason[podKey(p)] = reason
			continue
		}
		done = append(done, *pl)
	}
	if gang && len(done) > 0 {
		prof := o.Evaluator().Profile(pods[0].Spec.SchedulerName)
		g, _ := prof.GroupPlugin().PodGroup(pods[0])
		bound := 0
		for _, m := range prof.GroupPlugin().Members(prof.GroupPlugin().GroupKey(pods[0])) {
			if m.Spec.NodeName != "" {
				bound++
			}
		}
		if need := g.MinMember - bound; len(done) < need {
			msg := fmt.Sprintf("gang %s/%s: only %d of the %d more members it needs fit", g.Namespace, g.Name, len(done), need)
			for _, d := range done {
				d.prof.RunReservePluginsUnreserve(ctx, d.state, d.pod, d.node)
				if err := o.Evaluator().Cache().RemovePod(logger, d.pod); err != nil {
					return err
				}
			}
			for _, p := range pods {
				k := podKey(p)
				if r := o.reason[k]; r != "" {
					o.reason[k] = msg + "; this member: " + r
				} else {
					o.reason[k] = msg
				}
			}
			return nil
		}
	}
	for _, d := range done {
		k := podKey(d.pod)
		o.node[k] = d.node
		delete(o.reason, k)
	}
	return nil
}

// placeOne evaluates the pod, reserves it on the chosen node and adds it,
// bound, to the world. It returns nil and the reason when the pod fits
// nowhere.
func (o *outcome) placeOne(ctx context.Context, pod *v1.Pod) (*placed, string, error) {
	ev := o.Evaluator()
	e, err := ev.Evaluate(ctx, pod, scheduler.EvaluateOptions{TopK: 2, Seed: o.seed, TieBreakByName: o.byName})
	if err != nil {
		return nil, err.Error(), nil // no profile serves it
	}
	var fit *core.FitError
	if errors.As(e.Err, &fit) {
		return nil, e.Err.Error(), nil
	}
	if e.Err != nil {
		return nil, "", fmt.Errorf("pod %s: %w", podKey(pod), e.Err)
	}
	host := e.Result.SuggestedHost
	if top := e.Result.Diagnosis.TopNodes; len(top) > 1 && top[0].TotalScore == top[1].TotalScore {
		o.tied[podKey(pod)] = true
	}
	if st := e.Profile.RunReservePluginsReserve(ctx, e.State, pod, host); !st.IsSuccess() {
		e.Profile.RunReservePluginsUnreserve(ctx, e.State, pod, host)
		return nil, fmt.Sprintf("reserve on %s failed: %s", host, st.Message()), nil
	}
	bound := pod.DeepCopy()
	bound.Spec.NodeName = host
	if err := ev.Cache().AddPod(klog.FromContext(ctx), bound); err != nil {
		e.Profile.RunReservePluginsUnreserve(ctx, e.State, pod, host)
		return nil, "", err
	}
	return &placed{pod: bound, node: host, state: e.State, prof: e.Profile}, "", nil
}

// capacity adds copies of o.Capacity to the run until one fails or
// MaxCapacity fit.
func capacity(ctx context.Context, o *Options, run *outcome) (*Capacity, error) {
	c := &Capacity{Pod: podKey(o.Capacity), Limit: o.MaxCapacity}
	for i := range o.MaxCapacity {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := o.Capacity.DeepCopy()
		p.Name = fmt.Sprintf("%s-capacity-%d", o.Capacity.Name, i)
		defaultPod(p, run.in.priorities, run.in.defaultPriority, o.Snapshot.TakenAt.Add(time.Hour))
		pl, reason, err := run.placeOne(ctx, p)
		if err != nil {
			return nil, err
		}
		if o.Progress != nil && (i%10 == 9 || pl == nil) {
			o.Progress("capacity", i+1, o.MaxCapacity)
		}
		if pl == nil {
			c.Failure = reason
			c.ByZone, c.Summary = run.failureByZone(ctx, p, c.Fit)
			return c, nil
		}
		c.Fit++
		c.PerZone = addCount(c.PerZone, run.in.nodes[pl.node])
	}
	c.Reached = true
	c.Summary = fmt.Sprintf("at least %d more fit (the --max-capacity limit)", c.Fit)
	return c, nil
}

func addCount(m map[string]int, zone string) map[string]int {
	if m == nil {
		m = map[string]int{}
	}
	m[zoneName(zone)]++
	return m
}

func zoneName(z string) string {
	if z == "" {
		return "(no zone)"
	}
	return z
}

func toPtrs(objs []unstructured.Unstructured) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(objs))
	for i := range objs {
		out[i] = &objs[i]
	}
	return out
}

// failureByZone evaluates the failing pod again and groups its nodes'
// rejections by zone: the most common reason in each, and a sentence.
func (o *outcome) failureByZone(ctx context.Context, pod *v1.Pod, fit int) (map[string]string, string) {
	e, err := o.Evaluator().Evaluate(ctx, pod, scheduler.EvaluateOptions{Seed: o.seed, TieBreakByName: o.byName})
	if err != nil || e.Result.Diagnosis == nil {
		return nil, fmt.Sprintf("%d more fit; the next fails", fit)
	}
	d := e.Result.Diagnosis
	counts := map[string]map[string]int{}
	d.NodeToStatus.Each(func(node string, st *framework.Status) {
		z := zoneName(o.in.nodes[node])
		if counts[z] == nil {
			counts[z] = map[string]int{}
		}
		for _, r := range st.Reasons() {
			counts[z][r]++
		}
	})
	byZone := map[string]string{}
	tops := map[string]bool{}
	for z, rs := range counts {
		best, n := "", 0
		for r, c := range rs {
			if c > n || (c == n && r < best) {
				best, n = r, c
			}
		}
		byZone[z] = fmt.Sprintf("%s (%d nodes)", best, n)
		tops[best] = true
	}
	ordinal := ordinalString(fit + 1)
	switch {
	case len(counts) == 0:
		return byZone, fmt.Sprintf("%d more fit; the %s fails: %s", fit, ordinal, firstLine(d.Message()))
	case len(tops) == 1 && len(counts) > 1:
		var r string
		for k := range tops {
			r = k
		}
		return byZone, fmt.Sprintf("%d more fit; the %s fits nowhere, mostly for %q in every zone", fit, ordinal, r)
	}
	zones := make([]string, 0, len(byZone))
	for z := range byZone {
		zones = append(zones, z)
	}
	sort.Strings(zones)
	parts := make([]string, len(zones))
	for i, z := range zones {
		parts[i] = z + ": " + byZone[z]
	}
	return byZone, fmt.Sprintf("%d more fit; the %s fails: %s", fit, ordinal, strings.Join(parts, "; "))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func ordinalString(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return fmt.Sprintf("%d%s", n, suffix)
}
