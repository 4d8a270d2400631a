package metricsource

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berthsched/berth/pkg/placement/load"
)

// FuzzFileSource feeds arbitrary bytes to the file source (a ConfigMap an
// operator or a script writes). Reading it must never panic; every sample
// and history point it hands LoadAware must be a sane fraction (finite,
// not negative), whatever the file says.
func FuzzFileSource(f *testing.F) {
	f.Add([]byte("nodes:\n  node-1: {cpu: 0.62, memory: 0.4}\n  10.0.0.5: {gpu: 0.9, timestamp: \"2026-12-02T10:00:00Z\", window: 1m}\n"))
	f.Add([]byte("timestamp: \"2026-12-02T10:00:00Z\"\nwindow: 30s\nnodes: {a: {cpu: -1, memory: .nan}}\nhistory:\n  step: 1m\n  nodes: {a: {cpu: [0.1, 0.2, -3, .inf], disk: [1]}}\n"))
	f.Add([]byte(`{"nodes":{"a":{"cpu":1e308}},"history":{"step":"0s","nodes":{}}}`))
	f.Add([]byte("nodes: {a: {cpu: 0.5, extra: 1}}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "load.yaml")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		ff := newFileFetcher(path)
		now := time.Now()
		cur, _, err := ff.current(context.Background(), now)
		if err == nil {
			for node, samples := range cur {
				for r, s := range samples {
					if s.Time.IsZero() {
						continue
					}
					if !load.Sane(s.Value) {
						t.Fatalf("node %s %s: insane value %v handed on", node, load.Resource(r), s.Value)
					}
				}
			}
		}
		hist, _, _, err := ff.history(context.Background(), now)
		if err != nil {
			return
		}
		for node, byRes := range hist {
			for r, pts := range byRes {
				for _, p := range pts {
					if !load.Sane(p.v) {
						t.Fatalf("node %s %s: insane history point %v", node, load.Resource(r), p.v)
					}
				}
			}
		}
	})
}
