package explain

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/berthsched/berth/pkg/framework"
)

// tooBigForEveryNode reports the resources the pod requests more of than
// any node's allocatable, which no eviction anywhere can fix.
func (a *analysis) tooBigForEveryNode() (Suggestion, bool) {
	req := framework.NewPodInfo(a.pod).Requests
	largest := &framework.Resource{}
	biggest := map[string]string{}
	for _, ni := range a.eval.Snapshot.List() {
		al, name := ni.Allocatable, ni.Node().Name
		if al.MilliCPU > largest.MilliCPU {
			largest.MilliCPU, biggest["cpu"] = al.MilliCPU, name
		}
		if al.Memory > largest.Memory {
			largest.Memory, biggest["memory"] = al.Memory, name
		}
		if al.EphemeralStorage > largest.EphemeralStorage {
			largest.EphemeralStorage, biggest["ephemeral-storage"] = al.EphemeralStorage, name
		}
		for r, q := range al.ScalarResources {
			if q > largest.ScalarResources[r] {
				largest.SetScalar(r, q)
				biggest[string(r)] = name
			}
		}
	}
	var parts []string
	var nodes []string
	add := func(res string, want, have int64, render func(int64) string) {
		if want > have {
			p := fmt.Sprintf("requests %s, the most any node has allocatable is %s", render(want), render(have))
			if biggest[res] != "" {
				p += " (" + biggest[res] + ")"
				nodes = append(nodes, biggest[res])
			}
			parts = append(parts, p)
		}
	}
	named := func(unit string, render func(int64) string) func(int64) string {
		return func(v int64) string { return render(v) + " " + unit }
	}
	add("cpu", req.MilliCPU, largest.MilliCPU, cpuString)
	add("memory", req.Memory, largest.Memory, named("memory", bytesString))
	add("ephemeral-storage", req.EphemeralStorage, largest.EphemeralStorage, named("ephemeral-storage", bytesString))
	for r, q := range req.ScalarResources {
		add(string(r), q, largest.ScalarResources[r], named(string(r), func(v int64) string { return strconv.FormatInt(v, 10) }))
	}
	if len(parts) == 0 {
		return Suggestion{}, false
	}
	sort.Strings(parts)
	return Suggestion{Cause: CauseResources, Nodes: nodes,
		Message: "no node is big enough, whatever is evicted: the pod " + strings.Join(parts, "; ")}, true
}

// shortfall is what node lacks for the pod, by resource name, as
// Kubernetes quantities: request minus free (allocatable minus
// requested), for every resource where that is positive; "pods" when the
// node is at its pod limit.
func (a *analysis) shortfall(node string) map[string]string {
	ni, err := a.eval.Snapshot.Get(node)
	if err != nil {
		return nil
	}
	req := framework.NewPodInfo(a.pod).Requests
	free := ni.Allocatable.Clone()
	free.SubResource(ni.Requested)
	out := map[string]string{}
	if d := req.MilliCPU - free.MilliCPU; req.MilliCPU > 0 && d > 0 {
		out[string(v1.ResourceCPU)] = resource.NewMilliQuantity(d, resource.DecimalSI).String()
	}
	if d := req.Memory - free.Memory; req.Memory > 0 && d > 0 {
		out[string(v1.ResourceMemory)] = bytesString(d)
	}
	if d := req.EphemeralStorage - free.EphemeralStorage; req.EphemeralStorage > 0 && d > 0 {
		out[string(v1.ResourceEphemeralStorage)] = bytesString(d)
	}
	for name, q := range req.ScalarResources {
		if d := q - free.ScalarResources[name]; q > 0 && d > 0 {
			out[string(name)] = resource.NewQuantity(d, resource.DecimalSI).String()
		}
	}
	if int64(len(ni.Pods))+1 > ni.Allocatable.AllowedPodNumber {
		out[string(v1.ResourcePods)] = "1"
	}
	return out
}

// relativeGap is how far ni is from holding the pod: the sum over the
// pod's requested resources of the missing fraction of the request.
func relativeGap(req *framework.Resource, ni *framework.NodeInfo) float64 {
	free := ni.Allocatable.Clone()
	free.SubResource(ni.Requested)
	gap := 0.0
	add := func(want, have int64) {
		if want > 0 && want > have {
			gap += float64(want-have) / float64(want)
		}
	}
	add(req.MilliCPU, free.MilliCPU)
	add(req.Memory, free.Memory)
	add(req.EphemeralStorage, free.EphemeralStorage)
	for name, q := range req.ScalarResources {
		add(q, free.ScalarResources[name])
	}
	if int64(len(ni.Pods))+1 > ni.Allocatable.AllowedPodNumber {
		gap++
	}
	return gap
}

// resourceStrings renders a Resource by resource name (zero values left
// out unless withZero).
func resourceStrings(r *framework.Resource, withZero bool) map[string]string {
	out := map[string]string{}
	if r.MilliCPU > 0 || withZero {
		out[string(v1.ResourceCPU)] = resource.NewMilliQuantity(r.MilliCPU, resource.DecimalSI).String()
	}
	if r.Memory > 0 || withZero {
		out[string(v1.ResourceMemory)] = bytesString(r.Memory)
	}
	if r.EphemeralStorage > 0 {
		out[string(v1.ResourceEphemeralStorage)] = bytesString(r.EphemeralStorage)
	}
	for name, q := range r.ScalarResources {
		if q > 0 {
			out[string(name)] = resource.NewQuantity(q, resource.DecimalSI).String()
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// cpuString renders millicores as cores, e.g. "1.5 CPU".
func cpuString(m int64) string {
	return strconv.FormatFloat(float64(m)/1000, 'f', -1, 64) + " CPU"
}

// bytesString renders bytes in binary units, rounded up to a whole Mi
// when not exact, so "lacks" never understates.
func bytesString(b int64) string {
	const mi = 1 << 20
	if b%mi != 0 && b > mi {
		b = (b/mi + 1) * mi
	}
	return resource.NewQuantity(b, resource.BinarySI).String()
}

// shortfallString renders a shortfall as "1.5 CPU and 512Mi memory".
func shortfallString(sf map[string]string) string {
	keys := make([]string, 0, len(sf))
	for k := range sf {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return resourceOrder(keys[i]) < resourceOrder(keys[j]) })
	parts := make([]string, len(keys))
	for i, k := range keys {
		switch k {
		case string(v1.ResourceCPU):
			parts[i] = sf[k] + " CPU"
			if q, err := resource.ParseQuantity(sf[k]); err == nil {
				parts[i] = cpuString(q.MilliValue())
			}
		case string(v1.ResourcePods):
			parts[i] = "a pod slot"
		default:
			parts[i] = sf[k] + " " + k
		}
	}
	return joinAnd(parts)
}

func resourceOrder(k string) string {
	switch k {
	case string(v1.ResourceCPU):
		return "0"
	case string(v1.ResourceMemory):
		return "1"
	case string(v1.ResourceEphemeralStorage):
		return "2"
	case string(v1.ResourcePods):
		return "4"
	}
	return "3" + k
}

func joinAnd(parts []string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
