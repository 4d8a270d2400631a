package conformance

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	berthfw "github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins"
)

// Harness runs both schedulers' plugins on cases and compares them.
type Harness struct {
	plugins []Plugin
	oracle  loader
	berth   loader
	// Stats counts agreement per plugin over every case run so far.
	Stats map[string]*PluginStats
	// Shrink makes reported disagreements minimal (costs re-runs).
	Shrink bool
	// Strict reports known differences as disagreements too.
	Strict bool
	// Pods, Scored and Nodes count the pending pods run, those with at least
	// one feasible node (so scores were compared), and (pod, node) pairs.
	Pods, Scored, Nodes int
}

// PluginStats counts, for one plugin, the (pod, cluster) cases compared and
// those on which the two sides agreed on every node.
type PluginStats struct {
	Cases, Agreed int
	// Known counts the cases whose only diffs are KnownDifferences.
	Known int
	// Points counts compared verdicts: (pod, node) pairs for Filter and
	// (pod, feasible node) pairs for Score.
	Points, PointsAgreed int
	// Rejections counts (pod, node) pairs kube-scheduler's plugin rejected.
	Rejections int
	// Scored counts the cases whose scores were compared, NonZero those
	// where kube-scheduler's plugin gave some node a non-zero score.
	Scored, NonZero int
	// Reasons and BerthReasons count, per "Code: reason" (names in the
	// reason masked, see reasonKeys), the cases in which some node got that
	// verdict from kube-scheduler's and berth's plugin: which branches of
	// the plugin the generated cases exercised on each side.
	Reasons, BerthReasons map[string]int
}

// NewHarness builds both sides from their default configurations. reg is
// berth's registry; nil means plugins.NewInTreeRegistry().
func NewHarness(reg berthfw.Registry) (*Harness, error) {
	if reg == nil {
		reg = plugins.NewInTreeRegistry()
	}
	h := &Harness{plugins: ActivePlugins(reg), Stats: map[string]*PluginStats{}, Shrink: true}
	for _, p := range h.plugins {
		h.Stats[p.Name] = &PluginStats{Reasons: map[string]int{}, BerthReasons: map[string]int{}}
	}
	o, err := newOracle()
	if err != nil {
		return nil, err
	}
	b, err := newBerth(reg)
	if err != nil {
		return nil, err
	}
	h.oracle, h.berth = o, b
	return h, nil
}

// NewSelfHarness compares kube-scheduler's plugins with a second copy of
// themselves, over rows (nil: every row of Plugins). Its coverage
// (FormatCoverage) shows what the generated cases exercise before berth has
// a plugin, and any disagreement means the harness or kube-scheduler is not
// deterministic.
func NewSelfHarness(rows []Plugin) (*Harness, error) {
	if rows == nil {
		rows = Plugins
	}
	h := &Harness{plugins: rows, Stats: map[string]*PluginStats{}, Shrink: true}
	for _, p := range h.plugins {
		h.Stats[p.Name] = &PluginStats{Reasons: map[string]int{}, BerthReasons: map[string]int{}}
	}
	o, err := newOracle()
	if err != nil {
		return nil, err
	}
	h.oracle, h.berth = o, o
	return h, nil
}

// newAPI returns a fake API server holding c's objects, the namespaces that
// namespaceSelectors match against, the nodes and the bound pods, and an
// informer factory over it. Each side of each load gets its own: storage
// objects differ per case, and a fresh informer needs no waiting for
// deletions to propagate.
func newAPI(c *Cluster) (kubernetes.Interface, informers.SharedInformerFactory) {
	objs := namespaceObjects()
	for _, n := range c.Nodes {
		objs = append(objs, n)
	}
	for _, p := range c.Pods {
		objs = append(objs, p)
	}
	objs = append(objs, c.Objects...)
	client := fake.NewClientset(objs...)
	return client, informers.NewSharedInformerFactory(client, 0)
}

// Plugins returns the rows the harness compares.
func (h *Harness) Plugins() []Plugin { return h.plugins }

func namespaceObjects() []runtime.Object {
	var out []runtime.Object
	for _, ns := range namespaces {
		out = append(out, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns.name, Labels: ns.labels}})
	}
	return out
}

// Diff is one point where the sides disagree.
type Diff struct {
	Plugin string
	// Point is "PreFilter", "Filter", "Score" or "Interface".
	Point string
	// Node is the node of a Filter or Score diff.
	Node        string
	Kube, Berth string
}

