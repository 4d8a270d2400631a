package whatif

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/plugins"
)

// BenchmarkWhatIf places 2,000 pending pods on 1,000 nodes (three
// zones) and counts the capacity for 2,000 more: the cost of one
// what-if without a change, per op.
func BenchmarkWhatIf(b *testing.B) {
	klog.SetLogger(klog.Background().V(10)) // keep plugin logs out of the timing
	var objs []runtime.Object
	for i := range 1000 {
		objs = append(objs, st.MakeNode().Name(fmt.Sprintf("n%04d", i)).Label(ZoneLabel, fmt.Sprintf("zone-%c", 'a'+i%3)).
			Capacity("cpu", fmt.Sprint(8+i%4*8), "memory", fmt.Sprintf("%dGi", 32+i%4*32), "pods", "110").Obj())
	}
	for i := range 2000 {
		p := st.MakePod().Name(fmt.Sprintf("p%05d", i)).Namespace("default").SchedulerName(config.DefaultSchedulerName).
			Priority(0).Req("cpu", fmt.Sprintf("%dm", 250+i%7*250), "memory", fmt.Sprintf("%dMi", 512+i%5*512)).Obj()
		p.CreationTimestamp = taken
		objs = append(objs, p)
	}
	snap := &Snapshot{TypeMeta: threeZonesMeta(), TakenAt: taken, Objects: objects(b, objs...)}
	reg := plugins.NewInTreeRegistry()
	cfg, err := config.Load(nil, reg)
	if err != nil {
		b.Fatal(err)
	}
	probe := st.MakePod().Name("probe").Namespace("default").SchedulerName(config.DefaultSchedulerName).Req("cpu", "4", "memory", "8Gi").Obj()
	b.ResetTimer()
	for b.Loop() {
		res, err := Run(context.Background(), Options{Snapshot: snap, Registry: reg, Config: cfg, Capacity: probe, MaxCapacity: 2000})
		if err != nil {
			b.Fatal(err)
		}
		if res.Before.Placed != 2000 {
			b.Fatalf("placed %d", res.Before.Placed)
		}
	}
}
