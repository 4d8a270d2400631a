package network

import (
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Dependency is one set of pods that the pod being placed exchanges
// traffic with.
type Dependency struct {
	// Name says who the pods are and which side declared the edge, for
	// explanations: "talks-to app=db", "talked to by ReplicaSet
	// frontend-7c9", "talks-to workload db of AppGroup shop".
	Name string
	// Weight is the relative traffic (1 to MaxWeight).
	Weight int64
	// Limited makes MaxCost a bound on the expected cost to the
	// dependency's placed pods (the plugin's Filter).
	Limited bool
	// MaxCost is the bound when Limited.
	MaxCost int64
	// Limit names where the bound comes from ("maxCost"), for rejection
	// messages.
	Limit string
	// Placed is where the dependency's pods run; nil or empty when none
	// is placed yet.
	Placed *Placed
}

// IsPlaced reports whether any of the dependency's pods runs somewhere.
func (d *Dependency) IsPlaced() bool { return d.Placed != nil && d.Placed.Count() > 0 }

// Expected is the expected cost of placing a pod at loc: Σ over the
// placed dependencies of weight × mean cost to their pods. Dependencies
// with no placed pod contribute nothing.
func Expected(deps []*Dependency, loc Location) float64 {
	var sum float64
	for _, d := range deps {
		if d.IsPlaced() {
			sum += float64(d.Weight) * d.Placed.Mean(loc)
		}
	}
	return sum
}

// Exceeded returns the first placed, limited dependency whose expected
// cost from loc is above its bound, and that cost; nil when none is.
func Exceeded(deps []*Dependency, loc Location) (*Dependency, float64) {
	for _, d := range deps {
		if d.Limited && d.IsPlaced() {
			if c := d.Placed.Mean(loc); c > float64(d.MaxCost) {
				return d, c
			}
		}
	}
	return nil, 0
}

// Describe explains the expected cost of loc, dependency by dependency:
//
//	total expected cost 6.0; talks-to app=db (weight 1): 4 pods placed: 2 other rack (cost 2), 2 other zone (cost 10) → expected cost 6.0; talks-to app=cache (weight 5): not placed yet
//
// When no dependency has a placed pod, the plugin does not score and
// Describe begins "not scored: no dependency has a placed pod yet".
func (m *Model) Describe(deps []*Dependency, loc Location) string {
	var b strings.Builder
	placed := false
	for _, d := range deps {
		placed = placed || d.IsPlaced()
	}
	if placed {
		fmt.Fprintf(&b, "total expected cost %.1f", Expected(deps, loc))
	} else {
		b.WriteString("not scored: no dependency has a placed pod yet")
	}
	for _, d := range deps {
		fmt.Fprintf(&b, "; %s (weight %d): ", d.Name, d.Weight)
		if !d.IsPlaced() {
			b.WriteString("not placed yet")
			continue
		}
		n := d.Placed.Count()
		fmt.Fprintf(&b, "%d %s placed: ", n, plural(n, "pod", "pods"))
		for i, g := range d.Placed.Groups(loc) {
			if i > 0 {
				b.WriteString(", ")
			}
			if g.Level < 0 {
				fmt.Fprintf(&b, "%d same node", g.Count)
				continue
			}
			fmt.Fprintf(&b, "%d other %s (cost %s)", g.Count, m.names[g.Level], formatCost(g.Cost))
		}
		fmt.Fprintf(&b, " → expected cost %.1f", d.Placed.Mean(loc))
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Talker names the workload a pod belongs to, for grouping the pods that
// talk to another one into dependencies and for explanations: its
// controller ("ReplicaSet frontend-7c9"), else the pod itself ("pod
// debug-shell").
func Talker(pod *v1.Pod) string {
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		return ref.Kind + " " + ref.Name
	}
	return "pod " + pod.Name
}

// Eligible reports whether a placed pod counts as a dependency's pod:
// one that is leaving (being deleted, finished) no longer takes traffic.
func Eligible(pod *v1.Pod) bool {
	return pod.DeletionTimestamp == nil && pod.Status.Phase != v1.PodSucceeded && pod.Status.Phase != v1.PodFailed
}
