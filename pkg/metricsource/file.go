package metricsource

import (
	"context"
	"fmt"
	"os"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/berthsched/berth/pkg/placement/load"
)

// File is the format of a file source (YAML or JSON). Values are
// utilisation fractions (0.62 = 62 %). Timestamps default to the file's
// modification time, so a file nobody updates ages out under the TTL
// like a dead exporter.
type File struct {
	// Timestamp and Window apply to every node that does not set its own.
	Timestamp *metav1.Time     `json:"timestamp,omitempty"`
	Window    *metav1.Duration `json:"window,omitempty"`
	// Nodes maps a node name (or address) to its load.
	Nodes map[string]FileNode `json:"nodes"`
	// History optionally gives past values per node, ending at the
	// timestamp, for risk balancing and forecasts.
	History *FileHistory `json:"history,omitempty"`
}

// FileNode is one node's load in a File.
type FileNode struct {
	CPU       *float64         `json:"cpu,omitempty"`
	Memory    *float64         `json:"memory,omitempty"`
	GPU       *float64         `json:"gpu,omitempty"`
	DiskIO    *float64         `json:"diskIO,omitempty"`
	Timestamp *metav1.Time     `json:"timestamp,omitempty"`
	Window    *metav1.Duration `json:"window,omitempty"`
}

// FileHistory is past values at a fixed step; the last value of each
// list is at the file's timestamp.
type FileHistory struct {
	Step  metav1.Duration                 `json:"step"`
	Nodes map[string]map[string][]float64 `json:"nodes"`
}

func (n FileNode) values() [load.NumResources]*float64 {
	return [load.NumResources]*float64{n.CPU, n.Memory, n.GPU, n.DiskIO}
}

// fileFetcher reads a File on every refresh that finds it changed.
type fileFetcher struct {
	path string
	// cached parse of the file as of modTime.
	modTime time.Time
	size    int64
	parsed  *File
}

func newFileFetcher(path string) *fileFetcher { return &fileFetcher{path: path} }

func (f *fileFetcher) load() (*File, time.Time, error) {
	st, err := os.Stat(f.path)
	if err != nil {
		return nil, time.Time{}, &kindError{"unreachable", err}
	}
	if f.parsed != nil && st.ModTime().Equal(f.modTime) && st.Size() == f.size {
		return f.parsed, f.modTime, nil
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return nil, time.Time{}, &kindError{"unreachable", err}
	}
	var file File
	if err := yaml.UnmarshalStrict(b, &file); err != nil {
		return nil, time.Time{}, &kindError{"decode", fmt.Errorf("decoding %s: %w", f.path, err)}
	}
	f.parsed, f.modTime, f.size = &file, st.ModTime(), st.Size()
	return &file, st.ModTime(), nil
}

func (f *fileFetcher) current(_ context.Context, _ time.Time) (map[string]*[load.NumResources]load.Sample, []problem, error) {
	file, mod, err := f.load()
	if err != nil {
		return nil, nil, err
	}
	ts, window := mod, DefaultQueryWindow
	if file.Timestamp != nil {
		ts = file.Timestamp.Time
	}
	if file.Window != nil {
		window = file.Window.Duration
	}
	out := make(map[string]*[load.NumResources]load.Sample, len(file.Nodes))
	var bad []string
	for name, n := range file.Nodes {
		t, w := ts, window
		if n.Timestamp != nil {
			t = n.Timestamp.Time
		}
		if n.Window != nil {
			w = n.Window.Duration
		}
		e := &[load.NumResources]load.Sample{}
		for r, v := range n.values() {
			if v == nil {
				continue
			}
			if !load.Sane(*v) {
				bad = append(bad, fmt.Sprintf("%s.%s=%v", name, load.Resource(r), *v))
				continue
			}
			e[r] = load.Sample{Value: *v, Time: t, Window: w}
		}
		out[load.NodeKey(name)] = e
	}
	var probs []problem
	if len(bad) > 0 {
		sort.Strings(bad)
		probs = append(probs, problem{load.NumResources, "invalid_value",
			fmt.Sprintf("%d values in %s are NaN, infinite or negative (e.g. %s); dropped", len(bad), f.path, bad[0])})
	}
	return out, probs, nil
}

func (f *fileFetcher) history(_ context.Context, _ time.Time) (map[string]*[load.NumResources][]point, []problem, bool, error) {
	file, mod, err := f.load()
	if err != nil {
		return nil, nil, false, err
	}
	if file.History == nil {
		return nil, nil, false, nil
	}
	step := file.History.Step.Duration
	if step <= 0 {
		return nil, []problem{{load.NumResources, "decode", fmt.Sprintf("%s: history.step must be positive", f.path)}}, false, nil
	}
	end := mod
	if file.Timestamp != nil {
		end = file.Timestamp.Time
	}
	out := map[string]*[load.NumResources][]point{}
	var probs []problem
	for name, byRes := range file.History.Nodes {
		e := &[load.NumResources][]point{}
		for rn, vals := range byRes {
			r, ok := load.ParseResource(rn)
			if !ok {
				probs = append(probs, problem{load.NumResources, "decode", fmt.Sprintf("%s: history of %s names unknown resource %q (known: %v)", f.path, name, rn, load.ResourceNames())})
				continue
			}
			start := end.Add(-time.Duration(len(vals)-1) * step)
			for i, v := range vals {
				if load.Sane(v) {
					e[r] = append(e[r], point{start.Add(time.Duration(i) * step), v})
				}
			}
		}
		out[load.NodeKey(name)] = e
	}
	return out, dedupe(probs), true, nil
}
