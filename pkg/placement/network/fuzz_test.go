package network

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// FuzzParseTalksTo feeds arbitrary annotation values to the parser of
// berth.io/talks-to. It must never panic; what it accepts must be valid
// label selectors with weights in range, no term twice, and must read
// back the same from its canonical form.
func FuzzParseTalksTo(f *testing.F) {
	for _, s := range []string{"", "app=db", "app=db:3, tier=cache:1", "app=db,app=db", "app=:2", "a=b:0", "x/y=z:101", "app=db,", "=x", "app=db:9999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		terms, err := ParseTalksTo(s)
		if err != nil {
			if !strings.Contains(err.Error(), TalksToAnnotation) {
				t.Fatalf("error %q does not name the annotation", err)
			}
			return
		}
		seen := map[string]bool{}
		var canon []string
		for _, tm := range terms {
			if len(validation.IsQualifiedName(tm.Key)) > 0 || tm.Value == "" || len(validation.IsValidLabelValue(tm.Value)) > 0 {
				t.Fatalf("accepted an invalid selector %q from %q", tm.String(), s)
			}
			if tm.Weight < 1 || tm.Weight > MaxWeight {
				t.Fatalf("weight %d from %q", tm.Weight, s)
			}
			if seen[tm.String()] {
				t.Fatalf("term %s twice from %q", tm, s)
			}
			seen[tm.String()] = true
			canon = append(canon, fmt.Sprintf("%s:%d", tm, tm.Weight))
		}
		again, err := ParseTalksTo(strings.Join(canon, ","))
		if err != nil || len(again) != len(terms) {
			t.Fatalf("canonical form %q of %q: %v, %d terms, want %d", strings.Join(canon, ","), s, err, len(again), len(terms))
		}
		for i := range again {
			if again[i] != terms[i] {
				t.Fatalf("canonical form read back %+v, want %+v", again[i], terms[i])
			}
		}
	})
}
