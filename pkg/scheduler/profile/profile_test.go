package profile

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/metrics"
)

// fakePlugin is a Filter and Score plugin that counts its calls.
type fakePlugin struct {
	name    string
	score   int64
	filters atomic.Int32
	scores  atomic.Int32
	panics  bool
}

func (p *fakePlugin) Name() string { return p.name }
func (p *fakePlugin) Filter(context.Context, *framework.CycleState, *v1.Pod, *framework.NodeInfo) *framework.Status {
	p.filters.Add(1)
	if p.panics {
		panic("boom")
	}
	return nil
}
func (p *fakePlugin) Score(context.Context, *framework.CycleState, *v1.Pod, *framework.NodeInfo) (int64, *framework.Status) {
	p.scores.Add(1)
	return p.score, nil
}
func (p *fakePlugin) ScoreExtensions() framework.ScoreExtensions { return nil }

// scoreOnly implements Score but not Filter.
type scoreOnly struct{ fakePlugin }

func (p *scoreOnly) Filter() {}

type sortPlugin struct{}

func (sortPlugin) Name() string                            { return "Sort" }
func (sortPlugin) Less(a, b *framework.QueuedPodInfo) bool { return false }

type binderPlugin struct{}

func (binderPlugin) Name() string { return "Binder" }
func (binderPlugin) Bind(context.Context, *framework.CycleState, *v1.Pod, string) *framework.Status {
	return nil
}

func registryOf(pls ...framework.Plugin) framework.Registry {
	reg := framework.Registry{}
	for _, pl := range pls {
		pl := pl
		reg[pl.Name()] = framework.Registration{Factory: func(context.Context, runtime.Object, framework.Handle) (framework.Plugin, error) {
			return pl, nil
		}}
	}
	return reg
}

func refs(kv ...any) []config.PluginRef {
	var out []config.PluginRef
	for i := 0; i < len(kv); i += 2 {
		out = append(out, config.PluginRef{Name: kv[i].(string), Weight: int32(kv[i+1].(int))})
	}
	return out
}

func newProfile(t *testing.T, reg framework.Registry, plugins map[config.ExtensionPoint]config.PluginSet, m *metrics.Metrics) (*Profile, error) {
	t.Helper()
	return New(context.Background(), reg, config.Profile{SchedulerName: "test", Plugins: plugins},
		Options{Handle: st.NewHandle(nil), Metrics: m, Parallelism: 4})
}

