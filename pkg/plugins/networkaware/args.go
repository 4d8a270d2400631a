package networkaware

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	ntv1alpha1 "github.com/berthsched/berth/pkg/apis/networktopology/v1alpha1"
	"github.com/berthsched/berth/pkg/placement/network"
)

// Args configures NetworkAware (pluginConfig name "NetworkAware"); see
// docs/network-aware.md.
type Args struct {
	metav1.TypeMeta `json:",inline"`

	// Levels are the network's boundaries, narrowest first, each a node
	// label and the cost of crossing it (default: kubernetes.io/hostname
	// 1, topology.berth.io/rack 2, topology.kubernetes.io/zone 10,
	// topology.kubernetes.io/region 100). Costs must not decrease from
	// one level to the next: crossing a broader boundary cannot be
	// cheaper.
	Levels []LevelArgs `json:"levels,omitempty"`
	// MaxCost, when set, makes Filter refuse a node whose expected cost
	// to any placed dependency (either direction) is above it. Unset, only
	// AppGroup dependencies with a maxNetworkCost refuse nodes.
	MaxCost *int64 `json:"maxCost,omitempty"`
	// NetworkTopology names a Diktyo NetworkTopology whose costs between
	// named zones and regions override the levels' costs, for clusters
	// that keep one for scheduler-plugins' NetworkOverhead.
	NetworkTopology *NetworkTopologyRef `json:"networkTopology,omitempty"`
	// AppGroupNamespaces are searched, in order, for a pod's AppGroup
	// when its own namespace has none (scheduler-plugins' "namespaces"
	// arg: AppGroups often live apart from their pods).
	AppGroupNamespaces []string `json:"appGroupNamespaces,omitempty"`
	// AppGroupWeight is the traffic weight of every AppGroup dependency
	// (AppGroups carry none), relative to berth.io/talks-to weights
	// (default 1).
	AppGroupWeight int64 `json:"appGroupWeight,omitempty"`
}

// LevelArgs is one boundary of the network.
type LevelArgs struct {
	// Key is the node label whose values are the level's domains.
	Key string `json:"key"`
	// Cost is the cost of traffic between nodes that differ at this
	// level but not at a broader one.
	Cost int64 `json:"cost"`
	// Pairs override Cost between two named domains of the level (two
	// zones, say); an entry serves both directions unless the other has
	// its own.
	Pairs []PairCost `json:"pairs,omitempty"`
}

// PairCost is the cost between two domains of a level.
type PairCost struct {
	// From and To are values of the level's label.
	From string `json:"from"`
	To   string `json:"to"`
	// Cost is the cost of traffic from From to To.
	Cost int64 `json:"cost"`
}

// NetworkTopologyRef names a NetworkTopology object and the cost set in
// it to read.
type NetworkTopologyRef struct {
	// Namespace is the object's namespace (default "default").
	Namespace string `json:"namespace,omitempty"`
	// Name is the object's name.
	Name string `json:"name"`
	// WeightsName is the cost set (spec.weights[].name) to read (default
	// "UserDefined", as scheduler-plugins).
	WeightsName string `json:"weightsName,omitempty"`
}

// DeepCopyObject implements runtime.Object.
func (a *Args) DeepCopyObject() runtime.Object {
	if a == nil {
		return nil
	}
	out := *a
	if a.Levels != nil {
		out.Levels = make([]LevelArgs, len(a.Levels))
		for i, l := range a.Levels {
			out.Levels[i] = l
			out.Levels[i].Pairs = append([]PairCost(nil), l.Pairs...)
		}
	}
	if a.MaxCost != nil {
		v := *a.MaxCost
		out.MaxCost = &v
	}
	if a.NetworkTopology != nil {
		v := *a.NetworkTopology
		out.NetworkTopology = &v
	}
	out.AppGroupNamespaces = append([]string(nil), a.AppGroupNamespaces...)
	return &out
}

// Defaults.
const (
	// DefaultAppGroupWeight is the weight of an AppGroup dependency.
	DefaultAppGroupWeight = 1
	// DefaultNetworkTopologyNamespace is where the NetworkTopology is
	// looked for unless args say otherwise.
	DefaultNetworkTopologyNamespace = metav1.NamespaceDefault
)

// SetDefaultArgs fills the defaults.
func SetDefaultArgs(a *Args) {
	if len(a.Levels) == 0 {
		for _, l := range network.DefaultLevels() {
			a.Levels = append(a.Levels, LevelArgs{Key: l.Key, Cost: l.Cost})
		}
	}
	if a.AppGroupWeight == 0 {
		a.AppGroupWeight = DefaultAppGroupWeight
	}
	if t := a.NetworkTopology; t != nil {
		if t.Namespace == "" {
			t.Namespace = DefaultNetworkTopologyNamespace
		}
		if t.WeightsName == "" {
			t.WeightsName = ntv1alpha1.UserDefinedWeights
		}
	}
}

