package conformance

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	schedv1beta1 "k8s.io/api/scheduling/v1beta1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	schedulingapi "k8s.io/kubernetes/pkg/apis/scheduling"
	_ "k8s.io/kubernetes/pkg/apis/scheduling/install" // registers scheduling.k8s.io defaulting and conversion
	"k8s.io/kubernetes/pkg/features"
	podgroupregistry "k8s.io/kubernetes/pkg/registry/scheduling/podgroup"

	berthfw "github.com/berthsched/berth/pkg/framework"
)

// GangOutcome is what one scheduler did with a case's group in its first
// attempt.
type GangOutcome struct {
	// Bound maps each member the attempt bound to its node.
	Bound map[string]string
	// Order lists the members in the order the attempt considered them.
	Order []string
	// Notes are the events the scheduler recorded and, on kube-scheduler's
	// side, the group's PodGroupInitiallyScheduled condition: why, for
	// the report.
	Notes []string
}

// Placed is how many members the attempt bound.
func (o GangOutcome) Placed() int { return len(o.Bound) }

// GangKnownDifferences lists the known differences; there are none.
// Two were found by this family and fixed in berth: members placed in
// another order than kube-scheduler's queue order (berth now sorts a
// group's members as activeQ would pop them), and a topology-confined
// group placed although its members already bound sit in several domains
// or on a node without the label (berth now refuses it, as
// kube-scheduler's topology placement does). TestGangFormerDifferences
// keeps their seeds agreeing.
var GangKnownDifferences []*GangKnownDifference

// gangRunner runs one scheduler on an admitted case.
type gangRunner func(ctx context.Context, c *admittedGang) (GangOutcome, error)

// GangHarness runs kube-scheduler's gang scheduling and berth's on gang
// cases and compares what both promise: whether the group is placed (at
// least minCount members bound or assumed, counting those bound before)
// and, when the group has no topology constraint, how many members are
// placed. Both place the queued members one after the other in queue
// order, each on the best-scored node given the members before it, and
// keep every member that fits once the minimum is reached; with a
// topology constraint, kube-scheduler tries every domain and keeps the
// one that places the most members (its PodGroupPodsCount placement
// scorer), while berth keeps the first domain (roomiest first) that
// reaches the minimum, so only feasibility is compared there.
type GangHarness struct {
	oracle, berth gangRunner
	// Stats counts the outcomes of every case run so far.
	Stats GangStats
	// Reruns is how many more times each side runs a case whose first
	// outcomes differ. Both sides break score ties between nodes at random
	// (kube-scheduler with math/rand, berth with its own source), and a
	// tie can change which later members fit; a case whose outcomes
	// overlap over the reruns is counted as tie-dependent, not as a
	// disagreement.
	Reruns int
	// Shrink makes reported disagreements minimal (costs re-runs).
	Shrink bool
	// Strict reports known differences as disagreements too.
	Strict bool
}

// GangStats counts gang cases by outcome.
type GangStats struct {
	Cases int
	// Agreed counts the cases whose first outcomes agreed; TieDependent
	// those that agreed only over reruns; Disagreed those that never did
	// and no known difference explains (or Strict).
	Agreed, TieDependent, Disagreed int
	// Known counts the cases explained by a GangKnownDifference, by name.
	Known map[string]int
	// Placed and NotPlaced count the agreeing cases by verdict.
	Placed, NotPlaced int
	// Counted counts the cases whose number of placed members was
	// compared (no topology constraint, the group placed by both).
	Counted int
	// Topology counts the cases with a topology constraint, TAS those run
	// with kube-scheduler's TopologyAwareWorkloadScheduling gate on,
	// BoundMembers those with members bound before the attempt.
	Topology, TAS, BoundMembers int
	// Partial counts the agreeing placed cases where some queued member
	// was left out (the group reached its minimum without it).
	Partial int
}

// NewGangHarness builds both sides from their default configurations.
// reg is berth's registry; nil means plugins.NewInTreeRegistry().
func NewGangHarness(reg berthfw.Registry) (*GangHarness, error) {
	b, err := newBerthGang(reg)
	if err != nil {
		return nil, err
	}
	return &GangHarness{oracle: runOracleGang, berth: b.run, Reruns: 4, Shrink: true}, nil
}

