package netsim

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/berthsched/berth/pkg/placement/network"
)

func TestSocialNetworkGraph(t *testing.T) {
	app := SocialNetwork()
	g, err := newGraph(&app)
	if err != nil {
		t.Fatal(err)
	}
	if len(app.Services) != 21 {
		t.Errorf("%d services", len(app.Services))
	}
	pods, cpu := 0, int64(0)
	for _, s := range app.Services {
		pods += s.Replicas
		cpu += int64(s.Replicas) * s.CPUMilli
	}
	if pods != 40 || cpu != 27500 {
		t.Errorf("%d pods requesting %dm, the doc says 40 and 27.5 CPUs", pods, cpu)
	}
	if g.order[0] != g.index[app.Entry] {
		t.Errorf("the entry is not first in the topological order: %v", g.order)
	}
	// home-timeline is reached by 0.6 of the requests from the front end
	// and by every compose-post (0.1).
	if inv := g.invocations[g.index["home-timeline"]]; math.Abs(inv-0.7) > 1e-9 {
		t.Errorf("home-timeline serves %v times per request, want 0.7", inv)
	}
	if got := g.talksTo(g.index["nginx-thrift"]); got != "app=home-timeline:6,app=user-timeline:3,app=compose-post:1" {
		t.Errorf("nginx-thrift's annotation: %q", got)
	}
	if got := g.talksTo(g.index["media"]); got != "" {
		t.Errorf("media calls nothing, yet its annotation is %q", got)
	}
	for i := range app.Services {
		terms, err := network.ParseTalksTo(g.talksTo(i))
		if err != nil || len(terms) != len(app.Services[i].Calls) {
			t.Errorf("%s: %v, %d terms for %d calls", app.Services[i].Name, err, len(terms), len(app.Services[i].Calls))
		}
	}
	// nginx (1) → home-timeline (0.6) → post-storage (1) → memcached (1)
	// …: a little over six calls per request.
	if c := g.callsPerRequest(); c < 6 || c > 6.5 {
		t.Errorf("%v calls per request", c)
	}
}

func TestGraphRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		app  App
		want string
	}{
		"no service": {App{Entry: "a"}, "no service"},
		"duplicate":  {App{Entry: "a", Services: []Service{svc("a"), svc("a")}}, "defined twice"},
		"no replica": {App{Entry: "a", Services: []Service{{Name: "a", CPUMilli: 1, MemoryMiB: 1}}}, "at least one replica"},
		"entry":      {App{Entry: "b", Services: []Service{svc("a")}}, "entry"},
		"callee":     {App{Entry: "a", Services: []Service{svc("a", "b")}}, "not a service"},
		"twice":      {App{Entry: "a", Services: []Service{svc("a", "b", "b"), svc("b")}}, "twice"},
		"cycle":      {App{Entry: "a", Services: []Service{svc("a", "b"), svc("b", "c"), svc("c", "b")}}, "cycle"},
		"unreached":  {App{Entry: "a", Services: []Service{svc("a"), svc("b")}}, "not reached"},
		"rate":       {App{Entry: "a", Services: []Service{{Name: "a", Replicas: 1, CPUMilli: 1, MemoryMiB: 1, Calls: []Call{{To: "b"}}}, svc("b")}}, "positive rate"},
	} {
		if _, err := newGraph(&tc.app); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
	}
}

func svc(name string, calls ...string) Service {
	s := Service{Name: name, Replicas: 1, CPUMilli: 100, MemoryMiB: 100}
	for _, c := range calls {
		s.Calls = append(s.Calls, Call{To: c, Rate: 1})
	}
	return s
}

// TestGenerate: the background tops the requests up to the fraction,
// every replica arrives once, in time order, and the orders do what they
// say.
func TestGenerate(t *testing.T) {
	app := SocialNetwork()
	g, err := newGraph(&app)
	if err != nil {
		t.Fatal(err)
	}
	const capacity = 200000
	for _, order := range Orders {
		w, err := generate(g, 2, order, capacity, 0.65, 0.5, 7)
		if err != nil {
			t.Fatal(err)
		}
		if w.AppCPUMilli != 2*27500 || w.AppCPUMilli+w.BackgroundCPUMilli != 130000 {
			t.Errorf("%s: app %dm + background %dm, want 55000m and 130000m in all", order, w.AppCPUMilli, w.BackgroundCPUMilli)
		}
		seen := map[[2]int]bool{}
		var first []string // instance 1's services in order of first arrival
		for i, a := range w.Arrivals {
			if i > 0 && a.At < w.Arrivals[i-1].At {
				t.Fatalf("%s: arrivals out of order at %d", order, i)
			}
			seen[[2]int{a.Deployment, a.Replica}] = true
			if d := w.Deployments[a.Deployment]; d.Instance == 0 && !slices.Contains(first, d.Name) {
				first = append(first, d.Name)
			}
		}
		want := 0
		for _, d := range w.Deployments {
			want += d.Replicas
		}
		if len(seen) != want || len(w.Arrivals) != want {
			t.Errorf("%s: %d arrivals, %d distinct, of %d pods", order, len(w.Arrivals), len(seen), want)
		}
		switch order {
		case OrderCallersFirst:
			if first[0] != app.Entry {
				t.Errorf("callers-first: %v", first)
			}
		case OrderCalleesFirst:
			if first[len(first)-1] != app.Entry {
				t.Errorf("callees-first: %v", first)
			}
		}
	}
	if _, err := generate(g, 8, OrderShuffled, capacity, 0.65, 0.5, 1); err == nil {
		t.Error("eight instances (220 CPUs) fit in 65% of 200 CPUs")
	}
}

func TestCrossZoneQuantile(t *testing.T) {
	m := &Metrics{Requests: 20, Hops: []int{10, 5, 4, 1}}
	for q, want := range map[float64]int{0.5: 0, 0.51: 1, 0.75: 1, 0.95: 2, 0.96: 3, 1: 3} {
		if got := m.CrossZoneQuantile(q); got != want {
			t.Errorf("q %v: %d, want %d", q, got, want)
		}
	}
}
