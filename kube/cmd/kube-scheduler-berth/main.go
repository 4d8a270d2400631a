package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register" // the JSON log format, as in kube-scheduler
	"k8s.io/component-base/metrics/legacyregistry"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"

	"github.com/berthsched/berth/kube/plugins"
	"github.com/berthsched/berth/pkg/metricsource"
	berthplugins "github.com/berthsched/berth/pkg/plugins"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
)

func main() {
	opts, err := plugins.Options(plugins.NewBridge(), berthplugins.NewInTreeRegistry())
	if err != nil {
		// A berth-only plugin missing from the registry is a build bug.
		panic(err)
	}
	// berth's GPU and metric-source gauges on kube-scheduler's /metrics.
	legacyregistry.RawMustRegister(gpushare.Collectors()...)
	legacyregistry.RawMustRegister(metricsource.Collectors()...)
	os.Exit(cli.Run(app.NewSchedulerCommand(opts...)))
}
