package config

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/pkg/framework"
)

// DefaultMultiPoint is berth's default plugin set, enabled through
// multiPoint in this order (the order kube-scheduler v1.37 uses), with
// kube-scheduler's default score weights, plus berth's StorageLocality. Names missing from the registry
// are skipped, so the default grows as plugins are added.
var DefaultMultiPoint = []PluginRef{
	{Name: "SchedulingGates"},
	{Name: "PrioritySort"},
	{Name: "NodeName"},
	{Name: "NodeUnschedulable"},
	{Name: "TaintToleration", Weight: 3},
	{Name: "NodeAffinity", Weight: 2},
	{Name: "NodePorts"},
	{Name: "NodeResourcesFit", Weight: 1},
	{Name: "VolumeRestrictions"},
	{Name: "NodeVolumeLimits"},
	{Name: "VolumeBinding"},
	{Name: "VolumeZone"},
	{Name: "PodTopologySpread", Weight: 2},
	{Name: "InterPodAffinity", Weight: 2},
	// Before DefaultPreemption: deallocating an idle claim is better
	// than evicting a pod that does useful work.
	{Name: "DynamicResources", Weight: 2},
	{Name: "DefaultPreemption"},
	{Name: "NodeResourcesBalancedAllocation", Weight: 1},
	{Name: "ImageLocality", Weight: 1},
	// berth's own: storage-aware scoring for pods with claims.
	{Name: "StorageLocality", Weight: 1},
	// berth's own: GPU cards, shares and fragmentation-aware placement.
	// Weighted above the resource scorers so that, for GPU pods, where
	// fragmentation grows least outweighs spreading.
	{Name: "GPUShare", Weight: 5},
	// berth's own: gangs from three PodGroup APIs, placed whole or not
	// at all (the engine's group transaction; the plugin reads groups,
	// holds members back until their quorum exists, writes status).
	{Name: "GangScheduling"},
	{Name: "DefaultBinder"},
	// Appended after DefaultBinder, where kube-scheduler v1.37 appends it
	// (its feature gate used to decide whether it was there at all).
	{Name: "NodeDeclaredFeatures"},
}

func pluginSetOf(p *configv1.Plugins, ep ExtensionPoint) *configv1.PluginSet {
	if p == nil {
		return &configv1.PluginSet{}
	}
	switch ep {
	case PreEnqueue:
		return &p.PreEnqueue
	case QueueSort:
		return &p.QueueSort
	case PreFilter:
		return &p.PreFilter
	case Filter:
		return &p.Filter
	case PostFilter:
		return &p.PostFilter
	case PreScore:
		return &p.PreScore
	case Score:
		return &p.Score
	case Reserve:
		return &p.Reserve
	case Permit:
		return &p.Permit
	case PreBind:
		return &p.PreBind
	case Bind:
		return &p.Bind
	case PostBind:
		return &p.PostBind
	case MultiPoint:
		return &p.MultiPoint
	}
	return &configv1.PluginSet{}
}

// mergePluginSet merges a profile's set with the defaults as kube-scheduler
// does: defaults first (minus those disabled, or none when "*" is
// disabled), a default re-enabled by the user is replaced in place by the
// user's entry (so its weight wins), and the user's other plugins follow.
func mergePluginSet(defaults []PluginRef, custom *configv1.PluginSet) PluginSet {
	disabled := sets.New[string]()
	for _, d := range custom.Disabled {
		disabled.Insert(d.Name)
	}
	customByName := map[string]int{}
	for i, e := range custom.Enabled {
		customByName[e.Name] = i
	}
	used := sets.New[string]()
	var out PluginSet
	for _, d := range defaults {
		if disabled.Has("*") || disabled.Has(d.Name) {
			continue
		}
		if i, ok := customByName[d.Name]; ok {
			out.Enabled = append(out.Enabled, refOf(custom.Enabled[i]))
			used.Insert(d.Name)
			continue
		}
		out.Enabled = append(out.Enabled, d)
	}
	for _, e := range custom.Enabled {
		if !used.Has(e.Name) {
			out.Enabled = append(out.Enabled, refOf(e))
		}
	}
	out.Disabled = sets.List(disabled)
	return out
}

func refOf(p configv1.Plugin) PluginRef {
	r := PluginRef{Name: p.Name}
	if p.Weight != nil {
		r.Weight = *p.Weight
	}
	return r
}