// NewGangSelfHarness compares kube-scheduler with a second run of itself:
// every difference is a score tie broken differently (TieDependent) or a
// harness that is not deterministic.
func NewGangSelfHarness() *GangHarness {
	return &GangHarness{oracle: runOracleGang, berth: runOracleGang, Reruns: 4, Shrink: true}
}

// GangDisagreement is a case on which the sides' outcomes never met, with
// a minimal reproducer.
type GangDisagreement struct {
	Seed uint64
	// Kube and Berth are the outcomes seen on each side (first run first).
	Kube, Berth []GangOutcome
	// Verdicts are each side's distinct verdicts over the runs.
	KubeVerdicts, BerthVerdicts []string
	// Known is set when the difference is explained by a known one.
	Known *GangKnownDifference
	Case  *GangCase
}

// GangKnownDifference is a difference between the two gang schedulers
// that has been traced to its cause.
type GangKnownDifference struct {
	Name string
	// Wrong names the side that departs from the intended behaviour.
	Wrong string
	Why   string
}

// Run runs the case on both sides and returns a disagreement, or nil.
func (h *GangHarness) Run(ctx context.Context, c *GangCase) (*GangDisagreement, error) {
	r, err := h.compare(ctx, c, h.Reruns)
	if err != nil {
		return nil, fmt.Errorf("seed %d: %w", c.Seed, err)
	}
	st := &h.Stats
	st.Cases++
	if gangTopologyKey(c.Group) != "" {
		st.Topology++
	}
	if c.TAS {
		st.TAS++
	}
	if gangBoundMembers(c) > 0 {
		st.BoundMembers++
	}
	switch {
	case r.disagreement != nil && r.disagreement.Known != nil && !h.Strict:
		if st.Known == nil {
			st.Known = map[string]int{}
		}
		st.Known[r.disagreement.Known.Name]++
		return nil, nil
	case r.disagreement != nil:
		st.Disagreed++
		d := r.disagreement
		if h.Shrink {
			if d, err = h.shrink(ctx, d); err != nil {
				return nil, fmt.Errorf("seed %d: shrinking: %w", c.Seed, err)
			}
		}
		return d, nil
	case r.reran:
		st.TieDependent++
	default:
		st.Agreed++
	}
	if r.placed == 0 {
		st.NotPlaced++
		return nil, nil
	}
	st.Placed++
	if gangTopologyKey(c.Group) == "" {
		st.Counted++
	}
	if r.placed < len(c.Pending) {
		st.Partial++
	}
	return nil, nil
}

// gangResult is one comparison: a disagreement, or the agreed outcome.
type gangResult struct {
	disagreement *GangDisagreement
	// reran is set when the sides agreed only over reruns.
	reran bool
	// placed is how many members kube-scheduler placed in a run whose
	// verdict both sides reached.
	placed int
}

// compare runs c once on each side, and reruns both up to reruns more
// times while the verdicts seen on the two sides have none in common.
func (h *GangHarness) compare(ctx context.Context, c *GangCase, reruns int) (gangResult, error) {
	restore, err := setGangGates(c.TAS)
	if err != nil {
		return gangResult{}, err
	}
	defer restore()
	a, err := admitGang(c)
	if err != nil {
		return gangResult{}, err
	}
	d := &GangDisagreement{Seed: c.Seed, Case: c}
	kv, bv := map[string]int{}, map[string]bool{}
	for i := 0; i <= reruns; i++ {
		k, err := h.oracle(ctx, a)
		if err != nil {
			return gangResult{}, fmt.Errorf("kube-scheduler: %w", err)
		}
		b, err := h.berth(ctx, a)
		if err != nil {
			return gangResult{}, fmt.Errorf("berth: %w", err)
		}
		d.Kube, d.Berth = append(d.Kube, k), append(d.Berth, b)
		kv[gangVerdict(c, k)] = k.Placed()
		if msg := gangBroken(a, b); msg != "" {
			// A promise berth broke is a disagreement whatever
			// kube-scheduler did.
			bv["broken promise: "+msg] = true
			break
		}
		bv[gangVerdict(c, b)] = true
		for v := range bv {
			if placed, ok := kv[v]; ok {
				return gangResult{reran: i > 0, placed: placed}, nil
			}
		}
	}
	d.KubeVerdicts, d.BerthVerdicts = sortedKeys(kv), sortedKeys(bv)
	known, err := h.explain(ctx, a, d, reruns)
	if err != nil {
		return gangResult{}, err
	}
	d.Known = known
	return gangResult{disagreement: d}, nil
}

