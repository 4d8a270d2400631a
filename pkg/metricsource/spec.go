package metricsource

import (
	"fmt"
	"net/url"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/berthsched/berth/pkg/placement/load"
)

// The source types.
const (
	TypePrometheus    = "prometheus"
	TypeMetricsServer = "metricsServer"
	TypeFile          = "file"
)

// Spec configures one source; it is part of the LoadAware plugin's args
// (and of plugin mode's), so its JSON names are configuration.
type Spec struct {
	// Type is prometheus, metricsServer or file.
	Type string `json:"type,omitempty"`
	// Interval is how often the current values are refreshed (default 30s).
	Interval metav1.Duration `json:"interval,omitempty"`
	// Timeout bounds one refresh (default 10s); a refresh that runs out
	// is counted as a timeout and the previous samples age on.
	Timeout metav1.Duration `json:"timeout,omitempty"`
	// Prometheus configures the prometheus type.
	Prometheus *PrometheusSpec `json:"prometheus,omitempty"`
	// File configures the file type.
	File *FileSpec `json:"file,omitempty"`
	// History configures the history kept per node for risk balancing
	// and forecasts.
	History HistorySpec `json:"history,omitempty"`
}

// PrometheusSpec says where Prometheus is and what to ask it.
type PrometheusSpec struct {
	// Address is the server's base URL, e.g. http://prometheus.monitoring:9090.
	Address string `json:"address"`
	// Queries maps a resource (cpu, memory, gpu, diskIO) to its PromQL.
	// Resources not listed keep their default query; a query with an
	// empty expr turns the resource off.
	Queries map[string]QuerySpec `json:"queries,omitempty"`
}

// QuerySpec is one resource's PromQL: an instant vector of utilisation
// fractions, one series per node, told apart by NodeLabel.
type QuerySpec struct {
	// Expr is the PromQL expression.
	Expr string `json:"expr"`
	// NodeLabel is the label whose value names the node: a node name or
	// an address, with or without a port (default instance).
	NodeLabel string `json:"nodeLabel,omitempty"`
	// Window is the period the expression averages over (its rate range,
	// default 1m): pods placed since the window began are estimated.
	Window metav1.Duration `json:"window,omitempty"`
}

// FileSpec names the file of a file source.
type FileSpec struct {
	// Path is the YAML or JSON file (see docs/load-aware.md for its
	// format); re-read when it changes.
	Path string `json:"path"`
}

// HistorySpec configures the per-node history.
type HistorySpec struct {
	// Window is how much history to keep (default 1h); 0s turns history
	// (risk statistics and forecasts) off.
	Window *metav1.Duration `json:"window,omitempty"`
	// Step is the spacing of the history's points (default 1m).
	Step metav1.Duration `json:"step,omitempty"`
	// Interval is how often Prometheus is asked for the whole window
	// again (default 5m); other sources append each refresh's values.
	Interval metav1.Duration `json:"interval,omitempty"`
}

// Default queries: node-exporter for CPU, memory and disk, NVIDIA's DCGM
// exporter for GPUs.
var DefaultQueries = map[string]QuerySpec{
	"cpu":    {Expr: `1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m]))`, NodeLabel: "instance"},
	"memory": {Expr: `1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes`, NodeLabel: "instance"},
	"gpu":    {Expr: `avg by (Hostname) (DCGM_FI_DEV_GPU_UTIL) / 100`, NodeLabel: "Hostname"},
	"diskIO": {Expr: `max by (instance) (rate(node_disk_io_time_seconds_total[1m]))`, NodeLabel: "instance"},
}

// Defaults.
const (
	DefaultInterval        = 30 * time.Second
	DefaultTimeout         = 10 * time.Second
	DefaultHistoryWindow   = time.Hour
	DefaultHistoryStep     = time.Minute
	DefaultHistoryInterval = 5 * time.Minute
	DefaultQueryWindow     = time.Minute
	DefaultNodeLabel       = "instance"
	// MaxHistoryPoints bounds the history per node and resource: a
	// range query of more points is refused by validation.
	MaxHistoryPoints = 11000
)

