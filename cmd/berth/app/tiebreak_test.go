package app

import (
	"context"
	"io"
	"strings"
	"testing"
)

func TestParseTieBreak(t *testing.T) {
	for v, want := range map[string]bool{"": false, "random": false, "name": true} {
		got, err := parseTieBreak(v)
		if err != nil || got != want {
			t.Errorf("parseTieBreak(%q) = %v, %v; want %v, nil", v, got, err, want)
		}
	}
	if _, err := parseTieBreak("Name"); err == nil || !strings.Contains(err.Error(), `unknown --tie-break "Name" (want random or name)`) {
		t.Errorf("parseTieBreak(Name) error = %v", err)
	}
}

// TestRunRefusesAnUnknownTieBreak: the flag is checked before anything
// is read or dialled, so the mistake is the error the user sees.
func TestRunRefusesAnUnknownTieBreak(t *testing.T) {
	err := Run(context.Background(), &RunOptions{TieBreak: "first", Kubeconfig: "/nonexistent"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--tie-break") {
		t.Fatalf("Run with --tie-break=first: %v, want the flag's error", err)
	}
}
