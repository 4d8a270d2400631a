package simulate

import (
	"embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/berthsched/berth/pkg/placement/gpu"
)

// NodeRecord is one row of an openb node list: a node's allocatable CPU,
// memory and GPUs, and its card model.
type NodeRecord struct {
	// Name is the node's name (column sn).
	Name string
	// CPUMilli is the allocatable CPU in milli-cores.
	CPUMilli int64
	// MemoryMiB is the allocatable memory in MiB.
	MemoryMiB int64
	// GPUs is the number of cards (0: a node without GPUs).
	GPUs int
	// Model is the card model ("" for a node without GPUs).
	Model string
}

// PodRecord is one row of an openb pod list: what a pod asks for.
type PodRecord struct {
	// Name is the pod's name; names are unique within a trace.
	Name string
	// CPUMilli is the CPU request in milli-cores.
	CPUMilli int64
	// MemoryMiB is the memory request in MiB.
	MemoryMiB int64
	// NumGPU is the number of cards (0: no GPU).
	NumGPU int
	// GPUMilli is the share of each card in milli-GPU, 1..1000 for a GPU
	// pod (below 1000 only with NumGPU 1), 0 otherwise.
	GPUMilli int64
	// GPUSpec lists the card models the pod accepts, "|"-separated; ""
	// accepts any.
	GPUSpec string
}

// GPUDemandMilli is the GPU the pod takes over all its cards, in
// milli-GPU: what the protocol counts as its demand.
func (p PodRecord) GPUDemandMilli() int64 { return int64(p.NumGPU) * p.GPUMilli }

// Trace is a cluster and the pods that arrive at it.
type Trace struct {
	// Name names the workload, the pod list's file name without ".csv"
	// ("openb_pod_list_default").
	Name string
	// Nodes are the cluster's nodes, in file order.
	Nodes []NodeRecord
	// Pods are the pods, in file order (the protocol reorders them).
	Pods []PodRecord
}

// GPUCapacityMilli is the cluster's GPU capacity in milli-GPU, the
// denominator of every ratio the simulation reports.
func (t *Trace) GPUCapacityMilli() int64 {
	var c int64
	for _, n := range t.Nodes {
		c += int64(n.GPUs) * gpu.MilliPerCard
	}
	return c
}

// GPUDemandMilli is the GPU all the trace's pods ask for, in milli-GPU.
func (t *Trace) GPUDemandMilli() int64 { return demandOf(t.Pods) }

func demandOf(pods []PodRecord) int64 {
	var d int64
	for _, p := range pods {
		d += p.GPUDemandMilli()
	}
	return d
}

// The file names of the openb release.
const (
	// NodeListFile is the GPU node list every openb experiment uses.
	NodeListFile = "openb_node_list_gpu_node.csv"
	// PodListPrefix starts the name of every openb pod list.
	PodListPrefix = "openb_pod_list_"
	// DefaultPodListFile is the pod list of the paper's main results.
	DefaultPodListFile = "openb_pod_list_default.csv"
)

// embedded holds the default trace, so `berth simulate` needs no files
// (see openb/README.md for where the copies come from).
//
//go:embed openb/openb_node_list_gpu_node.csv openb/openb_pod_list_default.csv
var embedded embed.FS

// DefaultTrace returns the embedded openb default trace: 1,213 GPU nodes
// and 8,152 pods.
func DefaultTrace() (*Trace, error) {
	nodes, err := readEmbedded(NodeListFile, ReadNodes)
	if err != nil {
		return nil, err
	}
	pods, err := readEmbedded(DefaultPodListFile, ReadPods)
	if err != nil {
		return nil, err
	}
	return &Trace{Name: traceName(DefaultPodListFile), Nodes: nodes, Pods: pods}, nil
}

func readEmbedded[T any](name string, read func(io.Reader, string) ([]T, error)) ([]T, error) {
	f, err := embedded.Open("openb/" + name)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	return read(f, name)
}

