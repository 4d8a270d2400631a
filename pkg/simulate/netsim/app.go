package netsim

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/berthsched/berth/pkg/placement/network"
)

// App is a microservice application: its services and the one a request
// enters at.
type App struct {
	// Name labels the application in reports.
	Name string `json:"name"`
	// Entry is the service requests enter at (behind an ingress, which is
	// not modelled).
	Entry string `json:"entry"`
	// Services are the application's services; every call names one of
	// them, and the calls form no cycle.
	Services []Service `json:"services"`
}

// Service is one Deployment of the application.
type Service struct {
	// Name is the service's name and its pods' app label.
	Name string `json:"name"`
	// Replicas is the number of pods.
	Replicas int `json:"replicas"`
	// CPUMilli and MemoryMiB are each pod's requests.
	CPUMilli  int64 `json:"cpuMilli"`
	MemoryMiB int64 `json:"memoryMiB"`
	// Calls are what the service calls for each request it serves.
	Calls []Call `json:"calls,omitempty"`
}

// Call is an edge of the call graph.
type Call struct {
	// To names the service called.
	To string `json:"to"`
	// Rate is the expected number of calls per request the caller
	// serves: the whole part is always made, the fraction with that
	// probability (0.3: a cache miss three times in ten).
	Rate float64 `json:"rate"`
}

// SocialNetwork is an application shaped like DeathStarBench's social
// network (Gan et al., ASPLOS '19): an nginx front end; the
// home-timeline, user-timeline and compose-post services with their
// helpers; memcached, Redis and MongoDB behind them. Requests follow its
// default mix, 60 % read home timeline, 30 % read user timeline, 10 %
// compose post, as rates on the front end's calls; the replica counts
// and requests are this simulation's (DeathStarBench deploys one replica
// of everything). 21 services, 40 pods, 27.5 CPUs.
func SocialNetwork() App {
	const gi = 1024
	svc := func(name string, replicas int, cpu, mem int64, calls ...Call) Service {
		return Service{Name: name, Replicas: replicas, CPUMilli: cpu, MemoryMiB: mem, Calls: calls}
	}
	c := func(to string, rate float64) Call { return Call{To: to, Rate: rate} }
	return App{Name: "social-network", Entry: "nginx-thrift", Services: []Service{
		svc("nginx-thrift", 3, 1000, 1*gi, c("home-timeline", 0.6), c("user-timeline", 0.3), c("compose-post", 0.1)),
		svc("compose-post", 2, 500, gi/2, c("unique-id", 1), c("text", 1), c("media", 1), c("user", 1),
			c("user-timeline", 1), c("home-timeline", 1), c("post-storage", 1)),
		svc("home-timeline", 3, 500, gi/2, c("home-timeline-redis", 1), c("post-storage", 1), c("social-graph", 0.15)),
		svc("user-timeline", 3, 500, gi/2, c("user-timeline-redis", 1), c("user-timeline-mongodb", 0.3), c("post-storage", 1)),
		svc("post-storage", 3, 500, gi/2, c("post-storage-memcached", 1), c("post-storage-mongodb", 0.2)),
		svc("social-graph", 2, 500, gi/2, c("social-graph-redis", 1), c("social-graph-mongodb", 0.2)),
		svc("text", 2, 250, gi/4, c("url-shorten", 1), c("user-mention", 1)),
		svc("user", 2, 250, gi/4, c("user-mongodb", 1)),
		svc("media", 2, 250, gi/4),
		svc("unique-id", 2, 250, gi/4),
		svc("url-shorten", 2, 250, gi/4, c("url-shorten-mongodb", 1)),
		svc("user-mention", 2, 250, gi/4, c("user-mongodb", 1)),
		svc("post-storage-memcached", 2, 1000, 4*gi),
		svc("post-storage-mongodb", 1, 2000, 8*gi),
		svc("home-timeline-redis", 2, 1000, 4*gi),
		svc("user-timeline-redis", 2, 1000, 4*gi),
		svc("user-timeline-mongodb", 1, 2000, 8*gi),
		svc("social-graph-redis", 1, 1000, 4*gi),
		svc("social-graph-mongodb", 1, 2000, 8*gi),
		svc("user-mongodb", 1, 1000, 4*gi),
		svc("url-shorten-mongodb", 1, 1000, 4*gi),
	}}
}