// SetDefaults fills the defaults in place.
func SetDefaults(s *Spec) {
	if s.Type == "" {
		s.Type = TypePrometheus
	}
	if s.Interval.Duration == 0 {
		s.Interval.Duration = DefaultInterval
	}
	if s.Timeout.Duration == 0 {
		s.Timeout.Duration = DefaultTimeout
	}
	if s.History.Window == nil {
		s.History.Window = &metav1.Duration{Duration: DefaultHistoryWindow}
	}
	if s.History.Step.Duration == 0 {
		s.History.Step.Duration = DefaultHistoryStep
	}
	if s.History.Interval.Duration == 0 {
		s.History.Interval.Duration = DefaultHistoryInterval
	}
	if s.Type == TypePrometheus {
		if s.Prometheus == nil {
			s.Prometheus = &PrometheusSpec{}
		}
		q := map[string]QuerySpec{}
		for r, d := range DefaultQueries {
			q[r] = d
		}
		for r, v := range s.Prometheus.Queries {
			q[r] = v
		}
		for r, v := range q {
			if v.NodeLabel == "" {
				v.NodeLabel = DefaultNodeLabel
			}
			if v.Window.Duration == 0 {
				v.Window.Duration = DefaultQueryWindow
			}
			q[r] = v
		}
		s.Prometheus.Queries = q
	}
}

// Validate reports every problem of a defaulted spec with its field path.
func Validate(s *Spec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch s.Type {
	case TypePrometheus:
		pp := path.Child("prometheus")
		if s.Prometheus == nil || s.Prometheus.Address == "" {
			errs = append(errs, field.Required(pp.Child("address"), "the Prometheus base URL, e.g. http://prometheus.monitoring:9090"))
		} else if u, err := url.Parse(s.Prometheus.Address); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, field.Invalid(pp.Child("address"), s.Prometheus.Address, "must be an http:// or https:// URL with a host"))
		}
		if s.Prometheus != nil {
			keys := make([]string, 0, len(s.Prometheus.Queries))
			for k := range s.Prometheus.Queries {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				qp := pp.Child("queries").Key(k)
				if _, ok := load.ParseResource(k); !ok {
					errs = append(errs, field.NotSupported(qp, k, load.ResourceNames()))
					continue
				}
				q := s.Prometheus.Queries[k]
				if q.Expr != "" && q.NodeLabel == "" {
					errs = append(errs, field.Required(qp.Child("nodeLabel"), "the label that names the node"))
				}
				if q.Window.Duration < 0 {
					errs = append(errs, field.Invalid(qp.Child("window"), q.Window.Duration.String(), "must not be negative"))
				}
			}
		}
	case TypeMetricsServer:
	case TypeFile:
		if s.File == nil || s.File.Path == "" {
			errs = append(errs, field.Required(path.Child("file", "path"), "the file with the node loads"))
		}
	default:
		errs = append(errs, field.NotSupported(path.Child("type"), s.Type, []string{TypePrometheus, TypeMetricsServer, TypeFile}))
	}
	if s.Interval.Duration < time.Second {
		errs = append(errs, field.Invalid(path.Child("interval"), s.Interval.Duration.String(), "must be at least 1s"))
	}
	if s.Timeout.Duration <= 0 {
		errs = append(errs, field.Invalid(path.Child("timeout"), s.Timeout.Duration.String(), "must be positive"))
	}
	hp := path.Child("history")
	if w := s.History.Window; w != nil {
		switch {
		case w.Duration < 0:
			errs = append(errs, field.Invalid(hp.Child("window"), w.Duration.String(), "must not be negative"))
		case s.History.Step.Duration <= 0:
			errs = append(errs, field.Invalid(hp.Child("step"), s.History.Step.Duration.String(), "must be positive"))
		case w.Duration/s.History.Step.Duration > MaxHistoryPoints:
			errs = append(errs, field.Invalid(hp.Child("step"), s.History.Step.Duration.String(),
				fmt.Sprintf("window/step is %d points; at most %d", w.Duration/s.History.Step.Duration, MaxHistoryPoints)))
		}
	}
	if s.History.Interval.Duration < 0 {
		errs = append(errs, field.Invalid(hp.Child("interval"), s.History.Interval.Duration.String(), "must not be negative"))
	}
	return errs
}

// Name is how the source appears in logs, metrics and explain.
func (s *Spec) Name() string {
	switch s.Type {
	case TypePrometheus:
		if s.Prometheus != nil {
			return "prometheus " + s.Prometheus.Address
		}
	case TypeFile:
		if s.File != nil {
			return "file " + s.File.Path
		}
	}
	return s.Type
}

// DeepCopy copies the spec (plugin args are deep-copied).
func (s *Spec) DeepCopy() *Spec {
	out := *s
	if s.Prometheus != nil {
		p := *s.Prometheus
		p.Queries = make(map[string]QuerySpec, len(s.Prometheus.Queries))
		for k, v := range s.Prometheus.Queries {
			p.Queries[k] = v
		}
		out.Prometheus = &p
	}
	if s.File != nil {
		f := *s.File
		out.File = &f
	}
	if s.History.Window != nil {
		w := *s.History.Window
		out.History.Window = &w
	}
	return &out
}
