package metricsource

import (
	"sync/atomic"

	"github.com/berthsched/berth/pkg/placement/load"
)

// Static is a source whose snapshots its owner sets: simulations publish
// the loads of their synthetic cluster through it, and tests pin a state.
type Static struct {
	name string
	snap atomic.Pointer[load.Snapshot]
}

// NewStatic returns a Static source with an empty snapshot.
func NewStatic(name string) *Static {
	s := &Static{name: name}
	s.snap.Store(&load.Snapshot{Source: name})
	return s
}

// Set publishes snap; the caller must not modify it afterwards.
func (s *Static) Set(snap *load.Snapshot) {
	if snap.Source == "" {
		snap.Source = s.name
	}
	s.snap.Store(snap)
}

// Name implements Source.
func (s *Static) Name() string { return s.name }

// Snapshot implements Source.
func (s *Static) Snapshot() *load.Snapshot { return s.snap.Load() }

// Synced implements Source: a static source is always ready.
func (s *Static) Synced() bool { return true }