func (d Diff) String() string {
	where := d.Point
	if d.Node != "" {
		where += " on " + d.Node
	}
	return fmt.Sprintf("%s %s\n  kube-scheduler: %s\n  berth:          %s", d.Plugin, where, d.Kube, d.Berth)
}

// Disagreement is a plugin's diffs for one pod with a minimal reproducer.
type Disagreement struct {
	Seed    uint64
	Plugin  string
	Diffs   []Diff
	Pod     *corev1.Pod
	Cluster *Cluster
}

// Run evaluates every pending pod of c, updates Stats and returns one
// Disagreement per (pod, plugin) that disagrees.
func (h *Harness) Run(ctx context.Context, c *Case) ([]Disagreement, error) {
	cl, pending, err := admitCase(c.Cluster, c.Pending)
	if err != nil {
		return nil, fmt.Errorf("seed %d: %w", c.Seed, err)
	}
	k, b, err := h.load(ctx, cl, h.plugins)
	if err != nil {
		return nil, fmt.Errorf("seed %d: %w", c.Seed, err)
	}
	outcomes := make([]outcome, len(pending))
	for i, pod := range pending {
		outcomes[i] = h.compare(k, b, pod, h.plugins)
	}
	k.close()
	b.close()
	var out []Disagreement
	for i, pod := range pending {
		o := outcomes[i]
		diffs, points := o.diffs, o.points
		h.Pods++
		h.Nodes += len(k.nodeNames())
		if o.feasible > 0 {
			h.Scored++
		}
		for _, p := range h.plugins {
			st := h.Stats[p.Name]
			st.Cases++
			st.Points += points[p.Name]
			st.Rejections += o.rejections[p.Name]
			for r := range o.reasons[p.Name] {
				st.Reasons[r]++
			}
			for r := range o.berthReasons[p.Name] {
				st.BerthReasons[r]++
			}
			if o.scored[p.Name] {
				st.Scored++
			}
			if o.nonZero[p.Name] {
				st.NonZero++
			}
			st.PointsAgreed += points[p.Name] - countPoints(diffs[p.Name])
			if len(diffs[p.Name]) == 0 {
				st.Agreed++
				continue
			}
			if !h.Strict && known(p.Name, diffs[p.Name], pod, cl) != nil {
				st.Known++
				continue
			}
			d := Disagreement{Seed: c.Seed, Plugin: p.Name, Diffs: diffs[p.Name], Pod: c.Pending[i], Cluster: c.Cluster}
			if h.Shrink {
				d, err = h.shrink(ctx, d)
				if err != nil {
					return nil, err
				}
			}
			out = append(out, d)
		}
	}
	return out, nil
}

func countPoints(ds []Diff) int {
	n := 0
	for _, d := range ds {
		if d.Node != "" {
			n++
		}
	}
	return n
}

// load loads the rows' plugins on both sides.
func (h *Harness) load(ctx context.Context, c *Cluster, rows []Plugin) (loaded, loaded, error) {
	names := make([]string, len(rows))
	for i, p := range rows {
		names[i] = p.Name
	}
	k, err := h.oracle.load(ctx, c, names)
	if err != nil {
		return nil, nil, err
	}
	b, err := h.berth.load(ctx, c, names)
	if err != nil {
		k.close()
		return nil, nil, err
	}
	return k, b, nil
}

// outcome is what comparing one pod gives: the diffs, the number of
// compared points and kube-scheduler's rejections per plugin, and the number
// of feasible nodes; for coverage, the verdict reasons each side gave (see
// reasonKeys) and whether scores were compared and some was non-zero.
type outcome struct {
	diffs                 map[string][]Diff
	points, rejections    map[string]int
	feasible              int
	reasons, berthReasons map[string]map[string]bool
	scored, nonZero       map[string]bool
}

// masks hide the names in a reason ("persistentvolumeclaim \"claim-3\" not
// found", "PVC team-a/pending-4-vol-0 was not created for pod ...") so that
// reasons count by kind.
var masks = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`"[^"]*"`), `"…"`},
	{regexp.MustCompile(`\b(PVC|pod|Pod|claim|ResourceClaim) [a-z0-9][a-z0-9.-]*/[a-z0-9][a-z0-9.-]*`), `$1 …/…`},
	// DRA: "request req-0/sub-1: device class gpu does not exist", "on
	// device gpu.example.com/node-1/gpu-0", "resource pool nic.example.com/node-2".
	{regexp.MustCompile(`\b(request|device class|class) [a-z0-9][a-z0-9./-]*`), `$1 …`},
	{regexp.MustCompile(`\b(device|resource pool) [a-z0-9][a-z0-9.-]*/[a-z0-9./-]*`), `$1 …`},
}