// explain returns the known difference that explains d, or nil: with
// none known, every disagreement is unexplained.
func (h *GangHarness) explain(context.Context, *admittedGang, *GangDisagreement, int) (*GangKnownDifference, error) {
	return nil, nil
}

// gangVerdict is what is compared: "not placed", or "placed" with the
// number of members when the group has no topology constraint.
func gangVerdict(c *GangCase, o GangOutcome) string {
	switch {
	case o.Placed() == 0:
		return "not placed"
	case gangTopologyKey(c.Group) != "":
		return "placed"
	}
	return fmt.Sprintf("placed %d of %d", o.Placed(), len(c.Pending))
}

// gangBroken checks what every outcome must satisfy, whatever the other
// side did: a placed group has its minimum bound (with the members bound
// before), and with a topology constraint all its members are in one
// domain of it (with the ones bound before).
func gangBroken(a *admittedGang, o GangOutcome) string {
	if o.Placed() == 0 {
		return ""
	}
	min := gangMinCount(a.group)
	var before []string
	for _, p := range a.cluster.Pods {
		if isGangMember(p) {
			before = append(before, p.Spec.NodeName)
		}
	}
	if len(before)+o.Placed() < min {
		return fmt.Sprintf("%d member(s) bound with %d bound before, below minimum %d", o.Placed(), len(before), min)
	}
	key := gangTopologyKey(a.group)
	if key == "" || scattered(a.cluster, key, before) {
		// No outcome can keep the group in one domain: both schedulers
		// refuse it (a placed outcome fails the minimum check above
		// only if it placed too few).
		return ""
	}
	if domains := domainsOf(a.cluster, key, append(before, slices.Collect(maps.Values(o.Bound))...)); len(domains) > 1 {
		return fmt.Sprintf("members in %d %s domains: %s", len(domains), key, strings.Join(domains, ", "))
	}
	return ""
}

// scattered reports whether the named nodes are in more than one domain of
// key, or one of them has no such label.
func scattered(c *Cluster, key string, nodes []string) bool {
	domains := domainsOf(c, key, nodes)
	return len(domains) > 1 || (len(domains) == 1 && strings.HasPrefix(domains[0], noLabel))
}

// noLabel starts the domain domainsOf gives a node without the key.
const noLabel = "<no "

// domainsOf lists the values of key on the named nodes, with a marker for
// a node without the label.
func domainsOf(c *Cluster, key string, nodes []string) []string {
	domains := map[string]bool{}
	for _, name := range nodes {
		for _, n := range c.Nodes {
			if n.Name == name {
				v, ok := n.Labels[key]
				if !ok {
					v = noLabel + key + " label>"
				}
				domains[v] = true
			}
		}
	}
	return sortedKeys(domains)
}

// admittedGang is a gang case as the API server stores it.
type admittedGang struct {
	cluster *Cluster
	group   *schedv1beta1.PodGroup
	pending []*v1.Pod
}

// admitGang admits every object of c; the gang gates must be set.
func admitGang(c *GangCase) (*admittedGang, error) {
	cl, pending, err := admitCase(c.Cluster, c.Pending)
	if err != nil {
		return nil, err
	}
	pg, err := AdmitPodGroup(c.Group)
	if err != nil {
		return nil, err
	}
	for _, p := range append(slices.Clone(cl.Pods), pending...) {
		if isGangMember(c.Pending[0]) && !isGangMember(p) && strings.HasPrefix(p.Name, memberPrefix) {
			return nil, fmt.Errorf("pod %s lost spec.schedulingGroup on admission (is GenericWorkload on?)", p.Name)
		}
	}
	if gangTopologyKey(c.Group) != gangTopologyKey(pg) {
		return nil, fmt.Errorf("PodGroup lost spec.schedulingConstraints on admission (is TopologyAwareWorkloadScheduling on?)")
	}
	return &admittedGang{cluster: cl, group: pg, pending: pending}, nil
}

