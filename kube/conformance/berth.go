package conformance

import (
	"context"
	"fmt"
	"sort"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/config"
	berthfw "github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/scheduler/cache"
)

// berth builds berth's plugins with the args of berth's default profile.
type berth struct {
	registry berthfw.Registry
	args     map[string]runtime.Object
}

func newBerth(reg berthfw.Registry) (*berth, error) {
	cfg, err := config.Load(nil, reg)
	if err != nil {
		return nil, fmt.Errorf("berth default config: %w", err)
	}
	return &berth{registry: reg, args: cfg.Profiles[0].PluginArgs}, nil
}

// load is oracle.load for berth's plugins.
func (b *berth) load(ctx context.Context, c *Cluster, names []string) (loaded, error) {
	ctx, cancel := context.WithCancel(ctx)
	client, inf := newAPI(c)
	s := &berthSide{ctx: ctx, plugins: map[string]berthfw.Plugin{}, stop: func() { cancel(); inf.Shutdown() }}
	snap := cache.NewSnapshot(c.Pods, c.Nodes)
	h := &st.Handle{Lister: snap, Client: client, Informers: inf, Recorder: &events.FakeRecorder{}}
	for _, n := range names {
		reg, ok := b.registry[n]
		if !ok {
			continue
		}
		p, err := reg.Factory(ctx, b.args[n], h)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("berth plugin %s: %w", n, err)
		}
		s.plugins[n] = p
	}
	inf.Start(ctx.Done())
	inf.WaitForCacheSync(ctx.Done())
	if err := waitSynced(ctx, s.plugins); err != nil {
		s.close()
		return nil, err
	}
	s.nodes = append([]*berthfw.NodeInfo(nil), snap.NodeInfos().List()...)
	sort.Slice(s.nodes, func(i, j int) bool { return s.nodes[i].Node().Name < s.nodes[j].Node().Name })
	s.byName = map[string]*berthfw.NodeInfo{}
	for _, ni := range s.nodes {
		s.byName[ni.Node().Name] = ni
		s.names = append(s.names, ni.Node().Name)
	}
	return s, nil
}

type berthSide struct {
	ctx     context.Context
	stop    func()
	plugins map[string]berthfw.Plugin
	nodes   []*berthfw.NodeInfo
	names   []string
	byName  map[string]*berthfw.NodeInfo
	states  map[string]*berthfw.CycleState
}

func bverdict(s *berthfw.Status) Verdict {
	if s == nil {
		return success
	}
	return newVerdict(s.Code().String(), s.Reasons())
}

func (s *berthSide) Implements(name string) (filter, score, ok bool) {
	p, ok := s.plugins[name]
	if !ok {
		return false, false, false
	}
	_, filter = p.(berthfw.FilterPlugin)
	_, score = p.(berthfw.ScorePlugin)
	return filter, score, true
}

func (s *berthSide) state(name string) *berthfw.CycleState {
	if s.states == nil {
		s.states = map[string]*berthfw.CycleState{}
	}
	st, ok := s.states[name]
	if !ok {
		st = berthfw.NewCycleState()
		s.states[name] = st
	}
	return st
}

func (s *berthSide) reset() { s.states = nil }

func (s *berthSide) nodeNames() []string { return s.names }

func (s *berthSide) close() { s.stop() }

func (s *berthSide) Filter(name string, pod *v1.Pod) FilterResult {
	p := s.plugins[name]
	st := s.state(name)
	var res FilterResult
	res.PreFilter = success
	if pf, ok := p.(berthfw.PreFilterPlugin); ok {
		r, status := pf.PreFilter(s.ctx, st, pod, s.nodes)
		res.PreFilter = bverdict(status)
		if status.IsSuccess() && !r.AllNodes() {
			res.Narrowed = sortedKeys(r.NodeNames)
		}
	}
	f := p.(berthfw.FilterPlugin)
	res.Nodes = effective(name, s.names, res.PreFilter, res.Narrowed, func(n string) Verdict {
		return bverdict(f.Filter(s.ctx, st, pod, s.byName[n]))
	})
	return res
}

func (s *berthSide) Score(name string, pod *v1.Pod, nodes []string) ScoreResult {
	p := s.plugins[name].(berthfw.ScorePlugin)
	st := s.state(name)
	infos := make([]*berthfw.NodeInfo, len(nodes))
	for i, n := range nodes {
		infos[i] = s.byName[n]
	}
	res := ScoreResult{PreScore: success, Failure: success, Scores: map[string]int64{}}
	if ps, ok := p.(berthfw.PreScorePlugin); ok {
		status := ps.PreScore(s.ctx, st, pod, infos)
		res.PreScore = bverdict(status)
		if status.IsSkip() || !status.IsSuccess() {
			for _, n := range nodes {
				res.Scores[n] = 0
			}
			return res
		}
	}
	list := make(berthfw.NodeScoreList, len(nodes))
	for i, ni := range infos {
		sc, status := p.Score(s.ctx, st, pod, ni)
		if !status.IsSuccess() {
			res.Failure = bverdict(status)
			return res
		}
		list[i] = berthfw.NodeScore{Name: nodes[i], Score: sc}
	}
	if ext := p.ScoreExtensions(); ext != nil {
		if status := ext.NormalizeScore(s.ctx, st, pod, list); !status.IsSuccess() {
			res.Failure = bverdict(status)
			return res
		}
	}
	for _, ns := range list {
		res.Scores[ns.Name] = ns.Score
	}
	return res
}
