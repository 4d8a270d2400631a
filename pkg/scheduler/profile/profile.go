package profile

import (
	"context"
	"fmt"
	"reflect"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/metrics"
)

// scorer is a score plugin with its weight.
type scorer struct {
	framework.ScorePlugin
	weight int64
	// nodeLocal: the plugin implements framework.NodeLocalPlugin and says so.
	nodeLocal bool
}

// Profile is one configured plugin chain. Build it with New.
type Profile struct {
	name        string
	handle      framework.Handle
	metrics     *metrics.Metrics
	parallelism int
	// PercentageOfNodesToScore is the profile override, nil to inherit.
	PercentageOfNodesToScore *int32

	queueSort  framework.QueueSortPlugin
	preEnqueue []framework.PreEnqueuePlugin
	preFilter  []framework.PreFilterPlugin
	filter     []framework.FilterPlugin
	postFilter []framework.PostFilterPlugin
	preScore   []framework.PreScorePlugin
	score      []scorer
	reserve    []framework.ReservePlugin
	permit     []framework.PermitPlugin
	preBind    []framework.PreBindPlugin
	bind       []framework.BindPlugin
	postBind   []framework.PostBindPlugin
	plugins    map[string]framework.Plugin
	// group is the plugin that knows the profile's gangs (enabled at
	// PreEnqueue), or nil.
	group framework.GroupPlugin
	// groupPreemptor is the first PostFilter plugin that can preempt for
	// a whole gang, or nil.
	groupPreemptor framework.GroupPreemptor

	waiting *waitingPods
	// signers add their fragments to the pod's equivalence signature.
	signers []framework.SignatureContributor
	// nodeLocal records which plugins are framework.NodeLocalPlugin.
	nodeLocal map[string]bool
	// observers caches plugin-duration histogram series (observerKey ->
	// prometheus.Observer).
	observers sync.Map
	// scoreScratch is reused by RunScorePlugins across cycles.
	scoreScratch scoreScratch
}

// Options are what New needs besides the config.
type Options struct {
	// Handle is given to every plugin. New fills in GetWaitingPod by
	// wrapping it, so the handle's own GetWaitingPod is not used.
	Handle framework.Handle
	// Metrics records extension point durations and panics.
	Metrics *metrics.Metrics
	// Parallelism bounds concurrent Filter/Score calls.
	Parallelism int
	// Clock measures Permit wait timeouts; the scheduler passes its own so
	// that tests with a fake clock can step past a timeout. Nil means the
	// real clock.
	Clock clock.Clock
}

// handleWithWaiting adds this profile's waiting pods to the handle.
type handleWithWaiting struct {
	framework.Handle
	w *waitingPods
}

func (h handleWithWaiting) GetWaitingPod(uid string) framework.WaitingPod {
	// Return a true nil, not a nil *waitingPod inside the interface.
	if wp := h.w.get(uid); wp != nil {
		return wp
	}
	return nil
}

// New instantiates the profile's plugins from reg and sorts them into
// extension points, expanding multiPoint against the interfaces each
// plugin implements (plugins configured explicitly at a point come first
// and keep their own weight; a plugin disabled at a point is left out).
func New(ctx context.Context, reg framework.Registry, cfg config.Profile, opts Options) (*Profile, error) {
	p := &Profile{
		name:                     cfg.SchedulerName,
		metrics:                  opts.Metrics,
		parallelism:              opts.Parallelism,
		PercentageOfNodesToScore: cfg.PercentageOfNodesToScore,
		plugins:                  map[string]framework.Plugin{},
		nodeLocal:                map[string]bool{},
		waiting:                  newWaitingPods(opts.Clock),
	}
	if p.parallelism <= 0 {
		p.parallelism = 16
	}
	p.handle = handleWithWaiting{Handle: opts.Handle, w: p.waiting}

	needed := sets.New[string]()
	for _, set := range cfg.Plugins {
		for _, e := range set.Enabled {
			needed.Insert(e.Name)
		}
	}
	for _, name := range sets.List(needed) {
		r, ok := reg[name]
		if !ok {
			return nil, fmt.Errorf("profile %q: plugin %q is not registered", p.name, name)
		}
		pl, err := r.Factory(ctx, cfg.PluginArgs[name], p.handle)
		if err != nil {
			return nil, fmt.Errorf("profile %q: initializing plugin %q: %w", p.name, name, err)
		}
		p.register(pl)
	}

	multi := cfg.Plugins[config.MultiPoint]
	for _, ep := range config.ExtensionPoints {
		set := cfg.Plugins[ep]
		refs, err := expand(ep, set, multi, p.plugins)
		if err != nil {
			return nil, fmt.Errorf("profile %q: %w", p.name, err)
		}
		for _, ref := range refs {
			if err := p.add(ep, ref); err != nil {
				return nil, fmt.Errorf("profile %q: %w", p.name, err)
			}
		}
	}
	if p.queueSort == nil {
		return nil, fmt.Errorf("profile %q: no queueSort plugin enabled", p.name)
	}
	if len(p.bind) == 0 {
		return nil, fmt.Errorf("profile %q: no bind plugin enabled", p.name)
	}
	return p, nil
}

