package app

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/metrics"
)

// errLostLease is what runLeaderElected returns when the lease is lost
// while the scheduler runs: the process must exit so that a fresh replica,
// with a cache it can trust, takes over.
var errLostLease = errors.New("lost the leader lease; exiting so that a fresh replica takes over")

// runLeaderElected campaigns for the lease described by cfg and runs
// schedule while this replica holds it. It returns nil when ctx ends
// (releasing the lease), and errLostLease when the lease is lost. identity
// defaults to hostname_uuid.
func runLeaderElected(ctx context.Context, cfg config.LeaderElection, client kubernetes.Interface, identity string, m *metrics.Metrics, schedule func(context.Context)) error {
	logger := klog.FromContext(ctx)
	if identity == "" {
		host, _ := os.Hostname()
		identity = host + "_" + string(uuid.NewUUID())
	}
	lock := &observingLock{Interface: &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: cfg.ResourceNamespace, Name: cfg.ResourceName},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
	}}
	var lostLease error
	leCtx, leCancel := context.WithCancel(ctx)
	defer leCancel()
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   cfg.LeaseDuration,
		RenewDeadline:   cfg.RenewDeadline,
		RetryPeriod:     cfg.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            "berth",
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				m.IsLeader.Set(1)
				gap := lock.takeover()
				m.LeaderTakeoverSeconds.Set(gap.Seconds())
				logger.Info("Acquired leader lease; scheduling", "identity", identity, "unledFor", gap)
				schedule(ctx)
			},
			OnStoppedLeading: func() {
				m.IsLeader.Set(0)
				if ctx.Err() == nil {
					lostLease = errLostLease
					logger.Error(lostLease, "Leader election lost")
				}
				leCancel()
			},
			OnNewLeader: func(leader string) {
				if leader != identity {
					logger.Info("Another replica leads; standing by with warm caches", "leader", leader)
				}
			},
		},
	})
	if err != nil {
		return err
	}
	le.Run(leCtx)
	return lostLease
}

// observingLock is a resource lock that remembers the last record it read
// that was held by another replica (or released), so that on acquiring the
// lease it can tell how long the lease had gone without a leader: the
// value of berth_leader_takeover_seconds.
type observingLock struct {
	resourcelock.Interface

	mu sync.Mutex
	// prev is the last record read whose holder was not this replica; it
	// is cleared when this replica acquires the lease.
	prev *resourcelock.LeaderElectionRecord
	// gap is the takeover gap of this replica's last acquisition.
	gap time.Duration
}

// Get reads the lease and remembers it when another replica holds it (or
// nobody does, after a release). A missing lease forgets what was seen.
func (l *observingLock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	rec, raw, err := l.Interface.Get(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case apierrors.IsNotFound(err):
		l.prev = nil
	case err == nil && rec != nil && rec.HolderIdentity != l.Identity():
		r := *rec
		l.prev = &r
	}
	return rec, raw, err
}

// Create writes a new lease; see acquired.
func (l *observingLock) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	err := l.Interface.Create(ctx, ler)
	if err == nil {
		l.acquired(ler)
	}
	return err
}

// Update writes the lease; see acquired.
func (l *observingLock) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	err := l.Interface.Update(ctx, ler)
	if err == nil {
		l.acquired(ler)
	}
	return err
}

// acquired notes a successful write. A write naming this replica as
// holder while a record of another holder is remembered is the
// acquisition; renewals and the release leave the gap alone.
func (l *observingLock) acquired(ler resourcelock.LeaderElectionRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ler.HolderIdentity != l.Identity() {
		return
	}
	if l.prev == nil {
		return
	}
	l.gap = takeoverGap(l.prev, ler.AcquireTime.Time)
	l.prev = nil
}

// takeover returns the gap of the last acquisition.
func (l *observingLock) takeover() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gap
}

// takeoverGap is how long the lease went without a leader before it was
// acquired at acquired: from prev's last renewal by another holder, or
// from its release (a released record names no holder and carries the
// release time as its renewTime). It is 0 without a previous record. The
// renewTime was written by the previous holder's clock, so skew between
// the replicas' clocks shifts the gap; a negative result is reported as 0.
func takeoverGap(prev *resourcelock.LeaderElectionRecord, acquired time.Time) time.Duration {
	if prev == nil || prev.RenewTime.IsZero() {
		return 0
	}
	if d := acquired.Sub(prev.RenewTime.Time); d > 0 {
		return d
	}
	return 0
}
