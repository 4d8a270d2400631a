package framework

import (
	"errors"
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
// attempt of one pod. Writes happen in PreFilter/PreScore (single goroutine);
// Filter and Score read it concurrently across nodes, hence the RWMutex.
type CycleState struct {
	mu      sync.RWMutex
	storage map[StateKey]StateData

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
	return &CycleState{storage: make(map[StateKey]StateData)}
}

// Read returns the data under key, or ErrNotFound.
func (c *CycleState) Read(key StateKey) (StateData, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if v, ok := c.storage[key]; ok {
		return v, nil
	}
	return nil, ErrNotFound
}

// Write stores data under key, replacing any earlier value.
func (c *CycleState) Write(key StateKey, val StateData) {
	c.mu.Lock()
	c.storage[key] = val
	c.mu.Unlock()
}

// Delete removes key.
func (c *CycleState) Delete(key StateKey) {
	c.mu.Lock()
	delete(c.storage, key)
	c.mu.Unlock()
}

// Clone deep-copies the state through each value's Clone.
func (c *CycleState) Clone() *CycleState {
	if c == nil {
		return nil
	}
	out := NewCycleState()
	c.mu.RLock()
	defer c.mu.RUnlock()
	for k, v := range c.storage {
		out.storage[k] = v.Clone()
	}
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