// AdmitPodGroup is AdmitPod for scheduling.k8s.io/v1beta1 PodGroups: v1beta1
// defaulting, the registry strategy's PrepareForCreate (which drops
// spec.schedulingConstraints unless TopologyAwareWorkloadScheduling is on)
// and the create validation, declarative rules included.
func AdmitPodGroup(pg *schedv1beta1.PodGroup) (*schedv1beta1.PodGroup, error) {
	ctx := genericapirequest.WithNamespace(context.Background(), pg.Namespace)
	ctx = genericapirequest.WithRequestInfo(ctx, &genericapirequest.RequestInfo{IsResourceRequest: true, Verb: "create",
		APIGroup: schedv1beta1.GroupName, APIVersion: "v1beta1", Resource: "podgroups", Namespace: pg.Namespace, Name: pg.Name})
	in := pg.DeepCopy()
	legacyscheme.Scheme.Default(in)
	internal := &schedulingapi.PodGroup{}
	if err := legacyscheme.Scheme.Convert(in, internal, nil); err != nil {
		return nil, err
	}
	s := podgroupregistry.NewStrategy()
	s.PrepareForCreate(ctx, internal)
	if errs := rest.ValidateCreate(ctx, internal, s); len(errs) > 0 {
		return nil, fmt.Errorf("PodGroup %s/%s is invalid: %w", pg.Namespace, pg.Name, errs.ToAggregate())
	}
	out := &schedv1beta1.PodGroup{}
	if err := legacyscheme.Scheme.Convert(internal, out, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// gangGatesMu serialises the cases that change the process's feature gates.
var gangGatesMu sync.Mutex

// setGangGates turns GenericWorkload on, and TopologyAwareWorkloadScheduling
// on or off, in the process's feature gate (kube-scheduler and the API
// server's strategies read it); restore puts the previous values back.
func setGangGates(tas bool) (restore func(), err error) {
	gangGatesMu.Lock()
	gate := utilfeature.DefaultMutableFeatureGate
	old := map[string]bool{
		string(features.GenericWorkload):                 gate.Enabled(features.GenericWorkload),
		string(features.TopologyAwareWorkloadScheduling): gate.Enabled(features.TopologyAwareWorkloadScheduling),
	}
	if err := gate.SetFromMap(map[string]bool{string(features.GenericWorkload): true, string(features.TopologyAwareWorkloadScheduling): tas}); err != nil {
		gangGatesMu.Unlock()
		return nil, err
	}
	return func() {
		defer gangGatesMu.Unlock()
		if err := gate.SetFromMap(old); err != nil {
			panic(fmt.Sprintf("restoring feature gates: %v", err))
		}
	}, nil
}

// isGangMember reports whether pod names the case's group.
func isGangMember(p *v1.Pod) bool {
	g := p.Spec.SchedulingGroup
	return g != nil && g.PodGroupName != nil && *g.PodGroupName == gangName
}

func gangBoundMembers(c *GangCase) int {
	n := 0
	for _, p := range c.Cluster.Pods {
		if isGangMember(p) {
			n++
		}
	}
	return n
}

// gangObjects are the API objects of a case but the group and the pending
// members: namespaces, nodes and bound pods, the group's members among
// them with the side's schedulerName (kube-scheduler requires every member
// of a group, bound or not, to have the same one).
func gangObjects(c *admittedGang, schedulerName string) []runtime.Object {
	objs := namespaceObjects()
	for _, n := range c.cluster.Nodes {
		objs = append(objs, n.DeepCopy())
	}
	for _, p := range c.cluster.Pods {
		if isGangMember(p) {
			p = withSchedulerName(p, schedulerName)
		}
		objs = append(objs, p.DeepCopy())
	}
	return objs
}

func withSchedulerName(p *v1.Pod, name string) *v1.Pod {
	p = p.DeepCopy()
	p.Spec.SchedulerName = name
	return p
}

func countBound(c *admittedGang) int { return len(c.cluster.Pods) }

func unstructuredOf(m map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: m}
}

// bindLog records the binds a scheduler sent.
type bindLog struct {
	mu    sync.Mutex
	bound map[string]string
}

func (l *bindLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.bound)
}

