package framework

import (
	"errors"
	"fmt"
	"sync"
)

// ErrNotFound is returned by CycleState.Read for a key nobody wrote.
var ErrNotFound = errors.New("not found")

// StateKey names a piece of per-cycle state; plugins use their own name (or
// name plus a suffix) so keys never clash.
type StateKey string

// StateData is what a plugin stores in CycleState. Clone must return a copy
// that can be changed without affecting the original; preemption clones the
// state to try "what if these pods were gone" without disturbing the cycle.
type StateData interface {
	Clone() StateData
}

// CycleState carries data between the extension points of one scheduling
// attempt of one pod. Writes happen in PreFilter/PreScore (single
// goroutine); Filter and Score read it concurrently across thousands of
// nodes, so reads must not contend: a sync.Map serves them without locks.
type CycleState struct {
	storage sync.Map // StateKey -> StateData

	// SkipFilterPlugins holds the plugins whose PreFilter returned Skip.
	SkipFilterPlugins map[string]struct{}
	// SkipScorePlugins holds the plugins whose PreScore returned Skip.
	SkipScorePlugins map[string]struct{}
	// RecordPluginMetrics is set on a sample of cycles; per-plugin
	// durations are only recorded then, to keep the hot path cheap.
	RecordPluginMetrics bool
}

// NewCycleState returns an empty state.
func NewCycleState() *CycleState {
	return &CycleState{}
}

// Read returns the data under key, or ErrNotFound.
func (c *CycleState) Read(key StateKey) (StateData, error) {
	if v, ok := c.storage.Load(key); ok {
		return v.(StateData), nil
	}
	return nil, ErrNotFound
}

// Write stores data under key, replacing any earlier value.
func (c *CycleState) Write(key StateKey, val StateData) {
	c.storage.Store(key, val)
}

// Delete removes key.
func (c *CycleState) Delete(key StateKey) {
	c.storage.Delete(key)
}

// Clone deep-copies the state through each value's Clone.
func (c *CycleState) Clone() *CycleState {
	if c == nil {
		return nil
	}
	out := NewCycleState()
	c.storage.Range(func(k, v any) bool {
		out.storage.Store(k, v.(StateData).Clone())
		return true
	})
	out.SkipFilterPlugins = cloneSet(c.SkipFilterPlugins)
	out.SkipScorePlugins = cloneSet(c.SkipScorePlugins)
	out.RecordPluginMetrics = c.RecordPluginMetrics
	return out
}

func cloneSet(s map[string]struct{}) map[string]struct{} {
	if s == nil {
		return nil
	}
	out := make(map[string]struct{}, len(s))
	for k := range s {
		out[k] = struct{}{}
	}
	return out
}

// ReadState reads key and asserts its type, so that plugins do not each
// write the same read-and-assert helper. The error names the key and, on
// a type mismatch, both types.
func ReadState[T StateData](c *CycleState, key StateKey) (T, error) {
	var zero T
	data, err := c.Read(key)
	if err != nil {
		return zero, fmt.Errorf("reading %q from cycle state: %w", key, err)
	}
	v, ok := data.(T)
	if !ok {
		return zero, fmt.Errorf("cycle state %q has type %T, want %T", key, data, zero)
	}
	return v, nil
}
