package netsim

import (
	"context"
	"reflect"
	"sync"
	"testing"

	"github.com/berthsched/berth/pkg/plugins"
)

// small is the small preset's report, run once for the tests that read
// it: what `go test` runs.
var small = sync.OnceValues(func() (*Report, error) {
	o, err := SizeOptions(SizeSmall)
	if err != nil {
		return nil, err
	}
	o.Registry = plugins.NewInTreeRegistry()
	return Run(context.Background(), o)
})

func smallReport(t *testing.T) *Report {
	t.Helper()
	rep, err := small()
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestSmallSamePacking: every policy places every pod and every call
// reaches a pod, so the policies compare at the same packing and on the
// same requests.
func TestSmallSamePacking(t *testing.T) {
	rep := smallReport(t)
	if len(rep.Results) != len(DefaultPolicies()) {
		t.Fatalf("%d results for %d policies", len(rep.Results), len(DefaultPolicies()))
	}
	if rep.RequestedCPU < DefaultRequestFraction-0.01 || rep.RequestedCPU > DefaultRequestFraction {
		t.Errorf("the pods request %.3f of the CPU, want about %v", rep.RequestedCPU, DefaultRequestFraction)
	}
	base := rep.Results[0]
	for _, r := range rep.Results {
		if r.Failed != 0 || float64(r.Placed) != rep.Pods || r.Unreached != 0 {
			t.Errorf("%s placed %d and failed %d of %.0f pods; %d calls unreached", r.Policy.Name, r.Placed, r.Failed, rep.Pods, r.Unreached)
		}
		if r.Requests != rep.Requests || r.Calls != base.Calls {
			t.Errorf("%s: %d requests made %d calls; %s: %d made %d", r.Policy.Name, r.Requests, r.Calls, base.Policy.Name, base.Requests, base.Calls)
		}
		if sum := r.SameNode + r.SameRack + r.SameZone + r.CrossZone; sum != r.Calls {
			t.Errorf("%s: the calls by distance add up to %d of %d", r.Policy.Name, sum, r.Calls)
		}
	}
	if got := base.CallsPerRequest(); got < 0.9*rep.CallsPerRequest || got > 1.1*rep.CallsPerRequest {
		t.Errorf("%.2f calls per request, the call graph expects %.2f", got, rep.CallsPerRequest)
	}
}

// TestSmallNetworkAwareFewerCrossZoneHops is the evaluation's claim at
// the small size: with NetworkAware a request crosses zones less often
// than with the default profile, which spreads every service over the
// zones so that about two calls in three cross.
func TestSmallNetworkAwareFewerCrossZoneHops(t *testing.T) {
	rep := smallReport(t)
	def, na := rep.Result(PolicyDefault), rep.Result(PolicyNetworkAware)
	if f := def.CrossZoneFraction(); f < 0.5 {
		t.Errorf("the default profile's calls cross zones %.0f%% of the time; spread over three zones they should about two times in three", 100*f)
	}
	if na.MeanCrossZoneHops() >= def.MeanCrossZoneHops() {
		t.Errorf("network-aware: %.3f cross-zone hops per request, default %.3f", na.MeanCrossZoneHops(), def.MeanCrossZoneHops())
	}
	if na.CrossZoneQuantile(0.95) > def.CrossZoneQuantile(0.95) {
		t.Errorf("network-aware's p95 %d is above the default's %d", na.CrossZoneQuantile(0.95), def.CrossZoneQuantile(0.95))
	}
	t.Logf("cross-zone hops per request: default %.3f, network-aware %.3f (%+.0f%%)", def.MeanCrossZoneHops(), na.MeanCrossZoneHops(),
		100*(rep.Relative(na)-1))
}

// TestDeterministic: a seed gives the same results whatever the
// parallelism, run after run.
func TestDeterministic(t *testing.T) {
	run := func(parallelism int) *Report {
		o, err := SizeOptions(SizeSmall)
		if err != nil {
			t.Fatal(err)
		}
		o.Registry, o.Parallelism, o.Seeds, o.Requests = plugins.NewInTreeRegistry(), parallelism, 2, 500
		o.Policies, err = PoliciesByName([]string{PolicyNetworkAware, PolicyDefault})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	a, b := run(1), run(4)
	for i := range a.Results {
		if !reflect.DeepEqual(a.Results[i].Metrics, b.Results[i].Metrics) || !reflect.DeepEqual(a.Results[i].SeedMeans, b.Results[i].SeedMeans) {
			t.Errorf("%s differs between runs:\n%+v\n%+v", a.Results[i].Policy.Name, a.Results[i].Metrics, b.Results[i].Metrics)
		}
	}
	if a.Results[0].Policy.Name != PolicyNetworkAware || len(a.Results[0].SeedMeans) != 2 {
		t.Errorf("policies %s, %d seeds: not as asked", a.Results[0].Policy.Name, len(a.Results[0].SeedMeans))
	}
}

// TestPreferZoneRouting: with calls kept in the caller's zone when the
// callee has a pod there, the default profile's spread pods cross zones
// far less than with random routing.
func TestPreferZoneRouting(t *testing.T) {
	o, err := SizeOptions(SizeSmall)
	if err != nil {
		t.Fatal(err)
	}
	o.Registry, o.Routing, o.Requests = plugins.NewInTreeRegistry(), RoutingPreferZone, 1000
	o.Policies, _ = PoliciesByName([]string{PolicyDefault})
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got, random := rep.Results[0].CrossZoneFraction(), smallReport(t).Results[0].CrossZoneFraction(); got >= random/2 {
		t.Errorf("prefer-zone: %.0f%% of the calls cross zones, random: %.0f%%", 100*got, 100*random)
	}
}

func TestOptionsRejected(t *testing.T) {
	reg := plugins.NewInTreeRegistry()
	for name, edit := range map[string]func(*Options){
		"no registry": func(o *Options) { o.Registry = nil },
		"order":       func(o *Options) { o.Order = "alphabetical" },
		"routing":     func(o *Options) { o.Routing = "nearest" },
		"too small":   func(o *Options) { o.Instances = 4 },
		"fraction":    func(o *Options) { o.RequestFraction = 1.5 },
		"no requests": func(o *Options) { o.Requests = 0 },
		"cyclic app": func(o *Options) {
			o.App = SocialNetwork()
			o.App.Services[6].Calls = []Call{{To: "compose-post", Rate: 1}}
		},
		"no instances":   func(o *Options) { o.Instances = 0 },
		"zones":          func(o *Options) { o.Cluster.Zones = 27 },
		"node capacity":  func(o *Options) { o.Cluster.NodeCPUMilli = 0 },
		"unknown callee": func(o *Options) { o.App = SocialNetwork(); o.App.Services[0].Calls[0].To = "home" },
	} {
		o, _ := SizeOptions(SizeSmall)
		o.Registry = reg
		edit(&o)
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := SizeOptions("huge"); err == nil {
		t.Error("size huge: no error")
	}
	if _, err := PoliciesByName([]string{"kube"}); err == nil {
		t.Error("policy kube: no error")
	}
}
