package lint

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fixtureCluster is testdata/cluster read into a Cluster, as `berth lint
// --cluster-file testdata/cluster` would.
func fixtureCluster(t testing.TB) *Cluster {
	t.Helper()
	objs, findings, err := NewReader().ReadPaths([]string{filepath.Join("testdata", "cluster")}, nil)
	if err != nil || len(findings) > 0 {
		t.Fatalf("reading the fixture cluster: %v %v", err, findings)
	}
	return ClusterFromObjects(objs)
}

func lintFile(t *testing.T, path string, c *Cluster) []Finding {
	t.Helper()
	objs, rf, err := NewReader().ReadPaths([]string{path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := LintAll(objs, rf, Options{Cluster: c})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// expectedIDs reads the "# expect: BL001 BL002" line every bad manifest
// starts with; a rule expected twice must be found twice.
func expectedIDs(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "# expect:"); ok {
			ids := strings.Fields(rest)
			sort.Strings(ids)
			return ids
		}
	}
	t.Fatalf("%s has no '# expect:' line", path)
	return nil
}

func ids(fs []Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.Rule)
	}
	sort.Strings(out)
	return out
}

// TestCorpusBad lints every manifest of testdata/bad against the fixture
// cluster and wants exactly the rule IDs its expect line names.
func TestCorpusBad(t *testing.T) {
	c := fixtureCluster(t)
	paths, _ := filepath.Glob(filepath.Join("testdata", "bad", "*"))
	if len(paths) < 40 {
		t.Fatalf("%d bad manifests, want at least 40", len(paths))
	}
	covered := map[string]bool{}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			want := expectedIDs(t, p)
			fs := lintFile(t, p, c)
			if diff := cmp.Diff(want, ids(fs)); diff != "" {
				var b strings.Builder
				_ = WriteText(&b, fs)
				t.Errorf("rule IDs (-want +got):\n%s\n%s", diff, b.String())
			}
			for _, f := range fs {
				covered[f.Rule] = true
				if f.Message == "" || f.Remedy == "" || f.Name == "" || f.Severity == "" {
					t.Errorf("incomplete finding %+v", f)
				}
				if f.Rule != RuleUndecodable && (f.Field == "" || f.Source.Line == 0) {
					t.Errorf("finding without field or line: %+v", f)
				}
			}
		})
	}
	for _, r := range Rules() {
		if !covered[r.ID] && r.ID != RuleFieldUnsupported {
			t.Errorf("rule %s (%s) is not exercised by any bad manifest", r.ID, r.Name)
		}
	}
}

// TestCorpusGood wants no finding at all for testdata/good against the
// fixture cluster, and nothing worse than info offline.
func TestCorpusGood(t *testing.T) {
	c := fixtureCluster(t)
	paths, _ := filepath.Glob(filepath.Join("testdata", "good", "*"))
	if len(paths) < 20 {
		t.Fatalf("%d good manifests, want at least 20", len(paths))
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			for _, cl := range []*Cluster{c, nil} {
				fs := lintFile(t, p, cl)
				if cl == nil {
					fs = atLeast(fs, Warning)
				}
				if len(fs) > 0 {
					var b strings.Builder
					_ = WriteText(&b, fs)
					t.Errorf("findings (cluster %v):\n%s", cl != nil, b.String())
				}
			}
		})
	}
}

func atLeast(fs []Finding, s Severity) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Severity.AtLeast(s) {
			out = append(out, f)
		}
	}
	return out
}
