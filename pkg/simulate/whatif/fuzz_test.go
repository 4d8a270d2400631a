package whatif

import (
	"testing"

	"sigs.k8s.io/yaml"
)

// FuzzDecode feeds arbitrary bytes to the snapshot decoder (berth
// simulate whatif --snapshot reads files people pass around). It must
// never panic; a snapshot it accepts has a kind and a name on every
// object and parseable served resources, and reads back the same from
// its own YAML.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("apiVersion: " + APIVersion + "\nkind: " + SnapshotKind + "\ntakenAt: \"2026-12-02T10:00:00Z\"\nserved: [nodes/v1, pods/v1]\nobjects:\n- apiVersion: v1\n  kind: Node\n  metadata: {name: n1}\n"))
	f.Add([]byte("apiVersion: " + APIVersion + "\nkind: " + SnapshotKind + "\nobjects: [{kind: Pod}]\n"))
	f.Add([]byte("apiVersion: v1\nkind: List\n"))
	f.Add([]byte("apiVersion: " + APIVersion + "\nkind: " + SnapshotKind + "\nserved: [\"/v1\"]\nextra: 1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err != nil {
			return
		}
		for i, o := range s.Objects {
			if o.GetAPIVersion() == "" || o.GetKind() == "" || o.GetName() == "" {
				t.Fatalf("objects[%d] accepted without apiVersion, kind or name: %v", i, o.Object)
			}
		}
		for _, r := range s.Served {
			if _, err := parseResource(r); err != nil {
				t.Fatalf("served %q accepted: %v", r, err)
			}
		}
		out, err := yaml.Marshal(s)
		if err != nil {
			t.Fatalf("marshalling an accepted snapshot: %v", err)
		}
		again, err := Decode(out)
		if err != nil {
			t.Fatalf("its own YAML does not decode: %v\n%s", err, out)
		}
		if len(again.Objects) != len(s.Objects) || len(again.Served) != len(s.Served) {
			t.Fatalf("round trip: %d objects %d served, want %d and %d", len(again.Objects), len(again.Served), len(s.Objects), len(s.Served))
		}
	})
}
