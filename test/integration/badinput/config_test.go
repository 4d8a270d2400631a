package badinput

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthsched/berth/internal/testenv"
)

// unreachable is a kubeconfig whose server nothing listens on.
const unreachable = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
users: [{name: u, user: {token: x}}]
current-context: c
`

const header = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"

// TestBadConfigs: berth run refuses every kind of configuration mistake
// before it touches the cluster, with exit status 1 and one message that
// names the file and the field; and an unreachable API server is named
// as such. The kubeconfig points nowhere: a mistake that slipped past
// validation would show up as the connection error instead.
func TestBadConfigs(t *testing.T) {
	t.Parallel()
	bin, err := testenv.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(unreachable), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, config string
		args         []string
		want         string
	}{
		{name: "malformed YAML", config: header + "profiles: [ {schedulerName: x\n", want: "not valid YAML or JSON: yaml: line 3: did not find expected ',' or '}'"},
		{name: "unknown plugin", config: header + "profiles:\n- schedulerName: berth\n  plugins: {multiPoint: {enabled: [{name: NoSuchPlugin}]}}\n",
			want: `profiles[0].plugins.multiPoint.enabled[0].name: Invalid value: "NoSuchPlugin": unknown plugin; known plugins: DefaultBinder,`},
		{name: "misspelt field", config: header + "percentageOfNodesToScre: 50\n", want: `strict decoding: unknown field "percentageOfNodesToScre"`},
		{name: "wrong version", config: "apiVersion: kubescheduler.config.k8s.io/v2\nkind: KubeSchedulerConfiguration\n",
			want: `apiVersion/kind: want kubescheduler.config.k8s.io/v1 KubeSchedulerConfiguration, got "kubescheduler.config.k8s.io/v2"`},
		{name: "duplicate profile", config: header + "profiles: [{schedulerName: a}, {schedulerName: a}]\n", want: `profiles[1].schedulerName: Duplicate value: "a"`},
		{name: "unsupported arg value", config: header + "profiles:\n- schedulerName: berth\n  pluginConfig: [{name: GPUShare, args: {policy: Fastest}}]\n",
			want: `profiles[0].pluginConfig[0].args.policy: Unsupported value: "Fastest": supported values: "FGD",`},
		{name: "args missing a required field", config: header + "profiles:\n- schedulerName: berth\n  pluginConfig: [{name: LoadAware, args: {}}]\n",
			want: `profiles[0].pluginConfig[0].args.source.prometheus.address: Required value`},
		{name: "negative parallelism", config: header + "parallelism: -4\n", want: `parallelism: Invalid value: -4: must be greater than 0`},
		{name: "unknown tie-break", config: header, args: []string{"--tie-break", "first"}, want: `unknown --tie-break "first" (want random or name)`},
		{name: "unreachable API server", config: header, want: `cannot reach the API server: Get "https://127.0.0.1:1/version"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(cfg, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"run", "--leader-elect=false", "--health-address", "0", "--kubeconfig", kubeconfig, "--config", cfg}, tc.args...)
			out, err := exec.Command(filepath.Join(bin, "berth"), args...).CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("berth run: %v, want exit status 1\n%s", err, out)
			}
			var last string
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				last = line
			}
			if !strings.HasPrefix(last, "Error: ") || !strings.Contains(last, tc.want) {
				t.Fatalf("last line %q, want an Error: line holding %q", last, tc.want)
			}
			t.Log(last)
		})
	}
}
