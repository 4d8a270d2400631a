package metricsource

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/berthsched/berth/pkg/placement/load"
)

// nodeMetricsPath is where metrics-server serves NodeMetrics.
const nodeMetricsPath = "/apis/metrics.k8s.io/v1beta1/nodes"

// metricsServer reads NodeMetrics (CPU and memory usage with their own
// timestamp and window) and divides them by the node's allocatable.
type metricsServer struct {
	rest  rest.Interface
	nodes corelisters.NodeLister
}

func (m *metricsServer) current(ctx context.Context, _ time.Time) (map[string]*[load.NumResources]load.Sample, []problem, error) {
	raw, err := m.rest.Get().AbsPath(nodeMetricsPath).SetHeader("Accept", "application/json").Do(ctx).Raw()
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, &kindError{"query", fmt.Errorf("%s is not served: is metrics-server installed? (%w)", nodeMetricsPath, err)}
		}
		return nil, nil, err
	}
	var list metricsv1beta1.NodeMetricsList
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, nil, &kindError{"decode", fmt.Errorf("decoding %s: %w", nodeMetricsPath, err)}
	}
	nodes, err := m.nodes.List(labels.Everything())
	if err != nil {
		return nil, nil, err
	}
	alloc := make(map[string]v1.ResourceList, len(nodes))
	for _, n := range nodes {
		alloc[n.Name] = n.Status.Allocatable
	}
	out := make(map[string]*[load.NumResources]load.Sample, len(list.Items))
	var unknown, bad int
	for _, nm := range list.Items {
		a, ok := alloc[nm.Name]
		if !ok {
			unknown++
			continue
		}
		e := &[load.NumResources]load.Sample{}
		t, w := nm.Timestamp.Time, nm.Window.Duration
		if c, ac := nm.Usage.Cpu(), a.Cpu(); !c.IsZero() && ac.MilliValue() > 0 {
			e[load.CPU] = load.Sample{Value: float64(c.MilliValue()) / float64(ac.MilliValue()), Time: t, Window: w}
		}
		if mem, am := nm.Usage.Memory(), a.Memory(); !mem.IsZero() && am.Value() > 0 {
			e[load.Memory] = load.Sample{Value: float64(mem.Value()) / float64(am.Value()), Time: t, Window: w}
		}
		for r := range e {
			if e[r].Valid() && !load.Sane(e[r].Value) {
				e[r] = load.Sample{}
				bad++
			}
		}
		out[nm.Name] = e
	}
	var probs []problem
	if unknown > 0 {
		probs = append(probs, problem{load.NumResources, "missing_node", fmt.Sprintf("%d NodeMetrics name nodes berth does not know", unknown)})
	}
	if bad > 0 {
		probs = append(probs, problem{load.NumResources, "invalid_value", fmt.Sprintf("%d NodeMetrics values are negative; dropped", bad)})
	}
	return out, probs, nil
}

// history: metrics.k8s.io has no range API; the runner accumulates.
func (m *metricsServer) history(context.Context, time.Time) (map[string]*[load.NumResources][]point, []problem, bool, error) {
	return nil, nil, false, nil
}
