package upstream

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// ConfigFile is the name of scheduler_perf's workload definition files.
const ConfigFile = "performance-config.yaml"

// TestCase is one entry of a performance-config.yaml file: a named
// operation template run by one or more workloads.
type TestCase struct {
	// Name of the test case (e.g. SchedulingBasic).
	Name string `json:"name"`
	// FeatureGates apply to every workload of the test case.
	FeatureGates map[string]bool `json:"featureGates,omitempty"`
	// DefaultPodTemplatePath is used by createPods ops without a
	// podTemplatePath (relative to Dir).
	DefaultPodTemplatePath string `json:"defaultPodTemplatePath,omitempty"`
	// WorkloadTemplate is the operation list, with $param references.
	WorkloadTemplate []RawOp `json:"workloadTemplate"`
	// Workloads are the parameter sets.
	Workloads []Workload `json:"workloads"`
	// Dir is the directory of the file the test case came from; template
	// paths are relative to it.
	Dir string `json:"-"`
	// File is the path of that file.
	File string `json:"-"`
}

// RawOp is one operation as written, before parameter resolution.
type RawOp map[string]any

// Opcode returns the op's opcode.
func (o RawOp) Opcode() string {
	s, _ := o["opcode"].(string)
	return s
}

// Workload is one parameter set of a test case.
type Workload struct {
	// Name of the workload (e.g. 500Nodes).
	Name string `json:"name"`
	// Labels such as performance, integration-test, short.
	Labels []string `json:"labels,omitempty"`
	// FeatureGates add to (and override) the test case's.
	FeatureGates map[string]bool `json:"featureGates,omitempty"`
	// Params are substituted for $name references in the template.
	Params map[string]any `json:"params,omitempty"`
	// Threshold is upstream's published minimum SchedulingThroughput
	// (pods/s): a number, or a map of numbers by topic (e.g. {dra: 56}).
	Threshold Threshold `json:"threshold,omitempty"`
}

// Threshold is a workload's published throughput threshold.
type Threshold struct {
	// Value is the plain threshold (0: none).
	Value float64
	// ByTopic holds thresholds given per topic.
	ByTopic map[string]float64
}

// UnmarshalJSON accepts a number or a map of numbers.
func (t *Threshold) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	if err := json.Unmarshal(data, &t.Value); err == nil {
		return nil
	}
	return json.Unmarshal(data, &t.ByTopic)
}

// MarshalJSON writes the number, or the map.
func (t Threshold) MarshalJSON() ([]byte, error) {
	if len(t.ByTopic) > 0 {
		return json.Marshal(t.ByTopic)
	}
	return json.Marshal(t.Value)
}

// IsZero reports whether no threshold is set.
func (t Threshold) IsZero() bool { return t.Value == 0 && len(t.ByTopic) == 0 }

// String renders the threshold for a report ("-" when none).
func (t Threshold) String() string {
	if t.Value > 0 {
		return fmt.Sprintf("%g", t.Value)
	}
	if len(t.ByTopic) == 0 {
		return "-"
	}
	var parts []string
	for k, v := range t.ByTopic {
		parts = append(parts, fmt.Sprintf("%s: %g", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// HasLabel reports whether the workload carries label.
func (w *Workload) HasLabel(label string) bool {
	for _, l := range w.Labels {
		if l == label {
			return true
		}
	}
	return false
}

// ParseFile decodes one performance-config.yaml; dir is recorded in each
// test case as the base of its template paths.
func ParseFile(data []byte, file string) ([]*TestCase, error) {
	var tcs []*TestCase
	if err := yaml.Unmarshal(data, &tcs); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	for i, tc := range tcs {
		if tc == nil || tc.Name == "" {
			return nil, fmt.Errorf("%s: test case #%d has no name", file, i)
		}
		if len(tc.WorkloadTemplate) == 0 {
			return nil, fmt.Errorf("%s: test case %s has no workloadTemplate", file, tc.Name)
		}
		for j, op := range tc.WorkloadTemplate {
			if op.Opcode() == "" {
				return nil, fmt.Errorf("%s: test case %s: op #%d has no opcode", file, tc.Name, j)
			}
		}
		tc.File, tc.Dir = file, filepath.Dir(file)
	}
	return tcs, nil
}

// Load reads every performance-config.yaml under root (scheduler_perf's
// directory), sorted by test case name. Test case names are unique across
// the files (scheduler_perf requires it).
func Load(root string) ([]*TestCase, error) {
	var out []*TestCase
	seen := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() != ConfigFile {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		tcs, err := ParseFile(data, path)
		if err != nil {
			return err
		}
		for _, tc := range tcs {
			if prev, ok := seen[tc.Name]; ok {
				return fmt.Errorf("test case %s is defined in %s and %s", tc.Name, prev, path)
			}
			seen[tc.Name] = path
		}
		out = append(out, tcs...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s under %s", ConfigFile, root)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Find returns the test case named name (case-insensitive), or nil.
func Find(tcs []*TestCase, name string) *TestCase {
	for _, tc := range tcs {
		if strings.EqualFold(tc.Name, name) {
			return tc
		}
	}
	return nil
}

// Workload returns the test case's workload named name, or nil.
func (tc *TestCase) Workload(name string) *Workload {
	for i := range tc.Workloads {
		if tc.Workloads[i].Name == name {
			return &tc.Workloads[i]
		}
	}
	return nil
}

// PublishedThreshold returns the threshold of workload w, or, when w has
// none, the first threshold of a performance-labelled workload of the test
// case with the name of the workload it came from.
func (tc *TestCase) PublishedThreshold(w *Workload) (Threshold, string) {
	if !w.Threshold.IsZero() {
		return w.Threshold, w.Name
	}
	for i := range tc.Workloads {
		if !tc.Workloads[i].Threshold.IsZero() {
			return tc.Workloads[i].Threshold, tc.Workloads[i].Name
		}
	}
	return Threshold{}, ""
}

// FeatureGatesOf merges the test case's and the workload's gates.
func (tc *TestCase) FeatureGatesOf(w *Workload) map[string]bool {
	out := map[string]bool{}
	for k, v := range tc.FeatureGates {
		out[k] = v
	}
	for k, v := range w.FeatureGates {
		out[k] = v
	}
	return out
}
