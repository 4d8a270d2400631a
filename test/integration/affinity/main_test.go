package affinity

import (
	"context"
	"io"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/cmd/berth/app"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins"
	"github.com/berthsched/berth/pkg/plugins/interpodaffinity"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }

// registry is the in-tree registry plus InterPodAffinity (until the
// in-tree registry lists it).
func registry() framework.Registry {
	reg := plugins.NewInTreeRegistry()
	reg[interpodaffinity.Name] = framework.Registration{
		Factory: interpodaffinity.New,
		Args: &framework.ArgsSpec{
			New:     func() runtime.Object { return &configv1.InterPodAffinityArgs{} },
			Default: func(o runtime.Object) { interpodaffinity.SetDefaultArgs(o.(*configv1.InterPodAffinityArgs)) },
			Validate: func(o runtime.Object, p *field.Path) field.ErrorList {
				return interpodaffinity.ValidateArgs(o.(*configv1.InterPodAffinityArgs), p)
			},
		},
	}
	return reg
}

// startBerth runs berth in-process against the test cluster until the test
// ends, with leader election off.
func startBerth(t *testing.T) {
	t.Helper()
	off := false
	o := &app.RunOptions{
		Kubeconfig:    testenv.Current().Kubeconfig,
		HealthAddress: "0",
		LeaderElect:   &off,
		Registry:      registry(),
		Ready:         make(chan struct{}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, o, io.Discard) }()
	select {
	case <-o.Ready:
	case err := <-done:
		cancel()
		t.Fatalf("berth exited before becoming ready: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("berth did not become ready within 60s")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("berth returned an error: %v", err)
		}
	})
}
