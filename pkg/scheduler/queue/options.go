package queue

import (
	"time"

	"k8s.io/utils/clock"

	"github.com/berthsched/berth/pkg/framework"
)

// Defaults follow kube-scheduler so that pods retry at the pace users expect.
const (
	// DefaultInitialBackoff is the wait after a pod's first failed attempt.
	DefaultInitialBackoff = time.Second
	// DefaultMaxBackoff caps the exponential backoff.
	DefaultMaxBackoff = 10 * time.Second
	// DefaultUnschedulableTimeout is how long a pod may sleep in the
	// unschedulable pool without any helpful event before it is retried
	// anyway, in case a plugin under-registered its events.
	DefaultUnschedulableTimeout = 5 * time.Minute
)

// How often Run flushes the backoff queue and the unschedulable pool.
const (
	backoffFlushInterval       = time.Second
	unschedulableFlushInterval = 30 * time.Second
)

// Options configures a PriorityQueue. Zero values take the defaults above, so
// tests set only what they exercise.
type Options struct {
	// Clock is injected so tests drive backoff and timeouts with a fake
	// clock. Nil means the real clock.
	Clock clock.WithTicker
	// InitialBackoff is the backoff after the first failed attempt; each
	// further attempt doubles it.
	InitialBackoff time.Duration
	// MaxBackoff caps the backoff.
	MaxBackoff time.Duration
	// UnschedulableTimeout bounds how long a pod stays in the pool without a
	// helpful event.
	UnschedulableTimeout time.Duration
	// PreEnqueuePlugins are each profile's PreEnqueue plugins, in order,
	// keyed by profile (scheduler) name.
	PreEnqueuePlugins map[string][]framework.PreEnqueuePlugin
	// ClusterEvents are the events each plugin of each profile registered
	// (EnqueueExtensions), keyed by profile name then plugin name. Only these
	// events move a pod that the plugin rejected.
	ClusterEvents map[string]map[string][]framework.ClusterEventWithHint
	// Metrics receives queue sizes and moves. Nil means NoopMetrics.
	Metrics Metrics
}

func (o *Options) setDefaults() {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = DefaultInitialBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MaxBackoff < o.InitialBackoff {
		o.MaxBackoff = o.InitialBackoff
	}
	if o.UnschedulableTimeout <= 0 {
		o.UnschedulableTimeout = DefaultUnschedulableTimeout
	}
	if o.Metrics == nil {
		o.Metrics = NoopMetrics{}
	}
}

// Queue names used in metrics labels; they follow kube-scheduler's
// pending_pods "queue" label values.
const (
	QueueActive        = "active"
	QueueBackoff       = "backoff"
	QueueUnschedulable = "unschedulable"
	QueueGated         = "gated"
)

// Event labels for moves that are not caused by a cluster event.
const (
	EventPodAdd                 = "PodAdd"
	EventPodUpdate              = "PodUpdate"
	EventScheduleAttemptFailure = "ScheduleAttemptFailure"
	EventBackoffComplete        = "BackoffComplete"
	EventUnschedulableTimeout   = "UnschedulableTimeout"
	EventForceActivate          = "ForceActivate"
	// EventPopFromBackoffQ: Pop took a pod from backoffQ because activeQ
	// was empty.
	EventPopFromBackoffQ = "PopFromBackoffQ"
)

// Metrics is what the queue reports, defined here so that the queue does not
// depend on a metrics registry; pkg/metrics adapts it to Prometheus
// (berth_pending_pods, berth_queue_incoming_pods_total).
type Metrics interface {
	// PendingPods sets the number of pods in one queue (QueueActive,
	// QueueBackoff, QueueUnschedulable, QueueGated). It is called with
	// absolute values after every change, so an implementation is a gauge.
	PendingPods(queue string, n int)
	// QueueIncoming counts one pod entering queue because of event (a
	// cluster event label or one of the Event* constants).
	QueueIncoming(queue, event string)
}

// NoopMetrics discards everything; it is the default so tests and tools need
// no registry.
type NoopMetrics struct{}

// PendingPods implements Metrics.
func (NoopMetrics) PendingPods(string, int) {}

// QueueIncoming implements Metrics.
func (NoopMetrics) QueueIncoming(string, string) {}