func completeProfile(raw *configv1.KubeSchedulerProfile, reg framework.Registry, path *field.Path) (*Profile, field.ErrorList) {
	var errs field.ErrorList
	p := &Profile{
		SchedulerName:            *raw.SchedulerName,
		PercentageOfNodesToScore: raw.PercentageOfNodesToScore,
		Plugins:                  map[ExtensionPoint]PluginSet{},
		PluginArgs:               map[string]runtime.Object{},
	}
	if p.SchedulerName == "" {
		errs = append(errs, field.Required(path.Child("schedulerName"), "must not be empty"))
	}
	if v := raw.PercentageOfNodesToScore; v != nil && (*v < 0 || *v > 100) {
		errs = append(errs, field.Invalid(path.Child("percentageOfNodesToScore"), *v, "must be in the range [0, 100]"))
	}
	var defaults []PluginRef
	for _, d := range DefaultMultiPoint {
		if _, ok := reg[d.Name]; ok {
			defaults = append(defaults, d)
		}
	}
	enabled := sets.New[string]()
	for _, ep := range append([]ExtensionPoint{MultiPoint}, ExtensionPoints...) {
		var def []PluginRef
		if ep == MultiPoint {
			def = defaults
		}
		set := pluginSetOf(raw.Plugins, ep)
		epPath := path.Child("plugins", string(ep))
		for j, e := range set.Enabled {
			if _, ok := reg[e.Name]; !ok {
				errs = append(errs, field.Invalid(epPath.Child("enabled").Index(j).Child("name"), e.Name, unknownMsg(reg)))
			}
			if e.Weight != nil && *e.Weight < 0 {
				errs = append(errs, field.Invalid(epPath.Child("enabled").Index(j).Child("weight"), *e.Weight, "must not be negative"))
			}
		}
		for j, d := range set.Disabled {
			if _, ok := reg[d.Name]; !ok && d.Name != "*" {
				errs = append(errs, field.Invalid(epPath.Child("disabled").Index(j).Child("name"), d.Name, unknownMsg(reg)))
			}
		}
		merged := mergePluginSet(def, set)
		seen := sets.New[string]()
		for _, e := range merged.Enabled {
			if seen.Has(e.Name) {
				errs = append(errs, field.Duplicate(epPath.Child("enabled"), e.Name))
			}
			seen.Insert(e.Name)
			enabled.Insert(e.Name)
		}
		p.Plugins[ep] = merged
	}

	cfgPath := path.Child("pluginConfig")
	configured := sets.New[string]()
	for i, pc := range raw.PluginConfig {
		ip := cfgPath.Index(i)
		reg, ok := reg[pc.Name]
		switch {
		case !ok:
			errs = append(errs, field.Invalid(ip.Child("name"), pc.Name, "unknown plugin"))
			continue
		case configured.Has(pc.Name):
			errs = append(errs, field.Duplicate(ip.Child("name"), pc.Name))
			continue
		case reg.Args == nil:
			errs = append(errs, field.Invalid(ip.Child("args"), pc.Name, "this plugin takes no args"))
			continue
		}
		configured.Insert(pc.Name)
		args, aerrs := DecodePluginArgs(pc.Name, pc.Args, reg.Args, ip.Child("args"))
		errs = append(errs, aerrs...)
		if args != nil {
			p.PluginArgs[pc.Name] = args
		}
	}
	// Enabled plugins without a pluginConfig entry get defaulted args,
	// validated as an entry's would be: a plugin whose defaults are not
	// enough (LoadAware needs a metrics source) is refused here, at the
	// path of the entry it needs, not later when it starts.
	for name := range enabled {
		r, ok := reg[name]
		if !ok || r.Args == nil || configured.Has(name) {
			continue
		}
		args := r.Args.New()
		r.Args.Default(args)
		errs = append(errs, r.Args.Validate(args, cfgPath.Key(name).Child("args"))...)
		p.PluginArgs[name] = args
	}
	return p, errs
}

func unknownMsg(reg framework.Registry) string {
	names := make([]string, 0, len(reg))
	for n := range reg {
		names = append(names, n)
	}
	sort.Strings(names)
	return fmt.Sprintf("unknown plugin; known plugins: %s", strings.Join(names, ", "))
}
