package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Result labels of scheduling attempts.
const (
	ResultScheduled     = "scheduled"
	ResultUnschedulable = "unschedulable"
	ResultError         = "error"
)

// Metrics holds every collector berth exports. A nil *Metrics is not
// allowed; tests use New(prometheus.NewRegistry()).
type Metrics struct {
	// ScheduleAttempts counts scheduling attempts by result and profile.
	ScheduleAttempts *prometheus.CounterVec
	// SchedulingAttemptDuration is the duration of one scheduling cycle
	// (pop to assume or failure), by result and profile.
	SchedulingAttemptDuration *prometheus.HistogramVec
	// PodSchedulingDuration is the end-to-end latency from a pod's first
	// scheduling attempt to its successful bind, by number of attempts.
	PodSchedulingDuration *prometheus.HistogramVec
	// PodCreationToBindDuration is the latency a user sees, from the pod's
	// creation (its creationTimestamp, whole seconds, the API server's
	// clock) to its successful bind: it includes the time before the
	// first attempt (a failover, a long queue), which
	// PodSchedulingDuration does not, so it is what a scheduling latency
	// SLO is written against.
	PodCreationToBindDuration prometheus.Histogram
	// PodSchedulingAttempts is how many attempts a pod needed to be bound.
	PodSchedulingAttempts prometheus.Histogram
	// PendingPods is the number of pods in each queue part.
	PendingPods *prometheus.GaugeVec
	// QueueIncomingPods counts pods entering each queue part, by the event
	// that moved them.
	QueueIncomingPods *prometheus.CounterVec
	// BindingDuration is the duration of the binding cycle, by result.
	BindingDuration *prometheus.HistogramVec
	// BindErrors counts failed binds by reason (conflict: the pod can no
	// longer be bound, never retried; not_found, transient, error).
	BindErrors *prometheus.CounterVec
	// PluginExecutionDuration is a sampled per-plugin duration.
	PluginExecutionDuration *prometheus.HistogramVec
	// ExtensionPointDuration is the duration of each extension point over
	// all its plugins.
	ExtensionPointDuration *prometheus.HistogramVec
	// PluginPanics counts recovered plugin panics.
	PluginPanics *prometheus.CounterVec
	// CacheDrift counts differences the consistency check found and
	// repaired between the cache and the informers, by kind.
	CacheDrift *prometheus.CounterVec
	// CacheSize is the number of nodes, pods and assumed pods in the cache.
	CacheSize *prometheus.GaugeVec
	// AssumedPodsExpired counts assumed pods whose bind never showed up.
	AssumedPodsExpired prometheus.Counter
	// PreemptionAttempts counts preemption attempts (PostFilter runs of
	// DefaultPreemption for pods that may preempt).
	PreemptionAttempts prometheus.Counter
	// PreemptionVictims is the number of victims per preemption.
	PreemptionVictims prometheus.Histogram
	// IsLeader is 1 while this replica holds the leader lease.
	IsLeader prometheus.Gauge
	// LeaderTakeoverSeconds is how long the lease went without a leader
	// before this replica took it over (0 without a previous holder): the
	// outage a failover costs, which lease timing tunes.
	LeaderTakeoverSeconds prometheus.Gauge
	// GroupAttempts counts attempts to place a gang (pod group) whole, by
	// result: scheduled, unschedulable, waiting (fewer members than its
	// minimum exist), error.
	GroupAttempts *prometheus.CounterVec
	// GroupPlacementDuration is the time from a gang's first member's
	// first attempt to the bind of the last member of the attempt that
	// placed it.
	GroupPlacementDuration prometheus.Histogram
	// PodGroups is the number of gangs the scheduler has seen, by the
	// state of their last attempt (waiting, unschedulable, binding,
	// scheduled).
	PodGroups *prometheus.GaugeVec
}