// ValidateArgs reports every problem with its field path.
func ValidateArgs(a *Args, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	lp := path.Child("levels")
	if len(a.Levels) == 0 {
		errs = append(errs, field.Required(lp, "at least one level"))
	}
	keys := map[string]bool{}
	for i, l := range a.Levels {
		p := lp.Index(i)
		switch {
		case l.Key == "":
			errs = append(errs, field.Required(p.Child("key"), "a node label key"))
		case keys[l.Key]:
			errs = append(errs, field.Duplicate(p.Child("key"), l.Key))
		default:
			for _, msg := range validation.IsQualifiedName(l.Key) {
				errs = append(errs, field.Invalid(p.Child("key"), l.Key, msg))
			}
		}
		keys[l.Key] = true
		if l.Cost < 0 {
			errs = append(errs, field.Invalid(p.Child("cost"), l.Cost, "must not be negative"))
		} else if i > 0 && l.Cost < a.Levels[i-1].Cost {
			errs = append(errs, field.Invalid(p.Child("cost"), l.Cost,
				fmt.Sprintf("must not be less than %s (%d): crossing a broader boundary cannot cost less than crossing a narrower one",
					lp.Index(i-1).Child("cost"), a.Levels[i-1].Cost)))
		}
		errs = append(errs, validatePairs(l.Pairs, p.Child("pairs"))...)
	}
	if a.MaxCost != nil && *a.MaxCost < 0 {
		errs = append(errs, field.Invalid(path.Child("maxCost"), *a.MaxCost, "must not be negative"))
	}
	if t := a.NetworkTopology; t != nil {
		tp := path.Child("networkTopology")
		if t.Name == "" {
			errs = append(errs, field.Required(tp.Child("name"), "the NetworkTopology's name"))
		} else {
			for _, msg := range validation.IsDNS1123Subdomain(t.Name) {
				errs = append(errs, field.Invalid(tp.Child("name"), t.Name, msg))
			}
		}
		for _, msg := range validation.IsDNS1123Label(t.Namespace) {
			errs = append(errs, field.Invalid(tp.Child("namespace"), t.Namespace, msg))
		}
		if t.WeightsName == "" {
			errs = append(errs, field.Required(tp.Child("weightsName"), "the cost set to read"))
		}
	}
	seen := map[string]bool{}
	for i, ns := range a.AppGroupNamespaces {
		p := path.Child("appGroupNamespaces").Index(i)
		if seen[ns] {
			errs = append(errs, field.Duplicate(p, ns))
		}
		seen[ns] = true
		for _, msg := range validation.IsDNS1123Label(ns) {
			errs = append(errs, field.Invalid(p, ns, msg))
		}
	}
	if a.AppGroupWeight < 1 || a.AppGroupWeight > network.MaxWeight {
		errs = append(errs, field.Invalid(path.Child("appGroupWeight"), a.AppGroupWeight, fmt.Sprintf("not in valid range [1, %d]", network.MaxWeight)))
	}
	return errs
}

func validatePairs(pairs []PairCost, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[network.Pair]int{}
	for j, pc := range pairs {
		p := path.Index(j)
		for _, side := range []struct{ name, value string }{{"from", pc.From}, {"to", pc.To}} {
			if side.value == "" {
				errs = append(errs, field.Required(p.Child(side.name), "a value of the level's label"))
				continue
			}
			for _, msg := range validation.IsValidLabelValue(side.value) {
				errs = append(errs, field.Invalid(p.Child(side.name), side.value, msg))
			}
		}
		if pc.From != "" && pc.From == pc.To {
			errs = append(errs, field.Invalid(p.Child("to"), pc.To, "must differ from from: a domain costs nothing to itself"))
		}
		if pc.Cost < 0 {
			errs = append(errs, field.Invalid(p.Child("cost"), pc.Cost, "must not be negative"))
		}
		k := network.Pair{From: pc.From, To: pc.To}
		if prev, dup := seen[k]; dup {
			errs = append(errs, field.Duplicate(p, fmt.Sprintf("%s → %s (as %s)", pc.From, pc.To, path.Index(prev))))
		}
		seen[k] = j
	}
	return errs
}

// levels turns validated args into the model's levels.
func (a *Args) levels() []network.Level {
	out := make([]network.Level, len(a.Levels))
	for i, l := range a.Levels {
		out[i] = network.Level{Key: l.Key, Cost: l.Cost}
		if len(l.Pairs) > 0 {
			out[i].Pairs = make(map[network.Pair]int64, len(l.Pairs))
			for _, pc := range l.Pairs {
				out[i].Pairs[network.Pair{From: pc.From, To: pc.To}] = pc.Cost
			}
		}
	}
	return out
}
