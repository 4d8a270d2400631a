package explain

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestRenderGolden pins the table and JSON renderings of two explanations
// (regenerate with go test ./pkg/explain -run TestRenderGolden -update and
// review the diff).
func TestRenderGolden(t *testing.T) {
	nodes, pods := preemptionCluster()
	tests := []struct {
		name string
		pod  *v1.Pod
		opts Options
	}{
		{name: "unschedulable", pod: pod("p").Req("cpu", "2500m", "memory", "1Gi").Priority(100).Obj(), opts: Options{Node: "n3"}},
		{name: "schedulable", pod: pod("small").Req("cpu", "500m").Obj(), opts: Options{Node: "n2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := newExplainer(t, nodes, pods).Explain(context.Background(), tc.pod, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, format := range []string{FormatTable, FormatJSON} {
				var buf bytes.Buffer
				if err := Render(&buf, e, format); err != nil {
					t.Fatal(err)
				}
				golden(t, filepath.Join("testdata", tc.name+"."+format+".golden"), buf.Bytes())
			}
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got; -update rewrites it):\n%s", path, diff)
	}
}

// TestRenderJSONAndYAMLAgree checks that both machine formats carry the
// same document, with the schema's apiVersion and kind.
func TestRenderJSONAndYAMLAgree(t *testing.T) {
	nodes, pods := preemptionCluster()
	e, err := newExplainer(t, nodes, pods).Explain(context.Background(), pod("p").Req("cpu", "2500m").Priority(100).Obj(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var j, y bytes.Buffer
	if err := Render(&j, e, FormatJSON); err != nil {
		t.Fatal(err)
	}
	if err := Render(&y, e, FormatYAML); err != nil {
		t.Fatal(err)
	}
	var fromJSON, fromYAML Explanation
	if err := json.Unmarshal(j.Bytes(), &fromJSON); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(y.Bytes(), &fromYAML); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fromJSON, fromYAML); diff != "" {
		t.Errorf("JSON and YAML differ:\n%s", diff)
	}
	if fromJSON.APIVersion != APIVersion || fromJSON.Kind != Kind {
		t.Errorf("apiVersion/kind = %s/%s", fromJSON.APIVersion, fromJSON.Kind)
	}
	if err := Render(&j, e, "xml"); err == nil {
		t.Error("unknown format accepted")
	}
}
