package loadsim

import (
	"math"
	"slices"
)

// DefaultHotThreshold is the CPU utilisation above which a node-minute
// is hot: the 80 %.
const DefaultHotThreshold = 0.8

// Meter accumulates one policy's node-minutes over the measured period:
// each node's CPU utilisation for each minute (demand over capacity,
// capped at 1 since a node cannot run more than its cores).
type Meter struct {
	// Threshold is the hot threshold (DefaultHotThreshold when 0).
	Threshold float64

	utils     []float64
	hot       int
	saturated int
	hotNodes  map[int]bool
	hotByHour [24]int
	sum       float64
}

// Add records node's utilisation for simulated minute minute; demand is
// the CPU the node's pods wanted over its capacity, which may exceed 1
// (the excess is throttled: the minute is saturated).
func (m *Meter) Add(node, minute int, demand float64) {
	th := m.Threshold
	if th == 0 {
		th = DefaultHotThreshold
	}
	u := min(max(demand, 0), 1)
	m.utils = append(m.utils, u)
	m.sum += u
	if u > th {
		m.hot++
		if m.hotNodes == nil {
			m.hotNodes = map[int]bool{}
		}
		m.hotNodes[node] = true
		m.hotByHour[minute%MinutesPerDay/60]++
	}
	if demand > 1 {
		m.saturated++
	}
}

// Metrics summarise a Meter.
type Metrics struct {
	// NodeMinutes is the number of node-minutes measured.
	NodeMinutes int `json:"nodeMinutes"`
	// HotNodeMinutes counts the node-minutes above the threshold.
	HotNodeMinutes int `json:"hotNodeMinutes"`
	// SaturatedNodeMinutes counts the node-minutes whose demand exceeded
	// the node's CPU (work was throttled).
	SaturatedNodeMinutes int `json:"saturatedNodeMinutes"`
	// HotNodes counts the nodes that were hot at least once.
	HotNodes int `json:"hotNodes"`
	// HotByHour counts the hot node-minutes by hour of the simulated
	// day: when in the daily cycle nodes run hot.
	HotByHour [24]int `json:"hotByHour"`
	// P99, P50, Mean and Max are over all node-minutes (fractions).
	P99  float64 `json:"p99"`
	P50  float64 `json:"p50"`
	Mean float64 `json:"mean"`
	Max  float64 `json:"max"`
}

// HotFraction is the share of node-minutes that were hot.
func (s Metrics) HotFraction() float64 {
	if s.NodeMinutes == 0 {
		return 0
	}
	return float64(s.HotNodeMinutes) / float64(s.NodeMinutes)
}

// Summary computes the metrics; it sorts a copy, so the Meter can go on.
func (m *Meter) Summary() Metrics {
	out := Metrics{NodeMinutes: len(m.utils), HotNodeMinutes: m.hot, SaturatedNodeMinutes: m.saturated, HotNodes: len(m.hotNodes),
		HotByHour: m.hotByHour}
	if len(m.utils) == 0 {
		return out
	}
	sorted := slices.Clone(m.utils)
	slices.Sort(sorted)
	out.P99 = Percentile(sorted, 99)
	out.P50 = Percentile(sorted, 50)
	out.Max = sorted[len(sorted)-1]
	out.Mean = m.sum / float64(len(sorted))
	return out
}

// Percentile is the nearest-rank p-th percentile (0 < p ≤ 100) of
// sorted values: the smallest value with at least p % of the values at
// or below it. It returns NaN for no values.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