// reasonKeys adds the keys of a non-success verdict ("Code: reason", names masked) to into.
func reasonKeys(v Verdict, into map[string]bool) {
	if v.Code == "Success" {
		return
	}
	if len(v.Reasons) == 0 {
		into[v.Code] = true
		return
	}
	for _, r := range v.Reasons {
		for _, m := range masks {
			r = m.re.ReplaceAllString(r, m.with)
		}
		into[v.Code+": "+r] = true
	}
}

// compare evaluates one pod on both sides.

func (h *Harness) compare(k, b loaded, pod *corev1.Pod, rows []Plugin) outcome {
	k.reset()
	b.reset()
	diffs := map[string][]Diff{}
	points, rejections := map[string]int{}, map[string]int{}
	out := outcome{diffs: diffs, points: points, rejections: rejections,
		reasons: map[string]map[string]bool{}, berthReasons: map[string]map[string]bool{},
		scored: map[string]bool{}, nonZero: map[string]bool{}}
	feasible := map[string]bool{}
	for _, n := range k.nodeNames() {
		feasible[n] = true
	}
	type impl struct{ filter, score bool }
	kimpl, bimpl := map[string]impl{}, map[string]impl{}
	for _, p := range rows {
		kf, ks, kok := k.Implements(p.Name)
		bf, bs, bok := b.Implements(p.Name)
		kimpl[p.Name], bimpl[p.Name] = impl{kf, ks}, impl{bf, bs}
		if !kok || !bok || (p.Filter && kf != bf) || (p.Score && ks != bs) {
			diffs[p.Name] = append(diffs[p.Name], Diff{Plugin: p.Name, Point: "Interface",
				Kube: fmt.Sprintf("loaded=%v filter=%v score=%v", kok, kf, ks), Berth: fmt.Sprintf("loaded=%v filter=%v score=%v", bok, bf, bs)})
		}
	}
	for _, p := range rows {
		if !p.Filter || !kimpl[p.Name].filter || !bimpl[p.Name].filter {
			continue
		}
		kr, br := safeFilter(k, p.Name, pod), safeFilter(b, p.Name, pod)
		points[p.Name] += len(k.nodeNames())
		out.reasons[p.Name], out.berthReasons[p.Name] = map[string]bool{}, map[string]bool{}
		if kp, bp := skipAsSuccess(kr.PreFilter), skipAsSuccess(br.PreFilter); !kp.Equal(bp) {
			diffs[p.Name] = append(diffs[p.Name], Diff{Plugin: p.Name, Point: "PreFilter", Kube: kp.String(), Berth: bp.String()})
		}
		for _, n := range k.nodeNames() {
			kv, bv := kr.Nodes[n], br.Nodes[n]
			reasonKeys(kv, out.reasons[p.Name])
			reasonKeys(bv, out.berthReasons[p.Name])
			if kv.Rejected() {
				delete(feasible, n)
				rejections[p.Name]++
			}
			if !kv.equalFor(p.Name, bv) {
				diffs[p.Name] = append(diffs[p.Name], Diff{Plugin: p.Name, Point: "Filter", Node: n, Kube: kv.String(), Berth: bv.String()})
			}
		}
	}
	nodes := sortedKeys(feasible)
	out.feasible = len(nodes)
	if len(nodes) == 0 {
		return out
	}
	for _, p := range rows {
		if !p.Score || !kimpl[p.Name].score || !bimpl[p.Name].score {
			continue
		}
		kr, br := safeScore(k, p.Name, pod, nodes), safeScore(b, p.Name, pod, nodes)
		points[p.Name] += len(nodes)
		out.scored[p.Name] = true
		for _, sc := range kr.Scores {
			if sc != 0 {
				out.nonZero[p.Name] = true
			}
		}
		if !kr.Failure.Equal(br.Failure) {
			diffs[p.Name] = append(diffs[p.Name], Diff{Plugin: p.Name, Point: "Score", Kube: kr.Failure.String(), Berth: br.Failure.String()})
			continue
		}
		if maps.Equal(kr.Scores, br.Scores) {
			continue
		}
		for _, n := range nodes {
			if kr.Scores[n] != br.Scores[n] {
				diffs[p.Name] = append(diffs[p.Name], Diff{Plugin: p.Name, Point: "Score", Node: n,
					Kube: fmt.Sprintf("%d (PreScore %s)", kr.Scores[n], kr.PreScore), Berth: fmt.Sprintf("%d (PreScore %s)", br.Scores[n], br.PreScore)})
			}
		}
	}
	return out
}