// NewFromPlugins builds a profile from plugin instances instead of a
// registry and a config: each plugin is enabled at every extension point
// it implements, in the order given, with weight 1, and keeps the handle
// it was built with. It is for tests and tools that assemble plugins by
// hand; unlike New it needs no queue-sort or bind plugin.
func NewFromPlugins(name string, h framework.Handle, plugins ...framework.Plugin) (*Profile, error) {
	p := &Profile{
		name:        name,
		handle:      h,
		parallelism: 16,
		plugins:     map[string]framework.Plugin{},
		nodeLocal:   map[string]bool{},
		waiting:     newWaitingPods(nil),
	}
	for _, pl := range plugins {
		if _, dup := p.plugins[pl.Name()]; dup {
			continue
		}
		p.register(pl)
		for _, ep := range config.ExtensionPoints {
			if implements(pl, ep) {
				if err := p.add(ep, config.PluginRef{Name: pl.Name()}); err != nil {
					return nil, fmt.Errorf("profile %q: %w", name, err)
				}
			}
		}
	}
	return p, nil
}

// register records an instantiated plugin and the optional abilities the
// engine asks of it.
func (p *Profile) register(pl framework.Plugin) {
	p.plugins[pl.Name()] = pl
	if nl, ok := pl.(framework.NodeLocalPlugin); ok && nl.NodeLocal() {
		p.nodeLocal[pl.Name()] = true
	}
	if sc, ok := pl.(framework.SignatureContributor); ok {
		p.signers = append(p.signers, sc)
	}
}

// expand resolves one extension point's final ordered plugin list.
func expand(ep config.ExtensionPoint, set, multi config.PluginSet, plugins map[string]framework.Plugin) ([]config.PluginRef, error) {
	disabled := sets.New(set.Disabled...)
	explicit := sets.New[string]()
	for _, e := range set.Enabled {
		explicit.Insert(e.Name)
	}
	var overrides, fromMulti, rest []config.PluginRef
	overridden := sets.New[string]()
	if !disabled.Has("*") {
		for _, e := range multi.Enabled {
			if !implements(plugins[e.Name], ep) || disabled.Has(e.Name) {
				continue
			}
			if explicit.Has(e.Name) {
				overridden.Insert(e.Name)
				continue
			}
			fromMulti = append(fromMulti, e)
		}
	}
	for _, e := range set.Enabled {
		if !implements(plugins[e.Name], ep) {
			return nil, fmt.Errorf("plugin %q is enabled at %s but does not implement it", e.Name, ep)
		}
		if overridden.Has(e.Name) {
			overrides = append(overrides, e)
		} else {
			rest = append(rest, e)
		}
	}
	return append(append(overrides, fromMulti...), rest...), nil
}

var pointTypes = map[config.ExtensionPoint]reflect.Type{
	config.PreEnqueue: reflect.TypeFor[framework.PreEnqueuePlugin](),
	config.QueueSort:  reflect.TypeFor[framework.QueueSortPlugin](),
	config.PreFilter:  reflect.TypeFor[framework.PreFilterPlugin](),
	config.Filter:     reflect.TypeFor[framework.FilterPlugin](),
	config.PostFilter: reflect.TypeFor[framework.PostFilterPlugin](),
	config.PreScore:   reflect.TypeFor[framework.PreScorePlugin](),
	config.Score:      reflect.TypeFor[framework.ScorePlugin](),
	config.Reserve:    reflect.TypeFor[framework.ReservePlugin](),
	config.Permit:     reflect.TypeFor[framework.PermitPlugin](),
	config.PreBind:    reflect.TypeFor[framework.PreBindPlugin](),
	config.Bind:       reflect.TypeFor[framework.BindPlugin](),
	config.PostBind:   reflect.TypeFor[framework.PostBindPlugin](),
}

