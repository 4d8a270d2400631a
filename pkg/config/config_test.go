package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	configv1 "k8s.io/kube-scheduler/config/v1"
	"sigs.k8s.io/yaml"

	"github.com/berthsched/berth/pkg/framework"
)

// testRegistry has a few names of the default set plus one plugin with
// args, enough to exercise merging and args handling.
func testRegistry() framework.Registry {
	fitArgs := &framework.ArgsSpec{
		New: func() runtime.Object { return &configv1.NodeResourcesFitArgs{} },
		Default: func(o runtime.Object) {
			a := o.(*configv1.NodeResourcesFitArgs)
			if a.ScoringStrategy == nil {
				a.ScoringStrategy = &configv1.ScoringStrategy{Type: configv1.LeastAllocated}
			}
		},
		Validate: func(o runtime.Object, p *field.Path) field.ErrorList {
			a := o.(*configv1.NodeResourcesFitArgs)
			if a.ScoringStrategy.Type != configv1.LeastAllocated && a.ScoringStrategy.Type != configv1.MostAllocated {
				return field.ErrorList{field.NotSupported(p.Child("scoringStrategy", "type"), a.ScoringStrategy.Type, []string{"LeastAllocated", "MostAllocated"})}
			}
			return nil
		},
	}
	return framework.Registry{
		"PrioritySort":     {},
		"SchedulingGates":  {},
		"NodeName":         {},
		"TaintToleration":  {},
		"NodeResourcesFit": {Args: fitArgs},
		"DefaultBinder":    {},
		"Custom":           {},
	}
}

func names(refs []PluginRef) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Name)
	}
	return out
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load(nil, testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Parallelism != 16 || cfg.PercentageOfNodesToScore != 0 || cfg.PodInitialBackoff.Seconds() != 1 || cfg.PodMaxBackoff.Seconds() != 10 {
		t.Errorf("unexpected scheduler-wide defaults: %+v", cfg)
	}
	if len(cfg.Profiles) != 1 || cfg.Profiles[0].SchedulerName != DefaultSchedulerName {
		t.Fatalf("want one profile %q, got %+v", DefaultSchedulerName, cfg.Profiles)
	}
	got := names(cfg.Profiles[0].Plugins[MultiPoint].Enabled)
	want := []string{"SchedulingGates", "PrioritySort", "NodeName", "TaintToleration", "NodeResourcesFit", "DefaultBinder"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("default multiPoint (-want +got):\n%s", diff)
	}
	if _, ok := cfg.Profiles[0].PluginArgs["NodeResourcesFit"].(*configv1.NodeResourcesFitArgs); !ok {
		t.Errorf("enabled plugin with args should get defaulted args, got %#v", cfg.Profiles[0].PluginArgs)
	}
	if !cfg.LeaderElection.LeaderElect || cfg.LeaderElection.ResourceName != "berth" {
		t.Errorf("leader election defaults: %+v", cfg.LeaderElection)
	}
}

func TestLoadMergesPlugins(t *testing.T) {
	data := `
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: berth
  plugins:
    multiPoint:
      enabled:
      - name: TaintToleration
        weight: 7
      - name: Custom
      disabled:
      - name: NodeName
    score:
      disabled:
      - name: "*"
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
- schedulerName: second
`
	cfg, err := Load([]byte(data), testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	mp := cfg.Profiles[0].Plugins[MultiPoint].Enabled
	if diff := cmp.Diff([]string{"SchedulingGates", "PrioritySort", "TaintToleration", "NodeResourcesFit", "DefaultBinder", "Custom"}, names(mp)); diff != "" {
		t.Errorf("merged multiPoint (-want +got):\n%s", diff)
	}
	if mp[2].Weight != 7 {
		t.Errorf("user weight should replace the default in place, got %d", mp[2].Weight)
	}
	if diff := cmp.Diff([]string{"*"}, cfg.Profiles[0].Plugins[Score].Disabled); diff != "" {
		t.Errorf("score disabled: %s", diff)
	}
	args := cfg.Profiles[0].PluginArgs["NodeResourcesFit"].(*configv1.NodeResourcesFitArgs)
	if args.ScoringStrategy.Type != configv1.MostAllocated {
		t.Errorf("args not decoded: %+v", args.ScoringStrategy)
	}
	if len(cfg.Profiles) != 2 || cfg.Profiles[1].SchedulerName != "second" {
		t.Errorf("second profile missing: %+v", cfg.Profiles)
	}
}

func TestLoadRejectsEveryProblemWithItsPath(t *testing.T) {
	data := `
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
parallelism: 0
percentageOfNodesToScore: 120
podInitialBackoffSeconds: 5
podMaxBackoffSeconds: 2
extenders:
- urlPrefix: http://example
profiles:
- schedulerName: berth
  plugins:
    filter:
      enabled:
      - name: NoSuchPlugin
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: Bogus
  - name: Unknown
- schedulerName: berth
`
	_, err := Load([]byte(data), testRegistry())
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{
		"parallelism: Invalid value: 0",
		"percentageOfNodesToScore: Invalid value: 120",
		"podMaxBackoffSeconds",
		"extenders: Forbidden",
		"profiles[0].plugins.filter.enabled[0].name: Invalid value: \"NoSuchPlugin\"",
		"profiles[0].pluginConfig[0].args.scoringStrategy.type: Unsupported value: \"Bogus\"",
		"profiles[0].pluginConfig[1].name: Invalid value: \"Unknown\"",
		"profiles[1].schedulerName: Duplicate value: \"berth\"",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestLoadRejectsUnknownFields(t *testing.T) {
	for name, data := range map[string]string{
		"top level": "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nparalelism: 4\n",
		"in args": `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategyy: {}
`,
		"wrong kind": "apiVersion: v1\nkind: ConfigMap\n",
		"not yaml":   "profiles: [",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Load([]byte(data), testRegistry()); err == nil {
				t.Fatal("want an error")
			} else {
				t.Log(err)
			}
		})
	}
}

// TestUnknownArgsFieldsHaveTheirPath: a misspelt field deep in a plugin's
// args is reported at its own path, each one, not as an invalid value of
// the whole args.
func TestUnknownArgsFieldsHaveTheirPath(t *testing.T) {
	_, err := Load([]byte(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy: {typ: MostAllocated, resources: [{name: cpu, weigth: 1}]}
`), testRegistry())
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{
		"profiles[0].pluginConfig[0].args.scoringStrategy.typ: Forbidden: unknown field",
		"profiles[0].pluginConfig[0].args.scoringStrategy.resources[0].weigth: Forbidden: unknown field",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestEffectiveRoundTrips(t *testing.T) {
	cfg, err := Load([]byte(`
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- plugins:
    multiPoint:
      enabled:
      - name: Custom
`), testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(cfg.Effective())
	if err != nil {
		t.Fatal(err)
	}
	again, err := Load(b, testRegistry())
	if err != nil {
		t.Fatalf("effective config does not load back: %v\n%s", err, b)
	}
	if diff := cmp.Diff(cfg.Profiles[0].Plugins, again.Profiles[0].Plugins); diff != "" {
		t.Errorf("plugins changed on round trip (-first +second):\n%s", diff)
	}
}