// panicked is the verdict of a plugin that panicked: a disagreement (or, on
// both sides, an agreement) rather than the end of the campaign.
func panicked(r any) Verdict {
	return Verdict{Code: "Panic", Reasons: []string{fmt.Sprint(r)}}
}

// safeFilter is s.Filter with a panic turned into a Panic verdict on every
// node.
func safeFilter(s loaded, name string, pod *corev1.Pod) (res FilterResult) {
	defer func() {
		if r := recover(); r != nil {
			v := panicked(r)
			res = FilterResult{PreFilter: v, Nodes: map[string]Verdict{}}
			for _, n := range s.nodeNames() {
				res.Nodes[n] = v
			}
		}
	}()
	return s.Filter(name, pod)
}

// safeScore is s.Score with a panic turned into a Panic failure.
func safeScore(s loaded, name string, pod *corev1.Pod, nodes []string) (res ScoreResult) {
	defer func() {
		if r := recover(); r != nil {
			res = ScoreResult{PreScore: success, Failure: panicked(r), Scores: map[string]int64{}}
		}
	}()
	return s.Score(name, pod, nodes)
}

func skipAsSuccess(v Verdict) Verdict {
	if v.Code == "Skip" {
		return success
	}
	return v
}

// disagrees reports whether plugin still disagrees for pod on cluster c,
// comparing rows only.
func (h *Harness) disagrees(ctx context.Context, c *Cluster, pod *corev1.Pod, plugin string, rows []Plugin) (bool, []Diff, error) {
	cl, pending, err := admitCase(c, []*corev1.Pod{pod})
	if err != nil {
		return false, nil, err
	}
	k, b, err := h.load(ctx, cl, rows)
	if err != nil {
		return false, nil, err
	}
	o := h.compare(k, b, pending[0], rows)
	k.close()
	b.close()
	return len(o.diffs[plugin]) > 0, o.diffs[plugin], nil
}

// shrink removes nodes, then bound pods, then storage objects (all at once
// first, then one at a time) while the plugin still disagrees, so the
// reproducer keeps only what the disagreement needs. A disagreement with no
// Score diff depends on the plugin alone, which is all that is loaded then;
// a Score diff depends on every filter (they choose the nodes scored).
func (h *Harness) shrink(ctx context.Context, d Disagreement) (Disagreement, error) {
	rows := h.plugins
	if !slices.ContainsFunc(d.Diffs, func(df Diff) bool { return df.Point == "Score" }) {
		rows = slices.DeleteFunc(slices.Clone(h.plugins), func(p Plugin) bool { return p.Name != d.Plugin })
	}
	c := &Cluster{Nodes: slices.Clone(d.Cluster.Nodes), Pods: slices.Clone(d.Cluster.Pods), Objects: slices.Clone(d.Cluster.Objects)}
	// try keeps try as the reproducer if the plugin still disagrees on it.
	try := func(try *Cluster) (bool, error) {
		ok, diffs, err := h.disagrees(ctx, try, d.Pod, d.Plugin, rows)
		if ok {
			c, d.Diffs = try, diffs
		}
		return ok, err
	}
	for i := 0; i < len(c.Nodes); {
		gone := c.Nodes[i].Name
		next := &Cluster{Nodes: slices.Delete(slices.Clone(c.Nodes), i, i+1), Objects: c.Objects}
		for _, p := range c.Pods {
			if p.Spec.NodeName != gone {
				next.Pods = append(next.Pods, p)
			}
		}
		if ok, err := try(next); err != nil {
			return d, err
		} else if !ok {
			i++
		}
	}
	if len(c.Pods) > 1 {
		if _, err := try(&Cluster{Nodes: c.Nodes, Objects: c.Objects}); err != nil {
			return d, err
		}
	}
	for i := 0; i < len(c.Pods); {
		if ok, err := try(&Cluster{Nodes: c.Nodes, Pods: slices.Delete(slices.Clone(c.Pods), i, i+1), Objects: c.Objects}); err != nil {
			return d, err
		} else if !ok {
			i++
		}
	}
	if len(c.Objects) > 1 {
		if _, err := try(&Cluster{Nodes: c.Nodes, Pods: c.Pods}); err != nil {
			return d, err
		}
	}
	for i := 0; i < len(c.Objects); {
		if ok, err := try(&Cluster{Nodes: c.Nodes, Pods: c.Pods, Objects: slices.Delete(slices.Clone(c.Objects), i, i+1)}); err != nil {
			return d, err
		} else if !ok {
			i++
		}
	}
	d.Cluster = c
	return d, nil
}