// New creates the collectors and registers them on reg.
func New(reg prometheus.Registerer) *Metrics {
	latency := prometheus.ExponentialBuckets(0.0001, 2, 20) // 100µs .. ~52s
	m := &Metrics{
		ScheduleAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_schedule_attempts_total",
			Help: "Number of attempts to schedule pods, by the result and profile.",
		}, []string{"result", "profile"}),
		SchedulingAttemptDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "berth_scheduling_attempt_duration_seconds", Buckets: latency,
			Help: "Scheduling attempt latency in seconds (scheduling algorithm + assume), by result and profile.",
		}, []string{"result", "profile"}),
		PodSchedulingDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "berth_pod_scheduling_duration_seconds", Buckets: latency,
			Help: "E2e latency for a pod being scheduled, from the first attempt to the bind, by attempts.",
		}, []string{"attempts"}),
		PodCreationToBindDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			// 0.25 s .. ≈ 2.3 h: creationTimestamp has whole seconds.
			Name: "berth_pod_creation_to_bind_duration_seconds", Buckets: prometheus.ExponentialBuckets(0.25, 2, 16),
			Help: "Latency from a pod's creation (creationTimestamp) to its successful bind by berth.",
		}),
		PodSchedulingAttempts: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "berth_pod_scheduling_attempts", Buckets: prometheus.ExponentialBuckets(1, 2, 6),
			Help: "Number of attempts to successfully schedule a pod.",
		}),
		PendingPods: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "berth_pending_pods",
			Help: "Number of pending pods, by the queue type: active, backoff, unschedulable, gated.",
		}, []string{"queue"}),
		QueueIncomingPods: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_queue_incoming_pods_total",
			Help: "Number of pods added to scheduling queues by event and queue type.",
		}, []string{"queue", "event"}),
		BindingDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "berth_binding_duration_seconds", Buckets: latency,
			Help: "Binding cycle latency in seconds (PreBind, Bind, PostBind), by result.",
		}, []string{"result"}),
		BindErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_bind_errors_total",
			Help: "Number of failed binds, by reason: conflict, not_found, transient, error.",
		}, []string{"reason"}),
		PluginExecutionDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "berth_plugin_execution_duration_seconds", Buckets: prometheus.ExponentialBuckets(0.00001, 1.5, 20),
			Help: "Duration for running a plugin at a specific extension point (sampled).",
		}, []string{"plugin", "extension_point", "status"}),
		ExtensionPointDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			// 0.1 ms to ≈ 105 s: PreBind may wait for volumes to be
			// provisioned (VolumeBinding), which takes seconds.
			Name: "berth_framework_extension_point_duration_seconds", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 21),
			Help: "Latency for running all plugins of a specific extension point.",
		}, []string{"extension_point", "status", "profile"}),
		PluginPanics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_plugin_panics_total",
			Help: "Number of panics recovered in plugins, by plugin and extension point.",
		}, []string{"plugin", "extension_point"}),
		CacheDrift: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_cache_drift_total",
			Help: "Number of differences found (and repaired) between the scheduler cache and the informers, by kind.",
		}, []string{"kind"}),
		CacheSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "berth_cache_size",
			Help: "Number of nodes, pods, and assumed (bound in the scheduler but not yet seen) pods in the cache.",
		}, []string{"type"}),
		AssumedPodsExpired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "berth_cache_assumed_pods_expired_total",
			Help: "Number of assumed pods whose binding was never observed and that expired from the cache.",
		}),
		PreemptionAttempts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "berth_preemption_attempts_total",
			Help: "Number of preemption attempts.",
		}),
		PreemptionVictims: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "berth_preemption_victims", Buckets: prometheus.ExponentialBuckets(1, 2, 7),
			Help: "Number of victims selected by a preemption.",
		}),
		IsLeader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "berth_leader_is_leader",
			Help: "1 while this replica holds the leader lease, 0 otherwise.",
		}),
		LeaderTakeoverSeconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "berth_leader_takeover_seconds",
			Help: "Seconds the lease went without a leader before this replica acquired it: from the previous holder's last renewal, or its release, to the acquisition. 0 when there was no previous holder.",
		}),
		GroupAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_pod_group_attempts_total",
			Help: "Number of attempts to place a pod group (gang) whole, by result.",
		}, []string{"result"}),
		GroupPlacementDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "berth_pod_group_placement_duration_seconds",
			Help:    "Time from a pod group's first member's first scheduling attempt to the bind of the last member of the attempt that placed it.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 18), // 10ms .. ~22min
		}),
		PodGroups: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "berth_pod_groups",
			Help: "Number of pod groups (gangs) by the state of their last attempt: waiting, unschedulable, binding, scheduled.",
		}, []string{"state"}),
	}
	reg.MustRegister(m.ScheduleAttempts, m.SchedulingAttemptDuration, m.PodSchedulingDuration, m.PodCreationToBindDuration, m.PodSchedulingAttempts,
		m.PendingPods, m.QueueIncomingPods, m.BindingDuration, m.BindErrors, m.PluginExecutionDuration,
		m.ExtensionPointDuration, m.PluginPanics, m.CacheDrift, m.CacheSize, m.AssumedPodsExpired,
		m.PreemptionAttempts, m.PreemptionVictims, m.IsLeader,
		m.LeaderTakeoverSeconds, m.GroupAttempts, m.GroupPlacementDuration, m.PodGroups)
	return m
}
