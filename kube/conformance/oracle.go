package conformance

import (
	"context"
	"fmt"
	"slices"
	"sort"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/apis/config/latest"
	kcache "k8s.io/kubernetes/pkg/scheduler/backend/cache"
	kframework "k8s.io/kubernetes/pkg/scheduler/framework"
	kplugins "k8s.io/kubernetes/pkg/scheduler/framework/plugins"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/nodevolumelimits"
	kruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	kmetrics "k8s.io/kubernetes/pkg/scheduler/metrics"
)

// oracle builds kube-scheduler's own plugins, as its default profile
// configures them, over one cluster at a time.
type oracle struct {
	registry kruntime.Registry
	args     map[string]runtime.Object
}

func newOracle() (*oracle, error) {
	// Some plugins record metrics; the vectors are nil until registered.
	kmetrics.Register()
	cfg, err := latest.Default()
	if err != nil {
		return nil, fmt.Errorf("kube-scheduler default config: %w", err)
	}
	args := map[string]runtime.Object{}
	for _, pc := range cfg.Profiles[0].PluginConfig {
		args[pc.Name] = pc.Args
	}
	return &oracle{registry: kplugins.NewInTreeRegistry(), args: args}, nil
}

// load instantiates the named plugins over a snapshot of c, with a fresh
// fake API server and informer factory holding c's API objects. The caller
// must close the returned side.
func (o *oracle) load(ctx context.Context, c *Cluster, names []string) (loaded, error) {
	ctx, cancel := context.WithCancel(ctx)
	client, inf := newAPI(c)
	dra, err := newOracleDRA(ctx, client, inf, c, names)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &oracleSide{ctx: ctx, plugins: map[string]fwk.Plugin{}, stop: func() { cancel(); dra.stop(); inf.Shutdown() }}
	snap := kcache.NewSnapshot(c.Pods, c.Nodes)
	h, err := kruntime.NewFramework(ctx, nil, nil,
		kruntime.WithClientSet(client),
		kruntime.WithInformerFactory(inf),
		kruntime.WithSnapshotSharedLister(snap),
		// As scheduler.New wires it (oracle_dra.go).
		kruntime.WithSharedDRAManager(dra.manager),
		// As kube-scheduler's scheduler.New wires it.
		kruntime.WithSharedCSIManager(nodevolumelimits.NewCSIManager(inf.Storage().V1().CSINodes().Lister())),
	)
	if err != nil {
		s.close()
		return nil, err
	}
	for _, n := range names {
		factory, ok := o.registry[n]
		if !ok {
			continue
		}
		p, err := factory(ctx, o.args[n], h)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("kube-scheduler plugin %s: %w", n, err)
		}
		s.plugins[n] = p
	}
	// Plugins register the informers they list from in New.
	inf.Start(ctx.Done())
	inf.WaitForCacheSync(ctx.Done())
	if err := dra.wait(ctx); err != nil {
		s.close()
		return nil, err
	}
	s.nodes, err = snap.NodeInfos().List()
	if err != nil {
		s.close()
		return nil, err
	}
	sort.Slice(s.nodes, func(i, j int) bool { return s.nodes[i].Node().Name < s.nodes[j].Node().Name })
	s.byName = map[string]fwk.NodeInfo{}
	for _, ni := range s.nodes {
		s.byName[ni.Node().Name] = ni
		s.names = append(s.names, ni.Node().Name)
	}
	return s, nil
}

type oracleSide struct {
	ctx     context.Context
	stop    func()
	plugins map[string]fwk.Plugin
	nodes   []fwk.NodeInfo
	names   []string
	byName  map[string]fwk.NodeInfo
	// states keeps each plugin's cycle state from Filter to Score, as one
	// scheduling cycle does.
	states map[string]fwk.CycleState
}

func kverdict(s *fwk.Status) Verdict {
	if s == nil {
		return success
	}
	return newVerdict(s.Code().String(), s.Reasons())
}

func (s *oracleSide) Implements(name string) (filter, score, ok bool) {
	p, ok := s.plugins[name]
	if !ok {
		return false, false, false
	}
	_, filter = p.(fwk.FilterPlugin)
	_, score = p.(fwk.ScorePlugin)
	return filter, score, true
}

func (s *oracleSide) state(name string) fwk.CycleState {
	if s.states == nil {
		s.states = map[string]fwk.CycleState{}
	}
	st, ok := s.states[name]
	if !ok {
		st = kframework.NewCycleState()
		s.states[name] = st
	}
	return st
}

func (s *oracleSide) reset() { s.states = nil }

func (s *oracleSide) nodeNames() []string { return s.names }

// close stops the side's informers.
func (s *oracleSide) close() { s.stop() }

func (s *oracleSide) Filter(name string, pod *v1.Pod) FilterResult {
	p := s.plugins[name]
	st := s.state(name)
	var res FilterResult
	res.PreFilter = success
	if pf, ok := p.(fwk.PreFilterPlugin); ok {
		r, status := pf.PreFilter(s.ctx, st, pod, s.nodes)
		res.PreFilter = kverdict(status)
		if status.IsSuccess() && !r.AllNodes() {
			res.Narrowed = sortedKeys(r.NodeNames)
		}
	}
	f := p.(fwk.FilterPlugin)
	res.Nodes = effective(name, s.names, res.PreFilter, res.Narrowed, func(n string) Verdict {
		return kverdict(f.Filter(s.ctx, st, pod, s.byName[n]))
	})
	return res
}

func (s *oracleSide) Score(name string, pod *v1.Pod, nodes []string) ScoreResult {
	p := s.plugins[name].(fwk.ScorePlugin)
	st := s.state(name)
	infos := make([]fwk.NodeInfo, len(nodes))
	for i, n := range nodes {
		infos[i] = s.byName[n]
	}
	res := ScoreResult{PreScore: success, Failure: success, Scores: map[string]int64{}}
	if ps, ok := p.(fwk.PreScorePlugin); ok {
		status := ps.PreScore(s.ctx, st, pod, infos)
		res.PreScore = kverdict(status)
		if status.IsSkip() || !status.IsSuccess() {
			for _, n := range nodes {
				res.Scores[n] = 0
			}
			return res
		}
	}
	list := make(fwk.NodeScoreList, len(nodes))
	for i, ni := range infos {
		sc, status := p.Score(s.ctx, st, pod, ni)
		if !status.IsSuccess() {
			res.Failure = kverdict(status)
			return res
		}
		list[i] = fwk.NodeScore{Name: nodes[i], Score: sc}
	}
	if ext := p.ScoreExtensions(); ext != nil {
		if status := ext.NormalizeScore(s.ctx, st, pod, list); !status.IsSuccess() {
			res.Failure = kverdict(status)
			return res
		}
	}
	for _, ns := range list {
		res.Scores[ns.Name] = ns.Score
	}
	return res
}

func sortedKeys[M ~map[K]V, K ~string, V any](m M) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
