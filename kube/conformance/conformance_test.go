package conformance

import (
	"context"
	"flag"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
)

var (
	seeds     = flag.Int("conformance.seeds", 300, "number of generated cases (seeds 1..N)")
	firstSeed = flag.Uint64("conformance.first-seed", 1, "first seed")
	maxReport = flag.Int("conformance.max-report", 10, "disagreements printed in full")
	strict    = flag.Bool("conformance.strict", false, "fail on KnownDifferences too")
)

// TestConformance runs a fixed set of seeds and requires berth's plugins to
// agree with kube-scheduler's on every (pod, node) verdict and score.
func TestConformance(t *testing.T) {
	h, err := NewHarness(nil)
	if err != nil {
		t.Fatal(err)
	}
	h.Strict = *strict
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reported := 0
	for s := *firstSeed; s < *firstSeed+uint64(*seeds); s++ {
		ds, err := h.Run(ctx, Generate(s, DefaultGenOptions))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if reported+1 >= *maxReport {
				h.Shrink = false // the rest are only counted
			}
			if reported < *maxReport {
				t.Errorf("\n%s", d)
			} else if reported == *maxReport {
				t.Errorf("more disagreements not printed")
			}
			reported++
		}
	}
	var b strings.Builder
	h.FormatStats(&b)
	b.WriteString("\nverdicts per plugin (cases with at least one node given each):\n")
	h.FormatCoverage(&b)
	t.Logf("agreement per plugin:\n%s", b.String())
	if reported > 0 {
		t.Errorf("%d disagreement(s)", reported)
	}
}

// TestGeneratedObjectsAreValid makes sure every generated object passes
// API defaulting and validation: the oracle assumes admitted objects.
func TestGeneratedObjectsAreValid(t *testing.T) {
	for s := uint64(1); s <= 300; s++ {
		c := Generate(s, DefaultGenOptions)
		if _, _, err := admitCase(c.Cluster, c.Pending); err != nil {
			t.Errorf("seed %d: %v", s, err)
		}
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := Generate(7, DefaultGenOptions), Generate(7, DefaultGenOptions)
	da := Disagreement{Pod: a.Pending[0], Cluster: a.Cluster}
	db := Disagreement{Pod: b.Pending[0], Cluster: b.Cluster}
	if da.String() != db.String() {
		t.Fatal("same seed gave different cases")
	}
}

// TestAdmitRejectsInvalid guards the validity check itself.
func TestAdmitRejectsInvalid(t *testing.T) {
	p := Generate(1, DefaultGenOptions).Pending[0].DeepCopy()
	p.Spec.Tolerations = []v1.Toleration{{Key: "", Operator: v1.TolerationOpEqual, Value: "x"}}
	if _, err := AdmitPod(p); err == nil {
		t.Fatal("AdmitPod accepted a toleration with an empty key and operator Equal")
	}
	n := Generate(1, DefaultGenOptions).Cluster.Nodes[0].DeepCopy()
	n.Spec.Taints = []v1.Taint{{Key: "a", Effect: v1.TaintEffectNoSchedule}, {Key: "a", Effect: v1.TaintEffectNoSchedule}}
	if _, err := AdmitNode(n); err == nil {
		t.Fatal("AdmitNode accepted duplicate taints")
	}
}
