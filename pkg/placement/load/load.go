package load

import (
	"fmt"
	"math"
	"net"
	"time"
)

// Resource is a kind of load a source can measure. The set is fixed so a
// node's samples fit in an array: the scores run for every feasible node of
// every pod and must not allocate.
type Resource int

// The resources berth scores by.
const (
	CPU Resource = iota
	Memory
	GPU
	DiskIO
	// NumResources is the number of resources; not a resource.
	NumResources
)

var resourceNames = [NumResources]string{"cpu", "memory", "gpu", "diskIO"}

// String returns the resource's name in configuration ("cpu", "memory",
// "gpu", "diskIO").
func (r Resource) String() string {
	if r < 0 || r >= NumResources {
		return fmt.Sprintf("Resource(%d)", int(r))
	}
	return resourceNames[r]
}

// ParseResource maps a configuration name back to its Resource.
func ParseResource(s string) (Resource, bool) {
	for r, n := range resourceNames {
		if n == s {
			return Resource(r), true
		}
	}
	return 0, false
}

// ResourceNames lists the configuration names, for error messages.
func ResourceNames() []string { return resourceNames[:] }

// Sample is one node's utilisation of one resource as a source measured
// it. The timestamp and window are what the freshness contract and the
// estimates need: a value is trusted only while it is younger than the
// TTL, and pods placed after the window began are not in it yet.
type Sample struct {
	// Value is the fraction of the node's capacity in use (0.62 = 62 %).
	Value float64
	// Time is when the value was measured (the end of its window).
	Time time.Time
	// Window is the period the value averages over (a rate's range).
	Window time.Duration
}

// Valid reports whether the sample holds a measurement.
func (s Sample) Valid() bool { return !s.Time.IsZero() }

// NodeLoad is what a source knows about one node at one refresh. It is
// immutable once published in a Snapshot.
type NodeLoad struct {
	// Samples are the latest measurements; invalid where the source has
	// none for the node.
	Samples [NumResources]Sample
	// Mean and Std summarise the history window (risk balancing);
	// meaningful where HasStats.
	Mean, Std [NumResources]float64
	HasStats  [NumResources]bool
	// Peak is the forecast's highest value over the horizon; meaningful
	// where HasForecast.
	Peak        [NumResources]float64
	HasForecast [NumResources]bool
	// Model names the forecast model used per resource ("" for none).
	Model [NumResources]string
}

// Snapshot is a source's view of the cluster at one refresh. Sources
// publish a new Snapshot per refresh and never modify a published one, so
// a scheduling cycle reads a consistent view without locks.
type Snapshot struct {
	// Source names the source ("prometheus http://…", "file /etc/…").
	Source string
	// Refreshed is when the last successful refresh finished (zero:
	// never); Attempted when the last attempt finished.
	Refreshed, Attempted time.Time
	// Err is the last attempt's error, "" when it succeeded.
	Err string
	// Nodes holds each node's load keyed by what the source reported:
	// a node name or an address (ports stripped).
	Nodes map[string]*NodeLoad
	// Problems are per-resource problems of the last refresh (a query
	// error, a metric no node reports), for explain's "why no data".
	Problems [NumResources]string
}

// Lookup returns the load of the node with the given name, trying its
// addresses when the source keys nodes by address (node-exporter's
// instance label is "10.0.0.5:9100"); nil when the source has none.
func (s *Snapshot) Lookup(name string, addresses []string) *NodeLoad {
	if s == nil || s.Nodes == nil {
		return nil
	}
	if nl, ok := s.Nodes[name]; ok {
		return nl
	}
	for _, a := range addresses {
		if nl, ok := s.Nodes[a]; ok {
			return nl
		}
	}
	return nil
}

// NodeKey normalises a label value that names a node: an "address:port"
// instance becomes the address, anything else is kept.
func NodeKey(v string) string {
	if host, _, err := net.SplitHostPort(v); err == nil && host != "" {
		return host
	}
	return v
}

// Sane reports whether a measured value can be used: NaN, infinities and
// negative values are what broken exporters and divisions by zero produce,
// and are dropped by sources (and counted) rather than scored.
func Sane(v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0) && v >= 0
}
