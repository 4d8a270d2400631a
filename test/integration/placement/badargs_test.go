package placement

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/testenv"
)

// TestBadArgsRejectedAtStartup: `berth run` refuses invalid args of
// either plugin before it schedules anything, exits non-zero, and names
// each problem with its path from the top of the configuration file.
func TestBadArgsRejectedAtStartup(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, plugin, args string
		want               []string
	}{{
		name: "NodePreference weight", plugin: "NodePreference",
		args: `      ruleSets:
      - name: fast
        preferred:
        - weight: 300
          labelValues: {key: disk-type, values: {ssd: 100}}
`,
		want: []string{`profiles[0].pluginConfig[0].args.ruleSets[0].preferred[0].weight: Invalid value: 300: not in valid range [1, 100]`},
	}, {
		name: "NodePreference misspelt field", plugin: "NodePreference",
		args: `      ruleSets:
      - name: fast
        preferred:
        - weight: 1
          numeric: {key: disk-iops, min: 10, max: 100, higherIsBeter: false}
`,
		want: []string{`profiles[0].pluginConfig[0].args.ruleSets[0].preferred[0].numeric.higherIsBeter: Forbidden: unknown field`},
	}, {
		name: "NetworkAware decreasing costs", plugin: "NetworkAware",
		args: `      levels:
      - {key: kubernetes.io/hostname, cost: 1}
      - {key: topology.kubernetes.io/zone, cost: 10}
      - {key: topology.kubernetes.io/region, cost: 5}
      maxCost: -1
`,
		want: []string{
			`profiles[0].pluginConfig[0].args.levels[2].cost: Invalid value: 5: must not be less than profiles[0].pluginConfig[0].args.levels[1].cost (10)`,
			`profiles[0].pluginConfig[0].args.maxCost: Invalid value: -1: must not be negative`,
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := berthtest.WriteConfig(t, fmt.Sprintf(configFor(tc.plugin, 1, tc.args), "berth-bad"))
			stderr := runBerthToExit(t, "run", "--leader-elect=false", "--health-address", "0", "--config", cfg)
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// runBerthToExit runs bin/berth against the test cluster, expects it to
// exit non-zero within 30 s, and returns its stderr.
func runBerthToExit(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := testenv.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "berth"), append(args, "--kubeconfig", testenv.Current().Kubeconfig)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("berth %v still ran after 30 s; stderr:\n%s", args, stderr.String())
	case err == nil:
		t.Fatalf("berth %v exited 0; stderr:\n%s", args, stderr.String())
	case !errors.As(err, &exit):
		t.Fatalf("berth %v: %v", args, err)
	}
	return stderr.String()
}
