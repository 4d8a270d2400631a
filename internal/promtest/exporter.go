package promtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Shape of every synthetic node, as node-exporter and DCGM would report it.
const (
	// NodeCPUs is the number of CPUs (cpu="0".."3") in each node's
	// node_cpu_seconds_total; utilisation queries average over them.
	NodeCPUs = 4
	// NodeMemoryBytes is each node's node_memory_MemTotal_bytes (16 GiB);
	// MemAvailable is (1-util) of it.
	NodeMemoryBytes = 16 << 30
	// NodeGPUs is the number of cards (gpu="0", "1") a node reports in
	// DCGM_FI_DEV_GPU_UTIL once SetGPU was called for it.
	NodeGPUs = 2
)

// BackfillWindow is how much counter history the first scrape that
// includes a node carries (samples every backfillStep with explicit
// timestamps), as if the node had run at its utilisation of that moment
// for that long. Without it rate(x[1m]) underestimates for the first
// minute: Prometheus extrapolates the increase of the few samples it has
// over the whole range (measured: 0.04 after 6 s and 0.28 after 20 s for
// a true 0.9). With it, rate over any range up to BackfillWindow is right
// from the first scrape; longer ranges fill up in real time.
const BackfillWindow = 2 * time.Minute

// backfillStep spaces backfilled samples. It must not exceed the scrape
// interval much: rate extrapolates to the start of its range only when the
// first sample is within 1.1 average sample intervals of it.
const backfillStep = time.Second

// Exporter serves synthetic per-node metrics on a loopback port in the
// Prometheus text format, so that tests can set each node's CPU, memory,
// GPU and disk utilisation and watch code that reads them through a real
// Prometheus. Every series carries instance="<node name>" (scrape it with
// honor_labels, as Start does). Per node it serves:
//
//   - node_cpu_seconds_total{cpu="0".."3",mode="idle"|"user"}: counters;
//     per CPU, user grows by util and idle by 1-util seconds per second,
//     integrated piecewise as SetCPU changes the utilisation, so
//     1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m]))
//     is the utilisation (averaged over the range).
//   - node_memory_MemTotal_bytes (NodeMemoryBytes) and
//     node_memory_MemAvailable_bytes ((1-util) of it): gauges.
//   - node_disk_io_time_seconds_total{device="sda"}: a counter growing by
//     util seconds per second.
//   - DCGM_FI_DEV_GPU_UTIL{gpu="0"|"1",Hostname="<node>"}: gauges, util
//     in percent as DCGM reports it; only for nodes SetGPU was called for
//     (nodes without GPUs run no DCGM exporter).
//
// Utilisations are fractions, clamped to [0, 1]; a node's unset ones are 0.
// Counters are computed from the wall clock at each scrape and never
// decrease. The first scrape that includes a node also carries
// BackfillWindow of counter history; if several Prometheus servers scrape
// one Exporter, only the first gets it.
type Exporter struct {
	ln  net.Listener
	srv *http.Server
	now func() time.Time
	// served is closed when Serve returned (ListenExporter's exporters
	// only), serveErr set before if it failed.
	served   chan struct{}
	serveErr error

	mu    sync.Mutex
	nodes map[string]*nodeState
}

type nodeState struct {
	cpu, mem, gpu, disk float64
	hasGPU              bool
	hidden              bool
	// anchored is set by the first scrape serving the node, which fixes
	// the counters' origin BackfillWindow before it.
	anchored bool
	origin   time.Time
	cpuBusy  counter // seconds one CPU spent busy (user); idle is the rest
	diskBusy counter // node_disk_io_time_seconds_total
}

// counter integrates a utilisation over time: value at `at`, growing by
// util per second since.
type counter struct {
	value float64
	at    time.Time
}

func (c counter) valueAt(util float64, t time.Time) float64 {
	return c.value + util*t.Sub(c.at).Seconds()
}

// ListenExporter starts an Exporter on 127.0.0.1:0; Close stops it.
func ListenExporter() (*Exporter, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("promtest: exporter listen: %v", err)
	}
	e := newExporter(ln, time.Now)
	e.served = make(chan struct{})
	go func() {
		defer close(e.served)
		if err := e.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.serveErr = err
		}
	}()
	return e, nil
}

// NewExporter starts an Exporter on 127.0.0.1:0; it is closed when t
// ends, failing the test if it had stopped serving on an error.
func NewExporter(t testing.TB) *Exporter {
	t.Helper()
	e, err := ListenExporter()
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return e
}

// Close stops serving and closes the open connections. It returns the
// error the exporter stopped serving on, if it did before Close.
func (e *Exporter) Close() error {
	e.srv.Close()
	if e.served == nil {
		return nil
	}
	<-e.served
	if e.serveErr != nil {
		return fmt.Errorf("promtest: exporter: %v", e.serveErr)
	}
	return nil
}

