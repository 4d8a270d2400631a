package netsim

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"

	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/networkaware"
	"github.com/berthsched/berth/pkg/scheduler/profile"
)

// ProfileName is the schedulerName of the simulation's profile.
const ProfileName = "berth-netsim"

// The policies' names.
const (
	// PolicyDefault is berth's default profile: kube-scheduler's default
	// plugins and weights.
	PolicyDefault = "default"
	// PolicyNetworkAware adds NetworkAware at weight 5, as
	// docs/network-aware.md configures it.
	PolicyNetworkAware = "network-aware"
	// PolicyNetworkAwareWeight1 adds NetworkAware at weight 1, as much
	// as each resource scorer.
	PolicyNetworkAwareWeight1 = "network-aware-w1"
)

// Policy is one scheduler configuration under test.
type Policy struct {
	// Name labels the policy's results.
	Name string `json:"name"`
	// Description says what the policy is, for the report.
	Description string `json:"description"`
	// NetworkAwareWeight, when positive, enables NetworkAware (default
	// args) at this weight in berth's default profile.
	NetworkAwareWeight int32 `json:"networkAwareWeight,omitempty"`
}

// Config is the policy's KubeSchedulerConfiguration, as a user would
// write it for `berth run`.
func (p Policy) Config() string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: %s\nkind: %s\nprofiles:\n- schedulerName: %s\n", config.APIVersion, config.Kind, ProfileName)
	if p.NetworkAwareWeight > 0 {
		fmt.Fprintf(&b, "  plugins:\n    multiPoint:\n      enabled:\n      - name: %s\n        weight: %d\n", networkaware.Name, p.NetworkAwareWeight)
	}
	return b.String()
}

// DefaultPolicies are the evaluation's policies, in report order.
func DefaultPolicies() []Policy {
	return []Policy{
		{Name: PolicyDefault,
			Description: "berth's default profile: kube-scheduler's default plugins and weights (NodeResourcesFit LeastAllocated 1, BalancedAllocation 1, PodTopologySpread system defaults 2, InterPodAffinity 2, TaintToleration 3, NodeAffinity 2, ImageLocality 1) and berth's own, idle for these pods"},
		{Name: PolicyNetworkAware, NetworkAwareWeight: 5,
			Description: "the default profile + NetworkAware weight 5 (docs/network-aware.md), default levels (node 1, rack 2, zone 10, region 100)"},
		{Name: PolicyNetworkAwareWeight1, NetworkAwareWeight: 1,
			Description: "the default profile + NetworkAware weight 1, default levels"},
	}
}

// PolicyNames lists the default policies' names.
func PolicyNames() []string {
	all := DefaultPolicies()
	names := make([]string, len(all))
	for i := range all {
		names[i] = all[i].Name
	}
	return names
}

// PoliciesByName returns the default policies named (all for none), in
// the order given, without repeats.
func PoliciesByName(names []string) ([]Policy, error) {
	all := DefaultPolicies()
	if len(names) == 0 {
		return all, nil
	}
	var out []Policy
	for _, n := range names {
		named := func(p Policy) bool { return p.Name == strings.TrimSpace(n) }
		i := slices.IndexFunc(all, named)
		if i < 0 {
			return nil, fmt.Errorf("unknown policy %q; valid policies are %s", n, strings.Join(PolicyNames(), ", "))
		}
		if !slices.ContainsFunc(out, named) {
			out = append(out, all[i])
		}
	}
	return out, nil
}

// buildProfile loads the policy's configuration (config.Load, as `berth
// run` does) and builds its only profile through profile.New on h.
// NetworkAware is built from a registry entry that hides the handle's
// informer factory from it: it would count the pods that declare
// berth.io/talks-to from the pod informer, which never sees the
// simulated pods, so without one it looks for them on every node each
// cycle, as it does when its informer is gone.
func buildProfile(ctx context.Context, reg framework.Registry, h framework.Handle, p Policy) (*profile.Profile, error) {
	cfg, err := config.Load([]byte(p.Config()), reg)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", p.Name, err)
	}
	reg = maps.Clone(reg)
	if entry, ok := reg[networkaware.Name]; ok {
		entry.Factory = func(ctx context.Context, obj runtime.Object, h framework.Handle) (framework.Plugin, error) {
			return networkaware.New(ctx, obj, noInformers{h})
		}
		reg[networkaware.Name] = entry
	}
	return profile.New(ctx, reg, cfg.Profiles[0], profile.Options{Handle: h, Parallelism: 1})
}

// noInformers is a handle without an informer factory.
type noInformers struct{ framework.Handle }

// SharedInformerFactory returns nil.
func (noInformers) SharedInformerFactory() informers.SharedInformerFactory { return nil }