// graph is a validated App with its services indexed and ordered.
type graph struct {
	app   *App
	index map[string]int
	// order lists the services callers first (a topological order).
	order []int
	// calls[i] are service i's calls by index.
	calls [][]edge
	// invocations[i] is how often service i serves per request.
	invocations []float64
}

type edge struct {
	to   int
	rate float64
}

// newGraph checks the application and derives its call graph: unique
// service names, at least one replica and positive requests each, calls
// to known services at a positive rate, none repeated, no cycle, and
// every service reachable from the entry.
func newGraph(app *App) (*graph, error) {
	g := &graph{app: app, index: map[string]int{}}
	if len(app.Services) == 0 {
		return nil, errors.New("the application has no service")
	}
	for i, s := range app.Services {
		_, dup := g.index[s.Name]
		switch {
		case s.Name == "":
			return nil, fmt.Errorf("service %d has no name", i)
		case dup:
			return nil, fmt.Errorf("service %q is defined twice", s.Name)
		case s.Replicas < 1 || s.CPUMilli <= 0 || s.MemoryMiB <= 0:
			return nil, fmt.Errorf("service %q needs at least one replica and positive requests", s.Name)
		}
		g.index[s.Name] = i
	}
	entry, ok := g.index[app.Entry]
	if !ok {
		return nil, fmt.Errorf("the entry %q is not a service", app.Entry)
	}
	g.calls = make([][]edge, len(app.Services))
	indegree := make([]int, len(app.Services))
	for i, s := range app.Services {
		seen := map[string]bool{}
		for _, c := range s.Calls {
			to, ok := g.index[c.To]
			switch {
			case !ok:
				return nil, fmt.Errorf("service %q calls %q, which is not a service", s.Name, c.To)
			case seen[c.To]:
				return nil, fmt.Errorf("service %q calls %q twice", s.Name, c.To)
			case !(c.Rate > 0) || math.IsInf(c.Rate, 0):
				return nil, fmt.Errorf("service %q calls %q at rate %v; want a positive rate", s.Name, c.To, c.Rate)
			}
			seen[c.To] = true
			g.calls[i] = append(g.calls[i], edge{to: to, rate: c.Rate})
			indegree[to]++
		}
	}
	// Kahn's algorithm, in definition order among the ready services.
	for ready := []int{}; ; {
		ready = ready[:0]
		for i, d := range indegree {
			if d == 0 {
				ready = append(ready, i)
			}
		}
		if len(ready) == 0 {
			break
		}
		for _, i := range ready {
			indegree[i] = -1
			g.order = append(g.order, i)
			for _, e := range g.calls[i] {
				indegree[e.to]--
			}
		}
	}
	if len(g.order) != len(app.Services) {
		return nil, errors.New("the calls form a cycle")
	}
	g.invocations = make([]float64, len(app.Services))
	g.invocations[entry] = 1
	for _, i := range g.order {
		for _, e := range g.calls[i] {
			g.invocations[e.to] += g.invocations[i] * e.rate
		}
	}
	for i, s := range app.Services {
		if g.invocations[i] == 0 {
			return nil, fmt.Errorf("service %q is not reached from the entry %q", s.Name, app.Entry)
		}
	}
	return g, nil
}

// weight is the berth.io/talks-to weight of an edge: its calls per
// request (the caller's invocations times the rate), times ten, rounded,
// within 1..network.MaxWeight. It is what an operator would write from
// the services' request rates.
func (g *graph) weight(from int, e edge) int64 {
	w := int64(math.Round(10 * g.invocations[from] * e.rate))
	return min(max(w, 1), network.MaxWeight)
}

// talksTo is service i's berth.io/talks-to annotation: "app=<callee>:<weight>"
// for each call, in the order they are defined; "" for a service that
// calls nothing.
func (g *graph) talksTo(i int) string {
	terms := make([]string, len(g.calls[i]))
	for k, e := range g.calls[i] {
		terms[k] = AppLabel + "=" + g.app.Services[e.to].Name + ":" + strconv.FormatInt(g.weight(i, e), 10)
	}
	return strings.Join(terms, ",")
}

// callsPerRequest is the expected number of calls a request makes.
func (g *graph) callsPerRequest() float64 {
	var sum float64
	for i := range g.calls {
		for _, e := range g.calls[i] {
			sum += g.invocations[i] * e.rate
		}
	}
	return sum
}