func implements(pl framework.Plugin, ep config.ExtensionPoint) bool {
	return pl != nil && reflect.TypeOf(pl).Implements(pointTypes[ep])
}

func (p *Profile) add(ep config.ExtensionPoint, ref config.PluginRef) error {
	pl := p.plugins[ref.Name]
	switch ep {
	case config.PreEnqueue:
		p.preEnqueue = append(p.preEnqueue, pl.(framework.PreEnqueuePlugin))
		if g, ok := pl.(framework.GroupPlugin); ok {
			if p.group != nil && p.group.Name() != g.Name() {
				return fmt.Errorf("only one plugin that groups pods into gangs may be enabled, have %q and %q", p.group.Name(), g.Name())
			}
			p.group = g
		}
	case config.QueueSort:
		if p.queueSort != nil {
			return fmt.Errorf("only one queueSort plugin may be enabled, have %q and %q", p.queueSort.Name(), ref.Name)
		}
		p.queueSort = pl.(framework.QueueSortPlugin)
	case config.PreFilter:
		p.preFilter = append(p.preFilter, pl.(framework.PreFilterPlugin))
	case config.Filter:
		p.filter = append(p.filter, pl.(framework.FilterPlugin))
	case config.PostFilter:
		p.postFilter = append(p.postFilter, pl.(framework.PostFilterPlugin))
		if gp, ok := pl.(framework.GroupPreemptor); ok && p.groupPreemptor == nil {
			p.groupPreemptor = gp
		}
	case config.PreScore:
		p.preScore = append(p.preScore, pl.(framework.PreScorePlugin))
	case config.Score:
		w := int64(ref.Weight)
		if w == 0 {
			w = 1
		}
		p.score = append(p.score, scorer{ScorePlugin: pl.(framework.ScorePlugin), weight: w, nodeLocal: p.nodeLocal[ref.Name]})
	case config.Reserve:
		p.reserve = append(p.reserve, pl.(framework.ReservePlugin))
	case config.Permit:
		p.permit = append(p.permit, pl.(framework.PermitPlugin))
	case config.PreBind:
		p.preBind = append(p.preBind, pl.(framework.PreBindPlugin))
	case config.Bind:
		p.bind = append(p.bind, pl.(framework.BindPlugin))
	case config.PostBind:
		p.postBind = append(p.postBind, pl.(framework.PostBindPlugin))
	}
	return nil
}

// Name is the profile's schedulerName.
func (p *Profile) Name() string { return p.name }

// Handle returns the handle the plugins got.
func (p *Profile) Handle() framework.Handle { return p.handle }

// QueueSortLess is the queue's ordering.
func (p *Profile) QueueSortLess() func(a, b *framework.QueuedPodInfo) bool { return p.queueSort.Less }

// QueueSortName names the queue sort plugin (all profiles must agree).
func (p *Profile) QueueSortName() string { return p.queueSort.Name() }

// PreEnqueuePlugins are given to the queue.
func (p *Profile) PreEnqueuePlugins() []framework.PreEnqueuePlugin { return p.preEnqueue }

// GroupPlugin returns the plugin that groups the profile's pods into
// gangs, or nil when none is enabled.
func (p *Profile) GroupPlugin() framework.GroupPlugin { return p.group }

// GroupPreemptor returns the PostFilter plugin that preempts for whole
// gangs, or nil.
func (p *Profile) GroupPreemptor() framework.GroupPreemptor { return p.groupPreemptor }

// HasPostFilter reports whether any PostFilter plugin is enabled.
func (p *Profile) HasPostFilter() bool { return len(p.postFilter) > 0 }

// HasScorePlugins reports whether any Score plugin is enabled.
func (p *Profile) HasScorePlugins() bool { return len(p.score) > 0 }

// ListPlugins lists enabled plugin names by extension point, for logs and
// the effective-config dump.
func (p *Profile) ListPlugins() map[string][]string {
	out := map[string][]string{}
	add := func(ep string, pl framework.Plugin) { out[ep] = append(out[ep], pl.Name()) }
	add("queueSort", p.queueSort)
	for _, x := range p.preEnqueue {
		add("preEnqueue", x)
	}
	for _, x := range p.preFilter {
		add("preFilter", x)
	}
	for _, x := range p.filter {
		add("filter", x)
	}
	for _, x := range p.postFilter {
		add("postFilter", x)
	}
	for _, x := range p.preScore {
		add("preScore", x)
	}
	for _, x := range p.score {
		out["score"] = append(out["score"], fmt.Sprintf("%s(%d)", x.Name(), x.weight))
	}
	for _, x := range p.reserve {
		add("reserve", x)
	}
	for _, x := range p.permit {
		add("permit", x)
	}
	for _, x := range p.preBind {
		add("preBind", x)
	}
	for _, x := range p.bind {
		add("bind", x)
	}
	for _, x := range p.postBind {
		add("postBind", x)
	}
	return out
}