func (l *bindLog) targets() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.bound)
}

// newBindingClient is a fake clientset holding objs that accepts every
// pods/binding and records it. The pod is left unbound in the tracker, so
// no event follows that could requeue the members left out.
func newBindingClient(objs ...runtime.Object) (*fake.Clientset, *bindLog) {
	client := fake.NewClientset(objs...)
	log := &bindLog{bound: map[string]string{}}
	client.PrependReactor("create", "pods", func(action clienttesting.Action) (bool, runtime.Object, error) {
		if action.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b := action.(clienttesting.CreateAction).GetObject().(*v1.Binding)
		log.mu.Lock()
		log.bound[b.Name] = b.Target.Name
		log.mu.Unlock()
		return true, b, nil
	})
	return client, log
}

// noteRecorder keeps the notes of the events recorded through it.
type noteRecorder struct {
	mu    sync.Mutex
	notes []string
}

var _ events.EventRecorderLogger = &noteRecorder{}

func (r *noteRecorder) Eventf(regarding, _ runtime.Object, eventtype, reason, _, note string, args ...interface{}) {
	name := ""
	if m, ok := regarding.(interface{ GetName() string }); ok {
		name = m.GetName()
	}
	r.mu.Lock()
	r.notes = append(r.notes, fmt.Sprintf("%s %s %s: %s", eventtype, reason, name, fmt.Sprintf(note, args...)))
	r.mu.Unlock()
}

func (r *noteRecorder) WithLogger(klog.Logger) events.EventRecorderLogger { return r }

func (r *noteRecorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.notes)
	sort.Strings(out)
	return out
}

// waitUntil polls cond (informer deliveries are asynchronous).
func waitUntil(ctx context.Context, what string, cond func() bool) error {
	err := wait.PollUntilContextTimeout(ctx, 200*time.Microsecond, 20*time.Second, true, func(context.Context) (bool, error) {
		return cond(), nil
	})
	if err != nil {
		return fmt.Errorf("timed out waiting for %s", what)
	}
	return nil
}

// shrink removes nodes (with their pods), then bound pods, then pending
// members from the last, while the sides still disagree (over fewer
// reruns), lowering minCount to what is left when it must.
func (h *GangHarness) shrink(ctx context.Context, d *GangDisagreement) (*GangDisagreement, error) {
	c := d.Case
	reruns := min(h.Reruns, 2)
	try := func(next *GangCase) (bool, error) {
		if len(next.Pending) == 0 {
			return false, nil
		}
		if gp := next.Group.Spec.SchedulingPolicy.Gang; gp != nil && int(gp.MinCount) > len(next.Pending)+gangBoundMembers(next) {
			gp.MinCount = int32(len(next.Pending) + gangBoundMembers(next))
		}
		r, err := h.compare(ctx, next, reruns)
		if err != nil || r.disagreement == nil || (r.disagreement.Known != nil && !h.Strict) {
			return false, err
		}
		c, d = next, r.disagreement
		return true, nil
	}
	clone := func(nodes []*v1.Node, pods, pending []*v1.Pod) *GangCase {
		return &GangCase{Seed: c.Seed, TAS: c.TAS, Group: c.Group.DeepCopy(), Pending: pending,
			Cluster: &Cluster{Nodes: nodes, Pods: pods}}
	}
	for i := 0; i < len(c.Cluster.Nodes); {
		gone := c.Cluster.Nodes[i].Name
		var pods []*v1.Pod
		for _, p := range c.Cluster.Pods {
			if p.Spec.NodeName != gone {
				pods = append(pods, p)
			}
		}
		if ok, err := try(clone(slices.Delete(slices.Clone(c.Cluster.Nodes), i, i+1), pods, c.Pending)); err != nil {
			return d, err
		} else if !ok {
			i++
		}
	}
	for i := 0; i < len(c.Cluster.Pods); {
		if ok, err := try(clone(c.Cluster.Nodes, slices.Delete(slices.Clone(c.Cluster.Pods), i, i+1), c.Pending)); err != nil {
			return d, err
		} else if !ok {
			i++
		}
	}
	for i := len(c.Pending) - 1; i >= 0; i-- {
		if _, err := try(clone(c.Cluster.Nodes, c.Cluster.Pods, slices.Delete(slices.Clone(c.Pending), i, i+1))); err != nil {
			return d, err
		}
	}
	return d, nil
}

