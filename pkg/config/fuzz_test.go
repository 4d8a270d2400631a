package config_test

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/plugins"
)

// FuzzLoad feeds arbitrary bytes to the config loader with every plugin
// berth registers, so each plugin's args decoding, defaulting and
// validation sees input no operator writes. Load must never panic; a
// config it accepts must have at least one profile, unique scheduler
// names, and survive the round trip through its effective form (what
// --write-config-to prints) with the same plugins.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"",
		"apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n",
		`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 50
profiles:
- schedulerName: berth
  pluginConfig:
  - name: GPUShare
    args: {policy: FGD}
  - name: NodeResourcesFit
    args: {scoringStrategy: {type: MostAllocated, resources: [{name: cpu, weight: 1}]}}
- schedulerName: berth-load
  plugins:
    multiPoint:
      enabled: [{name: LoadAware}, {name: NodePreference}]
      disabled: [{name: ImageLocality}]
  pluginConfig:
  - name: LoadAware
    args: {source: {type: prometheus, prometheus: {address: "http://prometheus:9090"}}, thresholdPercent: {cpu: 90}}
  - name: NodePreference
    args:
      ruleSets:
      - name: fast-disk
        selector: {namespaces: [db]}
        preferred:
        - {weight: 3, labelValues: {key: disk-type, values: {nvme: 100, ssd: 80}}}
        - {weight: 1, numeric: {key: network-latency-us, min: 10, max: 500, higherIsBetter: false}}
`,
		"profiles: [{schedulerName: a}, {schedulerName: a}]",
		"apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles: [{pluginConfig: [{name: Nope, args: {x: 1}}]}]\n",
		"{\"apiVersion\":\"kubescheduler.config.k8s.io/v1\",\"kind\":\"KubeSchedulerConfiguration\",\"parallelism\":-3}",
	} {
		f.Add([]byte(s))
	}
	if b, err := os.ReadFile("../../docs/examples/most-allocated.yaml"); err == nil {
		f.Add(b)
	}
	reg := plugins.NewInTreeRegistry()
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Load(data, reg)
		if err != nil {
			return
		}
		if len(cfg.Profiles) == 0 {
			t.Fatalf("accepted a config without profiles:\n%s", data)
		}
		names := map[string]bool{}
		for _, p := range cfg.Profiles {
			if names[p.SchedulerName] {
				t.Fatalf("accepted two profiles named %q:\n%s", p.SchedulerName, data)
			}
			names[p.SchedulerName] = true
		}
		b, err := yaml.Marshal(cfg.Effective())
		if err != nil {
			t.Fatalf("effective config does not encode: %v", err)
		}
		again, err := config.Load(b, reg)
		if err != nil {
			t.Fatalf("effective config does not load back: %v\ninput:\n%s\neffective:\n%s", err, data, b)
		}
		for i := range cfg.Profiles {
			if diff := cmp.Diff(cfg.Profiles[i].Plugins, again.Profiles[i].Plugins); diff != "" {
				t.Fatalf("profile %s's plugins changed on the round trip (-first +second):\n%s", cfg.Profiles[i].SchedulerName, diff)
			}
		}
	})
}