func newExporter(ln net.Listener, now func() time.Time) *Exporter {
	e := &Exporter{ln: ln, now: now, nodes: map[string]*nodeState{}}
	e.srv = &http.Server{Handler: http.HandlerFunc(e.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	return e
}

// Addr returns the exporter's host:port, a target for Start.
func (e *Exporter) Addr() string { return e.ln.Addr().String() }

// SetCPU sets node's CPU utilisation (0..1) from now on, adding the node
// if it is new or removed.
func (e *Exporter) SetCPU(node string, util float64) {
	e.update(node, func(n *nodeState, now time.Time, util float64) {
		if n.anchored {
			n.cpuBusy = counter{n.cpuBusy.valueAt(n.cpu, now), now}
		}
		n.cpu = util
	}, util)
}

// SetMemory sets the fraction of node's memory in use from now on, adding
// the node if it is new or removed.
func (e *Exporter) SetMemory(node string, util float64) {
	e.update(node, func(n *nodeState, _ time.Time, util float64) { n.mem = util }, util)
}

// SetGPU sets node's GPU utilisation (0..1, served in percent) from now
// on, adding the node if it is new or removed; a node's DCGM series exist
// only once SetGPU was called for it.
func (e *Exporter) SetGPU(node string, util float64) {
	e.update(node, func(n *nodeState, _ time.Time, util float64) { n.gpu, n.hasGPU = util, true }, util)
}

// SetDiskIO sets the fraction of time node's disk is busy from now on,
// adding the node if it is new or removed.
func (e *Exporter) SetDiskIO(node string, util float64) {
	e.update(node, func(n *nodeState, now time.Time, util float64) {
		if n.anchored {
			n.diskBusy = counter{n.diskBusy.valueAt(n.disk, now), now}
		}
		n.disk = util
	}, util)
}

// Remove stops exporting node's series, as when a node's exporter dies:
// Prometheus marks them stale at its next scrape, so instant selectors
// (the memory and GPU gauges) stop returning the node, while rate(x[1m])
// still does until its range holds no sample of the node (up to a minute).
// The node's counters keep running, so a later Set* brings it back
// without a counter reset.
func (e *Exporter) Remove(node string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if n := e.nodes[node]; n != nil {
		n.hidden = true
	}
}

// update applies set to node name (created or un-removed as needed) at
// the current time, with util clamped to [0, 1].
func (e *Exporter) update(name string, set func(n *nodeState, now time.Time, util float64), util float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := e.nodes[name]
	if n == nil {
		n = &nodeState{}
		e.nodes[name] = n
	}
	n.hidden = false
	set(n, e.now(), min(max(util, 0), 1))
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func (e *Exporter) serveHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write(e.render())
}

// render returns the exposition at e.now(), anchoring (and backfilling)
// the nodes served for the first time.
func (e *Exporter) render() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	type served struct {
		name     string
		n        *nodeState
		label    string // escaped name
		backfill bool
	}
	var nodes []served
	for name, n := range e.nodes {
		if n.hidden {
			continue
		}
		s := served{name: name, n: n, label: labelEscaper.Replace(name)}
		if !n.anchored {
			n.anchored, s.backfill = true, true
			n.origin = now.Add(-BackfillWindow)
			n.cpuBusy = counter{0, n.origin}
			n.diskBusy = counter{0, n.origin}
		}
		nodes = append(nodes, s)
	}
	slices.SortFunc(nodes, func(a, b served) int { return strings.Compare(a.name, b.name) })

	var b bytes.Buffer
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	// series writes one series: its backfilled history (value at each
	// step before now) if any, then its value now without a timestamp
	// (Prometheus stamps it with the scrape time and tracks its staleness).
	series := func(labels string, backfill bool, at func(time.Time) float64) {
		if backfill {
			for k := int(BackfillWindow / backfillStep); k >= 1; k-- {
				ts := now.Add(-time.Duration(k) * backfillStep)
				fmt.Fprintf(&b, "%s %s %d\n", labels, num(at(ts)), ts.UnixMilli())
			}
		}
		fmt.Fprintf(&b, "%s %s\n", labels, num(at(now)))
	}
	family := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}

	family("node_cpu_seconds_total", "counter", "Seconds the CPUs spent in each mode (promtest synthetic).")
	for _, s := range nodes {
		n := s.n
		busy := func(t time.Time) float64 { return n.cpuBusy.valueAt(n.cpu, t) }
		for cpu := range NodeCPUs {
			series(fmt.Sprintf(`node_cpu_seconds_total{cpu="%d",instance="%s",mode="idle"}`, cpu, s.label), s.backfill,
				func(t time.Time) float64 { return t.Sub(n.origin).Seconds() - busy(t) })
			series(fmt.Sprintf(`node_cpu_seconds_total{cpu="%d",instance="%s",mode="user"}`, cpu, s.label), s.backfill, busy)
		}
	}
	family("node_memory_MemTotal_bytes", "gauge", "Memory information field MemTotal_bytes (promtest synthetic).")
	for _, s := range nodes {
		fmt.Fprintf(&b, "node_memory_MemTotal_bytes{instance=\"%s\"} %s\n", s.label, num(NodeMemoryBytes))
	}
	family("node_memory_MemAvailable_bytes", "gauge", "Memory information field MemAvailable_bytes (promtest synthetic).")
	for _, s := range nodes {
		fmt.Fprintf(&b, "node_memory_MemAvailable_bytes{instance=\"%s\"} %s\n", s.label, num((1-s.n.mem)*NodeMemoryBytes))
	}
	family("node_disk_io_time_seconds_total", "counter", "Total seconds spent doing I/Os (promtest synthetic).")
	for _, s := range nodes {
		n := s.n
		series(fmt.Sprintf(`node_disk_io_time_seconds_total{device="sda",instance="%s"}`, s.label), s.backfill,
			func(t time.Time) float64 { return n.diskBusy.valueAt(n.disk, t) })
	}
	family("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %) (promtest synthetic).")
	for _, s := range nodes {
		if !s.n.hasGPU {
			continue
		}
		for gpu := range NodeGPUs {
			fmt.Fprintf(&b, "DCGM_FI_DEV_GPU_UTIL{Hostname=\"%s\",device=\"nvidia%d\",gpu=\"%d\",instance=\"%s\"} %s\n",
				s.label, gpu, gpu, s.label, num(s.n.gpu*100))
		}
	}
	return b.Bytes()
}