func TestNewExpandsMultiPoint(t *testing.T) {
	a := &fakePlugin{name: "A", score: 10}
	b := &fakePlugin{name: "B", score: 20}
	c := &scoreOnly{fakePlugin{name: "C", score: 30}}
	reg := registryOf(sortPlugin{}, binderPlugin{}, a, b, c)
	prof, err := newProfile(t, reg, map[config.ExtensionPoint]config.PluginSet{
		config.MultiPoint: {Enabled: refs("Sort", 0, "A", 2, "B", 3, "C", 0, "Binder", 0)},
		// B configured explicitly at score: its weight wins and it comes
		// first; A is disabled at filter only.
		config.Score:  {Enabled: refs("B", 7)},
		config.Filter: {Disabled: []string{"A"}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"queueSort": {"Sort"},
		"filter":    {"B"},
		"score":     {"B(7)", "A(2)", "C(1)"},
		"bind":      {"Binder"},
	}
	if diff := cmp.Diff(want, prof.ListPlugins()); diff != "" {
		t.Errorf("ListPlugins (-want +got):\n%s", diff)
	}

	ctx := context.Background()
	state := framework.NewCycleState()
	pod := st.MakePod().Name("p").Obj()
	ni := framework.NewNodeInfo()
	ni.SetNode(st.MakeNode().Name("n").Obj())
	if st := prof.RunFilterPlugins(ctx, state, pod, ni); !st.IsSuccess() {
		t.Fatalf("RunFilterPlugins = %v", st)
	}
	if st := prof.FilterRunner(state)(ctx, pod, ni); !st.IsSuccess() {
		t.Fatalf("FilterRunner = %v", st)
	}
	if got := a.filters.Load(); got != 0 {
		t.Errorf("A's Filter ran %d times although A is disabled at filter", got)
	}
	if got := b.filters.Load(); got != 2 {
		t.Errorf("B's Filter ran %d times, want 2", got)
	}
	scores, st := prof.RunScorePlugins(ctx, state, pod, []*framework.NodeInfo{ni})
	if !st.IsSuccess() {
		t.Fatalf("RunScorePlugins = %v", st)
	}
	if got, want := scores[0].TotalScore, int64(7*20+2*10+1*30); got != want {
		t.Errorf("total score = %d, want %d", got, want)
	}
	wantScores := []PluginScore{{Name: "B", Score: 140}, {Name: "A", Score: 20}, {Name: "C", Score: 30}}
	if diff := cmp.Diff(wantScores, scores[0].Scores); diff != "" {
		t.Errorf("per-plugin scores (-want +got):\n%s", diff)
	}
}

func TestNewOrdersOverridesMultiPointThenRest(t *testing.T) {
	pls := []framework.Plugin{sortPlugin{}, binderPlugin{}}
	for _, n := range []string{"A", "B", "C", "D"} {
		pls = append(pls, &fakePlugin{name: n, score: 1})
	}
	prof, err := newProfile(t, registryOf(pls...), map[config.ExtensionPoint]config.PluginSet{
		config.MultiPoint: {Enabled: refs("Sort", 0, "A", 0, "B", 0, "C", 0, "Binder", 0)},
		// D is only here; C overrides its multiPoint entry.
		config.Filter: {Enabled: refs("D", 0, "C", 0)},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"C", "A", "B", "D"}, prof.ListPlugins()["filter"]); diff != "" {
		t.Errorf("filter order (-want +got):\n%s", diff)
	}
}

func TestNewErrors(t *testing.T) {
	reg := registryOf(sortPlugin{}, binderPlugin{}, &fakePlugin{name: "A"})
	tests := []struct {
		name    string
		plugins map[config.ExtensionPoint]config.PluginSet
		want    string
	}{
		{"unregistered", map[config.ExtensionPoint]config.PluginSet{config.MultiPoint: {Enabled: refs("Sort", 0, "Binder", 0, "Nope", 0)}}, `plugin "Nope" is not registered`},
		{"wrong point", map[config.ExtensionPoint]config.PluginSet{config.MultiPoint: {Enabled: refs("Sort", 0, "Binder", 0)}, config.Bind: {Enabled: refs("A", 0)}}, "does not implement"},
		{"no queue sort", map[config.ExtensionPoint]config.PluginSet{config.MultiPoint: {Enabled: refs("Binder", 0)}}, "no queueSort plugin"},
		{"no binder", map[config.ExtensionPoint]config.PluginSet{config.MultiPoint: {Enabled: refs("Sort", 0)}}, "no bind plugin"},
		{"all disabled at bind", map[config.ExtensionPoint]config.PluginSet{config.MultiPoint: {Enabled: refs("Sort", 0, "Binder", 0)}, config.Bind: {Disabled: []string{"*"}}}, "no bind plugin"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newProfile(t, reg, tc.plugins, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestRunFilterPluginsRecoversPanic(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry())
	p := &fakePlugin{name: "Panicky", panics: true}
	prof, err := newProfile(t, registryOf(sortPlugin{}, binderPlugin{}, p), map[config.ExtensionPoint]config.PluginSet{
		config.MultiPoint: {Enabled: refs("Sort", 0, "Binder", 0, "Panicky", 0)},
	}, m)
	if err != nil {
		t.Fatal(err)
	}
	ni := framework.NewNodeInfo()
	ni.SetNode(st.MakeNode().Name("n").Obj())
	got := prof.RunFilterPlugins(context.Background(), framework.NewCycleState(), st.MakePod().Name("p").Obj(), ni)
	if got.Code() != framework.Error || got.Plugin() != "Panicky" || !strings.Contains(got.Message(), "panicked") {
		t.Errorf("status = %v, want an Error from Panicky mentioning the panic", got)
	}
	var metric dto.Metric
	if err := m.PluginPanics.WithLabelValues("Panicky", "Filter").Write(&metric); err != nil {
		t.Fatal(err)
	}
	if v := metric.GetCounter().GetValue(); v != 1 {
		t.Errorf("berth_plugin_panics_total = %v, want 1", v)
	}
}

func TestParallelize(t *testing.T) {
	for _, n := range []int{0, 1, 7, 100, 1001} {
		for _, workers := range []int{1, 2, 16} {
			var mu sync.Mutex
			seen := make([]int, n)
			Parallelize(context.Background(), workers, n, func(i int) {
				mu.Lock()
				seen[i]++
				mu.Unlock()
			})
			if slices.ContainsFunc(seen, func(c int) bool { return c != 1 }) {
				t.Errorf("n=%d workers=%d: some index was not visited exactly once: %v", n, workers, seen)
			}
		}
	}
	t.Run("stops handing out work when cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var calls atomic.Int32
		Parallelize(ctx, 4, 10000, func(int) {
			if calls.Add(1) == 1 {
				cancel()
			}
		})
		// At most the chunks already taken (100 indexes each) finish.
		if got := calls.Load(); got > 4*100 {
			t.Errorf("%d calls after cancel, want at most 400", got)
		}
	})
}

// TestGetWaitingPodForUnknownPodIsNil documents a bug: the handle returns a
// typed nil inside the interface, so plugins checking "!= nil" call methods
// on a nil *waitingPod.
func TestGetWaitingPodForUnknownPodIsNil(t *testing.T) {
	prof, err := newProfile(t, registryOf(sortPlugin{}, binderPlugin{}), map[config.ExtensionPoint]config.PluginSet{
		config.MultiPoint: {Enabled: refs("Sort", 0, "Binder", 0)},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if wp := prof.Handle().GetWaitingPod("nope"); wp != nil {
		t.Errorf("GetWaitingPod(unknown) = %#v, want nil", wp)
	}
}

// syncingPlugin is a framework.SyncedPlugin whose sync a test flips.
type syncingPlugin struct {
	name   string
	synced atomic.Bool
}

func (p *syncingPlugin) Name() string    { return p.name }
func (p *syncingPlugin) HasSynced() bool { return p.synced.Load() }

func TestPluginsSynced(t *testing.T) {
	a, b := &syncingPlugin{name: "A"}, &syncingPlugin{name: "B"}
	p, err := NewFromPlugins("p", nil, a, b, &fakePlugin{name: "Plain"})
	if err != nil {
		t.Fatal(err)
	}
	if p.PluginsSynced() {
		t.Fatal("synced before any plugin did")
	}
	a.synced.Store(true)
	if p.PluginsSynced() {
		t.Fatal("synced while B has not")
	}
	b.synced.Store(true)
	if !p.PluginsSynced() {
		t.Fatal("not synced after every SyncedPlugin did (plugins without HasSynced count as synced)")
	}
}
