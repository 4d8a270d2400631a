package config

import (
	"sort"

	"k8s.io/apimachinery/pkg/runtime"
	configv1 "k8s.io/kube-scheduler/config/v1"
	"k8s.io/utils/ptr"
)

// Effective renders the config berth actually runs with, as a v1 object:
// defaults filled in, each profile's plugin sets merged with the defaults,
// and every enabled plugin's args defaulted. It is what
// `berth run --write-config-to` prints, and it loads back to the same
// Config.
func (c *Config) Effective() *configv1.KubeSchedulerConfiguration {
	out := c.Raw.DeepCopy()
	out.Profiles = nil
	for _, p := range c.Profiles {
		vp := configv1.KubeSchedulerProfile{
			SchedulerName:            ptr.To(p.SchedulerName),
			PercentageOfNodesToScore: p.PercentageOfNodesToScore,
			Plugins:                  &configv1.Plugins{},
		}
		for ep, set := range p.Plugins {
			dst := pluginSetOf(vp.Plugins, ep)
			for _, e := range set.Enabled {
				pl := configv1.Plugin{Name: e.Name}
				if e.Weight != 0 {
					pl.Weight = ptr.To(e.Weight)
				}
				dst.Enabled = append(dst.Enabled, pl)
			}
			for _, d := range set.Disabled {
				dst.Disabled = append(dst.Disabled, configv1.Plugin{Name: d})
			}
		}
		names := make([]string, 0, len(p.PluginArgs))
		for n := range p.PluginArgs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			vp.PluginConfig = append(vp.PluginConfig, configv1.PluginConfig{Name: n, Args: runtime.RawExtension{Object: p.PluginArgs[n]}})
		}
		out.Profiles = append(out.Profiles, vp)
	}
	return out
}
