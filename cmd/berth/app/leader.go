package app

import (
	"context"
	"errors"
	"os"
	"time"

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
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: cfg.ResourceNamespace, Name: cfg.ResourceName},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
	}
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
				acquired := time.Now()
				m.IsLeader.Set(1)
				logger.Info("Acquired leader lease; scheduling", "identity", identity)
				m.LeaderTakeoverSeconds.Set(time.Since(acquired).Seconds())
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
