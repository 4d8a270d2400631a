package app

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func record(holder string, renewed time.Time) *resourcelock.LeaderElectionRecord {
	return &resourcelock.LeaderElectionRecord{HolderIdentity: holder, LeaseDurationSeconds: 15, AcquireTime: metav1.NewTime(t0.Add(-time.Hour)), RenewTime: metav1.NewTime(renewed)}
}

func TestTakeoverGap(t *testing.T) {
	tests := []struct {
		name     string
		prev     *resourcelock.LeaderElectionRecord
		acquired time.Time
		want     time.Duration
	}{
		{"no previous holder", nil, t0, 0},
		{"a crashed leader: its last renewal to the acquisition", record("old", t0), t0.Add(17 * time.Second), 17 * time.Second},
		{"a released lease: the release to the acquisition", record("", t0), t0.Add(1500 * time.Millisecond), 1500 * time.Millisecond},
		{"a record that was never renewed", &resourcelock.LeaderElectionRecord{HolderIdentity: "old"}, t0, 0},
		{"clock skew puts the renewal after the acquisition", record("old", t0.Add(time.Second)), t0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := takeoverGap(tc.prev, tc.acquired); got != tc.want {
				t.Errorf("takeoverGap = %v, want %v", got, tc.want)
			}
		})
	}
}

// fakeLock is a lease in memory; a nil rec means no lease.
type fakeLock struct {
	id  string
	rec *resourcelock.LeaderElectionRecord
}

func (f *fakeLock) Get(context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	if f.rec == nil {
		return nil, nil, apierrors.NewNotFound(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, "lease")
	}
	r := *f.rec
	return &r, []byte(r.HolderIdentity + r.RenewTime.String()), nil
}

func (f *fakeLock) Create(_ context.Context, ler resourcelock.LeaderElectionRecord) error {
	f.rec = &ler
	return nil
}

func (f *fakeLock) Update(_ context.Context, ler resourcelock.LeaderElectionRecord) error {
	f.rec = &ler
	return nil
}

func (f *fakeLock) RecordEvent(string)          {}
func (f *fakeLock) Identity() string            { return f.id }
func (f *fakeLock) Describe() string            { return "fake" }
func (f *fakeLock) WithContext(context.Context) {}

// write does what client-go's elector does on acquiring or renewing.
func write(t *testing.T, l *observingLock, acquired, renewed time.Time) {
	t.Helper()
	if err := l.Update(context.Background(), resourcelock.LeaderElectionRecord{HolderIdentity: l.Identity(), LeaseDurationSeconds: 15, AcquireTime: metav1.NewTime(acquired), RenewTime: metav1.NewTime(renewed)}); err != nil {
		t.Fatal(err)
	}
}

func TestObservingLockMeasuresTheTakeover(t *testing.T) {
	ctx := context.Background()

	t.Run("from the last renewal seen by the standby", func(t *testing.T) {
		l := &observingLock{Interface: &fakeLock{id: "me", rec: record("old", t0)}}
		// The standby polls while the old leader renews, then crashes.
		_, _, _ = l.Get(ctx)
		l.Interface.(*fakeLock).rec = record("old", t0.Add(2*time.Second))
		_, _, _ = l.Get(ctx)
		acquired := t0.Add(19 * time.Second)
		write(t, l, acquired, acquired)
		if got, want := l.takeover(), 17*time.Second; got != want {
			t.Errorf("takeover = %v, want %v", got, want)
		}
		// Renewals, including the slow path that reads our own record,
		// leave the measurement alone.
		_, _, _ = l.Get(ctx)
		write(t, l, acquired, acquired.Add(2*time.Second))
		if got, want := l.takeover(), 17*time.Second; got != want {
			t.Errorf("takeover after a renewal = %v, want %v", got, want)
		}
	})

	t.Run("from a release", func(t *testing.T) {
		l := &observingLock{Interface: &fakeLock{id: "me", rec: record("", t0)}}
		_, _, _ = l.Get(ctx)
		write(t, l, t0.Add(time.Second), t0.Add(time.Second))
		if got, want := l.takeover(), time.Second; got != want {
			t.Errorf("takeover = %v, want %v", got, want)
		}
	})

	t.Run("no previous holder", func(t *testing.T) {
		fake := &fakeLock{id: "me", rec: record("old", t0)}
		l := &observingLock{Interface: fake}
		_, _, _ = l.Get(ctx)
		// The lease is deleted before we create it: nobody held it.
		fake.rec = nil
		if _, _, err := l.Get(ctx); !apierrors.IsNotFound(err) {
			t.Fatalf("Get = %v, want NotFound", err)
		}
		if err := l.Create(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me", AcquireTime: metav1.NewTime(t0.Add(time.Minute)), RenewTime: metav1.NewTime(t0.Add(time.Minute))}); err != nil {
			t.Fatal(err)
		}
		if got := l.takeover(); got != 0 {
			t.Errorf("takeover = %v, want 0", got)
		}
	})
}