// LoadTraceDir loads an openb trace directory: its NodeListFile and its
// one pod list (openb_pod_list_*.csv). A directory with several pod lists
// is an error that names them; pick one with LoadTraceFiles.
func LoadTraceDir(dir string) (*Trace, error) {
	pods, err := filepath.Glob(filepath.Join(dir, PodListPrefix+"*.csv"))
	if err != nil {
		return nil, err
	}
	switch len(pods) {
	case 0:
		return nil, fmt.Errorf("%s holds no pod list (%s*.csv)", dir, PodListPrefix)
	case 1:
	default:
		names := make([]string, len(pods))
		for i, p := range pods {
			names[i] = filepath.Base(p)
		}
		return nil, fmt.Errorf("%s holds %d pod lists (%s); name one with --pods", dir, len(pods), strings.Join(names, ", "))
	}
	return LoadTraceFiles(filepath.Join(dir, NodeListFile), pods[0])
}

// LoadTraceFiles loads a node list and a pod list.
func LoadTraceFiles(nodesPath, podsPath string) (*Trace, error) {
	nodes, err := readFile(nodesPath, ReadNodes)
	if err != nil {
		return nil, err
	}
	pods, err := readFile(podsPath, ReadPods)
	if err != nil {
		return nil, err
	}
	return &Trace{Name: traceName(podsPath), Nodes: nodes, Pods: pods}, nil
}

func readFile[T any](path string, read func(io.Reader, string) ([]T, error)) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	return read(f, path)
}

func traceName(path string) string {
	return strings.TrimSuffix(filepath.Base(path), ".csv")
}

// table reads a CSV file with a header, finding columns by name, and
// reports every problem as "file:line: ..." so a malformed row in a
// 10,000-line trace can be found.
type table struct {
	file string
	r    *csv.Reader
	col  map[string]int
	row  []string
	line int
}

func newTable(r io.Reader, file string, required, optional []string) (*table, error) {
	t := &table{file: file, r: csv.NewReader(r), col: map[string]int{}}
	t.r.ReuseRecord = true
	header, err := t.r.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: empty file, want a header with %s", file, strings.Join(required, ","))
	}
	if err != nil {
		return nil, t.wrap(err)
	}
	for i, h := range header {
		t.col[strings.TrimSpace(h)] = i
	}
	var missing []string
	for _, c := range required {
		if _, ok := t.col[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s:1: header lacks column(s) %s", file, strings.Join(missing, ", "))
	}
	for _, c := range optional {
		if _, ok := t.col[c]; !ok {
			t.col[c] = -1
		}
	}
	return t, nil
}

// next reads the next row; it returns false at the end of the file.
func (t *table) next() (bool, error) {
	row, err := t.r.Read()
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		return false, t.wrap(err)
	}
	t.row = row
	t.line, _ = t.r.FieldPos(0)
	return true, nil
}

func (t *table) wrap(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s:%d: %w", t.file, pe.Line, pe.Err)
	}
	return fmt.Errorf("%s: %w", t.file, err)
}

func (t *table) errorf(format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", t.file, t.line, fmt.Sprintf(format, args...))
}

// str is the named column's value ("" for an absent optional column).
func (t *table) str(c string) string {
	i := t.col[c]
	if i < 0 {
		return ""
	}
	return strings.TrimSpace(t.row[i])
}

// int is the named column as a non-negative integer.
func (t *table) int(c string) (int64, error) {
	s := t.str(c)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, t.errorf("column %s: %q is not an integer", c, s)
	}
	if v < 0 {
		return 0, t.errorf("column %s: %d is negative", c, v)
	}
	return v, nil
}

