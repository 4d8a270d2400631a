package conformance

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/version"
	ndf "k8s.io/component-helpers/nodedeclaredfeatures"
)

// TestFeatureScenarios makes sure the node-features scenarios (addFeatures)
// give NodeDeclaredFeatures something to decide: among the admitted cases,
// pods that need a feature must meet nodes that declare it (accepted) and
// nodes that do not (rejected), and most pods must need none (Skip). It
// counts with the feature library directly, then runs kube-scheduler's
// plugin against a second copy of itself, which must agree and must give
// its rejection reason.
func TestFeatureScenarios(t *testing.T) {
	target := version.MustParseSemantic("1.37.2")
	var skipped, needing, accepted, rejected, unknownDeclared int
	for s := uint64(1); s <= 300; s++ {
		c := Generate(s, DefaultGenOptions)
		cl, pending, err := admitCase(c.Cluster, c.Pending)
		if err != nil {
			t.Fatalf("seed %d: %v", s, err)
		}
		for _, n := range cl.Nodes {
			for _, f := range n.Status.DeclaredFeatures {
				if _, err := ndf.DefaultFramework.MapSorted([]string{f}); err != nil {
					unknownDeclared++
				}
			}
		}
		for _, pod := range pending {
			req, err := ndf.DefaultFramework.InferForPodScheduling(&ndf.PodInfo{Spec: &pod.Spec}, target)
			if err != nil {
				t.Fatal(err)
			}
			if req.IsEmpty() {
				skipped++
				continue
			}
			needing++
			for _, n := range cl.Nodes {
				ok, err := req.IsSubset(ndf.DefaultFramework.TryMap(n.Status.DeclaredFeatures))
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					accepted++
				} else {
					rejected++
				}
			}
		}
	}
	t.Logf("pods needing no feature %d, needing one %d; (pod, node) accepted %d, rejected %d; unknown names declared %d",
		skipped, needing, accepted, rejected, unknownDeclared)
	if needing == 0 || accepted == 0 || rejected == 0 || unknownDeclared == 0 {
		t.Errorf("the scenarios must have pods needing features (%d), accepted (%d) and rejected (%d) pairs, and unknown declared names (%d)",
			needing, accepted, rejected, unknownDeclared)
	}
	if skipped < needing {
		t.Errorf("most pods should need no feature: %d need none, %d need one", skipped, needing)
	}

	h := newSelfHarness(t, []Plugin{{Name: "NodeDeclaredFeatures", Filter: true}})
	for s := uint64(1); s <= 100; s++ {
		checkSelf(t, h, context.Background(), Generate(s, DefaultGenOptions))
	}
	st := h.Stats["NodeDeclaredFeatures"]
	if st.Rejections == 0 || st.Reasons["UnschedulableAndUnresolvable: node(s) didn't match Pod's required features"] == 0 {
		var b strings.Builder
		h.FormatCoverage(&b)
		t.Errorf("kube-scheduler's NodeDeclaredFeatures rejected nothing:\n%s", b.String())
	}
}
