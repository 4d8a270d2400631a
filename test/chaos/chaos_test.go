package chaos

import (
	"context"
	"strings"
	"testing"

	"github.com/berthsched/berth/internal/testenv"
)

// TestChaosShort is the short version of berth-chaos for go test: the
// API server restart and the leader SIGKILL, 40 pods each, on a control
// plane of its own. Every invariant must hold.
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a control plane and runs two fault scenarios, about a minute")
	}
	env, err := testenv.Start(testenv.Options{ControllerManager: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Error(err)
		}
	})
	ctx := context.Background()
	h, err := New(ctx, env, Options{Pods: 40, Dir: t.TempDir(), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	var results []*Result
	for _, sc := range Scenarios() {
		if sc.Name != "apiserver-restart" && sc.Name != "leader-kill" {
			continue
		}
		res, err := h.Run(ctx, sc)
		if err != nil {
			t.Fatalf("%s: %v", sc.Name, err)
		}
		results = append(results, res)
		for _, v := range res.Violations {
			t.Errorf("%s: %s", sc.Name, v)
		}
	}
	var sb strings.Builder
	_ = WriteTable(&sb, results)
	t.Logf("\n%s", sb.String())
}