// ints reads several integer columns at once.
func (t *table) ints(cols ...string) ([]int64, error) {
	out := make([]int64, len(cols))
	for i, c := range cols {
		v, err := t.int(c)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// maxCardsPerNode bounds the GPUs a node row may declare (the plugin
// models at most 128 cards).
const maxCardsPerNode = 128

// each calls fn for every row, with the row's name from column nameCol,
// after checking that the name is set and not listed before; what names
// the rows in errors ("node", "pod"). It returns an error when there is no
// row at all.
func (t *table) each(nameCol, what string, fn func(name string) error) error {
	seen := map[string]int{}
	for {
		ok, err := t.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		name := t.str(nameCol)
		if name == "" {
			return t.errorf("column %s: empty %s name", nameCol, what)
		}
		if prev, dup := seen[name]; dup {
			return t.errorf("%s %s is listed again (first on line %d)", what, name, prev)
		}
		seen[name] = t.line
		if err := fn(name); err != nil {
			return err
		}
	}
	if len(seen) == 0 {
		return fmt.Errorf("%s: no %ss", t.file, what)
	}
	return nil
}

// ReadNodes parses a node list (sn,cpu_milli,memory_mib,gpu,model; other
// columns are ignored). file names the input in errors.
func ReadNodes(r io.Reader, file string) ([]NodeRecord, error) {
	t, err := newTable(r, file, []string{"sn", "cpu_milli", "memory_mib", "gpu"}, []string{"model"})
	if err != nil {
		return nil, err
	}
	var out []NodeRecord
	err = t.each("sn", "node", func(name string) error {
		n := NodeRecord{Name: name, Model: t.str("model")}
		v, err := t.ints("cpu_milli", "memory_mib", "gpu")
		if err != nil {
			return err
		}
		if v[2] > maxCardsPerNode {
			return t.errorf("column gpu: %d cards, at most %d", v[2], maxCardsPerNode)
		}
		n.CPUMilli, n.MemoryMiB, n.GPUs = v[0], v[1], int(v[2])
		if n.GPUs == 0 {
			n.Model = ""
		}
		out = append(out, n)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReadPods parses a pod list (name,cpu_milli,memory_mib,num_gpu,gpu_milli
// and, where present, gpu_spec; other columns are ignored). A row whose
// GPU request the GPUShare contract cannot express (a share outside
// 1..1000, a share of several cards) is an error; gpu_spec on a pod
// without GPUs is ignored, as the paper's converter does.
func ReadPods(r io.Reader, file string) ([]PodRecord, error) {
	t, err := newTable(r, file, []string{"name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli"}, []string{"gpu_spec"})
	if err != nil {
		return nil, err
	}
	var out []PodRecord
	err = t.each("name", "pod", func(name string) error {
		p := PodRecord{Name: name, GPUSpec: t.str("gpu_spec")}
		v, err := t.ints("cpu_milli", "memory_mib", "num_gpu", "gpu_milli")
		if err != nil {
			return err
		}
		if v[2] > maxCardsPerNode {
			return t.errorf("column num_gpu: %d cards, at most %d", v[2], maxCardsPerNode)
		}
		p.CPUMilli, p.MemoryMiB, p.NumGPU, p.GPUMilli = v[0], v[1], int(v[2]), v[3]
		switch {
		case p.NumGPU == 0 && p.GPUMilli != 0:
			return t.errorf("gpu_milli %d with num_gpu 0", p.GPUMilli)
		case p.NumGPU == 0:
			p.GPUSpec = ""
		case p.GPUMilli < 1 || p.GPUMilli > gpu.MilliPerCard:
			return t.errorf("gpu_milli %d is outside 1..1000", p.GPUMilli)
		case p.NumGPU > 1 && p.GPUMilli < gpu.MilliPerCard:
			return t.errorf("a share of %d milli-GPU applies to one card, not num_gpu %d", p.GPUMilli, p.NumGPU)
		}
		if p.GPUSpec != "" && len(gpu.NormalizeModels(strings.Split(p.GPUSpec, "|"))) == 0 {
			return t.errorf("gpu_spec %q names no model", p.GPUSpec)
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// sortedByName returns a copy of pods ordered by name.
func sortedByName(pods []PodRecord) []PodRecord {
	out := append([]PodRecord(nil), pods...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
