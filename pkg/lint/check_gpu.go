package lint

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/berthsched/berth/pkg/placement/gpu"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
)

var gpuAnnotations = []string{gpushare.AnnotationMilli, gpushare.AnnotationMemory, gpushare.AnnotationModel}

// checkGPU reads the pod's GPU request the way berth's GPUShare plugin does
// and reports a malformed one (BL050) and, against a cluster, one no node
// could hold even if empty (BL051).
func checkGPU(w *Workload, e *env, r *reporter) {
	res := e.cluster.gpuResource()
	pod := Defaulted(w.Pod)
	if !asksGPU(pod, res) {
		return
	}
	req, err := gpushare.PodRequest(pod, res)
	if err != nil {
		r.add(RuleGPURequestInvalid, gpuPath(w, err.Error(), res), err.Error(), "")
		return
	}
	if !req.IsGPU() || !e.cluster.hasNodes() {
		return
	}
	reasons := map[string]int{}
	for _, n := range e.cluster.Nodes {
		g := gpuNode(n, e.cluster)
		k := g.Misfit(req)
		if !k.Unresolvable() {
			return
		}
		reasons[k.Reason(req, g.Model)]++
	}
	parts := make([]string, 0, len(reasons))
	for reason, n := range reasons {
		nodes := "nodes"
		if n == 1 {
			nodes = "node"
		}
		parts = append(parts, fmt.Sprintf("%s (%d %s)", reason, n, nodes))
	}
	sort.Strings(parts)
	r.add(RuleGPUUnsatisfiable, gpuPath(w, "", res), fmt.Sprintf("no node can hold this GPU request (%s) even when idle: %s", req.Kind(), strings.Join(parts, ", ")), "")
}

func asksGPU(pod *v1.Pod, res v1.ResourceName) bool {
	for _, a := range gpuAnnotations {
		if _, ok := pod.Annotations[a]; ok {
			return true
		}
	}
	for _, cs := range [][]v1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if _, ok := c.Resources.Requests[res]; ok {
				return true
			}
		}
	}
	return false
}

// gpuPath points at the annotation an error message names, else at the
// containers' requests.
func gpuPath(w *Workload, msg string, res v1.ResourceName) *field.Path {
	for _, a := range []string{gpushare.AnnotationMemory, gpushare.AnnotationModel, gpushare.AnnotationMilli} {
		if _, ok := w.Pod.Annotations[a]; ok && (msg == "" || strings.Contains(msg, a)) {
			return w.MetaPath.Child("annotations").Key(a)
		}
	}
	for i, c := range w.Pod.Spec.Containers {
		if _, ok := c.Resources.Requests[res]; ok {
			return w.SpecPath.Child("containers").Index(i).Child("resources", "requests").Key(string(res))
		}
		if _, ok := c.Resources.Limits[res]; ok {
			return w.SpecPath.Child("containers").Index(i).Child("resources", "limits").Key(string(res))
		}
	}
	return w.SpecPath.Child("containers")
}

// gpuNode is an idle node's cards as GPUShare models them: the count is
// the allocatable GPU resource, model and memory come from the node's
// labels.
func gpuNode(n *v1.Node, c *Cluster) *gpu.Node {
	modelLabel, memLabel := c.gpuLabels()
	g := &gpu.Node{Name: n.Name, Model: n.Labels[modelLabel], MemFreeMiB: -1}
	q, ok := n.Status.Allocatable[c.gpuResource()]
	if !ok || q.Value() <= 0 {
		return g
	}
	mem := cardMemoryMiB(n.Labels[memLabel])
	g.Cards = make([]gpu.Card, min(q.Value(), 1024))
	for i := range g.Cards {
		g.Cards[i] = gpu.Card{Index: i, MemoryMiB: mem}
	}
	return g
}

// cardMemoryMiB reads a card memory label: a plain number is MiB, as GPU
// feature discovery writes it, anything else a quantity.
func cardMemoryMiB(s string) int64 {
	if v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
		return max(v, 0)
	}
	if q, err := resource.ParseQuantity(strings.TrimSpace(s)); err == nil && q.Sign() > 0 {
		return q.Value() >> 20
	}
	return 0
}