// ClusterEvents collects the events every plugin registered, by plugin
// name, for the queue's event-driven requeue. Plugins that can reject pods
// but register nothing get a wildcard (any event requeues), so a pod is
// never stranded.
func (p *Profile) ClusterEvents(ctx context.Context) (map[string][]framework.ClusterEventWithHint, error) {
	out := map[string][]framework.ClusterEventWithHint{}
	for name, pl := range p.plugins {
		ext, ok := pl.(framework.EnqueueExtensions)
		if !ok {
			out[name] = []framework.ClusterEventWithHint{{Event: framework.ClusterEvent{Resource: framework.WildCard, ActionType: framework.All, Label: "WildCard"}}}
			continue
		}
		evs, err := ext.EventsToRegister(ctx)
		if err != nil {
			return nil, fmt.Errorf("plugin %q: EventsToRegister: %w", name, err)
		}
		out[name] = evs
	}
	return out, nil
}

// EventSources collects the resources the profile's plugins declared how to
// watch (framework.EventSourcer).
func (p *Profile) EventSources() []framework.EventSource {
	var out []framework.EventSource
	for _, name := range sets.List(sets.KeySet(p.plugins)) {
		if es, ok := p.plugins[name].(framework.EventSourcer); ok {
			out = append(out, es.EventSources()...)
		}
	}
	return out
}

// recoverPanic turns a plugin panic into an Error status, logs the stack and
// counts it. Use as: defer p.recoverPanic(ctx, plugin, point, &status).
func (p *Profile) recoverPanic(ctx context.Context, plugin, point string, st **framework.Status) {
	if r := recover(); r != nil {
		logger := klog.FromContext(ctx)
		logger.Error(fmt.Errorf("panic: %v", r), "Plugin panicked", "plugin", plugin, "extensionPoint", point, "stack", string(stack()))
		if p.metrics != nil {
			p.metrics.PluginPanics.WithLabelValues(plugin, point).Inc()
		}
		*st = framework.NewStatus(framework.Error, fmt.Sprintf("plugin %s panicked in %s: %v", plugin, point, r)).WithPlugin(plugin)
	}
}

var stackPool = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// SignatureFragments returns the fragments the profile's plugins add to
// pod's equivalence signature (framework.SignatureContributor), in plugin
// name order; nil when no plugin contributes.
func (p *Profile) SignatureFragments(pod *v1.Pod) []string {
	if len(p.signers) == 0 {
		return nil
	}
	out := make([]string, len(p.signers))
	for i, sc := range p.signers {
		out[i] = sc.Name() + "=" + sc.SignatureFragment(pod)
	}
	return out
}

// PluginsSynced reports whether every plugin of the profile that is a
// framework.SyncedPlugin has synced.
func (p *Profile) PluginsSynced() bool {
	for _, pl := range p.plugins {
		if s, ok := pl.(framework.SyncedPlugin); ok && !s.HasSynced() {
			return false
		}
	}
	return true
}

// ExplainScore collects, in score order, what the Score plugins that
// implement framework.ScoreExplainer say about a node's score for pod,
// each prefixed by the plugin's name.
func (p *Profile) ExplainScore(state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) []string {
	var out []string
	for _, sc := range p.score {
		se, ok := sc.ScorePlugin.(framework.ScoreExplainer)
		if !ok {
			continue
		}
		if msg := se.ExplainScore(state, pod, ni); msg != "" {
			out = append(out, sc.Name()+": "+msg)
		}
	}
	return out
}

// ExplainFailure collects the explanations of the given Filter plugins
// that implement framework.FailureExplainer, in filter order, each
// prefixed by the plugin's name.
func (p *Profile) ExplainFailure(state *framework.CycleState, pod *v1.Pod, plugins sets.Set[string]) []string {
	var out []string
	for _, pl := range p.filter {
		fe, ok := pl.(framework.FailureExplainer)
		if !ok || !plugins.Has(pl.Name()) {
			continue
		}
		if msg := fe.ExplainFailure(state, pod); msg != "" {
			out = append(out, pl.Name()+": "+msg)
		}
	}
	return out
}