// Format writes the disagreement with its reproducer.
func (d *GangDisagreement) Format(w io.Writer) {
	c := d.Case
	policy := fmt.Sprintf("minCount %d", gangMinCount(c.Group))
	if c.Group.Spec.SchedulingPolicy.Gang == nil {
		policy = "Basic policy"
	}
	fmt.Fprintf(w, "=== gang scheduling disagrees (seed %d; %d node(s), %d bound pod(s), %d pending member(s) after shrinking; %s",
		d.Seed, len(c.Cluster.Nodes), len(c.Cluster.Pods), len(c.Pending), policy)
	if key := gangTopologyKey(c.Group); key != "" {
		fmt.Fprintf(w, ", topology %s", key)
	}
	fmt.Fprintf(w, "; TopologyAwareWorkloadScheduling %v)\n", c.TAS)
	fmt.Fprintf(w, "  kube-scheduler: %s\n  berth:          %s\n", strings.Join(d.KubeVerdicts, " | "), strings.Join(d.BerthVerdicts, " | "))
	if len(d.Berth) > 0 && len(d.Kube) > 0 && !slices.Equal(d.Berth[0].Order, d.Kube[0].Order) {
		fmt.Fprintf(w, "  member order: kube-scheduler %v, berth %v\n", d.Kube[0].Order, d.Berth[0].Order)
	}
	if d.Known != nil {
		fmt.Fprintf(w, "  known difference %s (wrong: %s): %s\n", d.Known.Name, d.Known.Wrong, d.Known.Why)
	}
	for _, side := range []struct {
		name string
		out  []GangOutcome
	}{{"kube-scheduler", d.Kube}, {"berth", d.Berth}} {
		if len(side.out) == 0 {
			continue
		}
		o := side.out[0]
		fmt.Fprintf(w, "--- %s, first run: bound %v\n", side.name, o.Bound)
		for _, n := range o.Notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
	fmt.Fprintln(w, "--- reproducer")
	for _, n := range c.Cluster.Nodes {
		writeYAML(w, "node", n)
	}
	for _, p := range c.Cluster.Pods {
		writeYAML(w, "bound pod", p)
	}
	writeYAML(w, "PodGroup", c.Group)
	for _, p := range c.Pending {
		writeYAML(w, "pending member", p)
	}
}

func (d *GangDisagreement) String() string {
	var b strings.Builder
	d.Format(&b)
	return b.String()
}

// FormatStats writes the agreement counts.
func (h *GangHarness) FormatStats(w io.Writer) {
	s := h.Stats
	fmt.Fprintf(w, "gang cases: %d (topology constraint %d, kube-scheduler with TopologyAwareWorkloadScheduling %d, members bound before %d)\n",
		s.Cases, s.Topology, s.TAS, s.BoundMembers)
	fmt.Fprintf(w, "  agreed: %d at once, %d over reruns (score ties broken differently); disagreed: %d\n", s.Agreed, s.TieDependent, s.Disagreed)
	for _, k := range GangKnownDifferences {
		fmt.Fprintf(w, "  known difference %s (wrong: %s): %d\n", k.Name, k.Wrong, s.Known[k.Name])
	}
	fmt.Fprintf(w, "  agreeing verdicts: placed %d (member count compared in %d; some member left out in %d), not placed %d\n",
		s.Placed, s.Counted, s.Partial, s.NotPlaced)
}
