package gpushare

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/placement/gpu"
)

// The pod annotations of berth's GPU contract (docs/gpu.md).
const (
	// AnnotationMilli asks for a share of one card in milli-GPU, 1..1000
	// ("460"); 1000 is a whole, exclusive card.
	AnnotationMilli = "berth.io/gpu-milli"
	// AnnotationMemory asks for card memory on each card, a quantity
	// ("8Gi", "8192Mi").
	AnnotationMemory = "berth.io/gpu-memory"
	// AnnotationModel restricts the card models a pod accepts,
	// "|"-separated ("V100M16|V100M32").
	AnnotationModel = "berth.io/gpu-model"
	// AnnotationAssignment is written by berth before binding: the cards
	// the pod got (see Assignment). A device plugin reads it to expose
	// exactly those cards to the pod's containers.
	AnnotationAssignment = "berth.io/gpu-assignment"
)

// Assignment is the value of AnnotationAssignment, a JSON object.
type Assignment struct {
	// Node is the node the cards are on; an assignment for another node
	// is ignored (the pod was bound elsewhere).
	Node string `json:"node"`
	// Cards are the card indexes.
	Cards []int `json:"cards"`
	// IDs are the cards' identities (UUIDs, DRA device names) where the
	// node publishes them, in the order of Cards.
	IDs []string `json:"ids,omitempty"`
	// Milli is the share of each card (1000: whole cards).
	Milli int64 `json:"milli"`
	// MemoryMiB is the card memory granted on each card (0: not stated).
	MemoryMiB int64 `json:"memoryMiB,omitempty"`
}

// Encode renders the annotation value.
func (a Assignment) Encode() string {
	b, _ := json.Marshal(a)
	return string(b)
}

// ParseAssignment reads an annotation value.
func ParseAssignment(s string) (Assignment, error) {
	var a Assignment
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return a, fmt.Errorf("annotation %s: %w", AnnotationAssignment, err)
	}
	if a.Node == "" || len(a.Cards) == 0 {
		return a, fmt.Errorf("annotation %s names no node or no cards", AnnotationAssignment)
	}
	seen := map[int]bool{}
	for _, c := range a.Cards {
		if c < 0 || seen[c] {
			return a, fmt.Errorf("annotation %s: card %d is negative or named twice", AnnotationAssignment, c)
		}
		seen[c] = true
	}
	if a.Milli < 0 || a.Milli > gpu.MilliPerCard || a.MemoryMiB < 0 {
		return a, fmt.Errorf("annotation %s: milli %d outside 0..1000 or memory %d MiB negative", AnnotationAssignment, a.Milli, a.MemoryMiB)
	}
	return a, nil
}

// PodRequest reads what a pod asks of GPUs: whole cards through the
// resource (requests, as the scheduler counts them: containers summed,
// init containers at their maximum), or a share through AnnotationMilli,
// with AnnotationMemory and AnnotationModel. It returns an error naming
// the field for malformed or contradictory values; nothing is defaulted
// silently.
func PodRequest(pod *v1.Pod, res v1.ResourceName) (gpu.Request, error) {
	reqs := framework.PodRequests(pod)
	r := gpu.Request{CPUMilli: reqs.MilliCPU, HostMemMiB: reqs.Memory >> 20}
	whole := reqs.Get(res)
	milliStr, hasMilli := pod.Annotations[AnnotationMilli]
	switch {
	case hasMilli && whole > 0:
		return r, fmt.Errorf("pod asks for %d %s and for a share (%s=%q); ask for one or the other", whole, res, AnnotationMilli, milliStr)
	case hasMilli:
		m, err := strconv.ParseInt(strings.TrimSpace(milliStr), 10, 64)
		if err != nil {
			return r, fmt.Errorf("%s=%q is not an integer number of milli-GPU", AnnotationMilli, milliStr)
		}
		if m <= 0 || m > gpu.MilliPerCard {
			return r, fmt.Errorf("%s=%d is outside 1..1000 (1000 is one whole card; ask for %s for more)", AnnotationMilli, m, res)
		}
		r.Count, r.MilliPerCard = 1, m
	case whole > 0:
		r.Count, r.MilliPerCard = int(whole), gpu.MilliPerCard
	}
	if s, ok := pod.Annotations[AnnotationMemory]; ok {
		if !r.IsGPU() {
			return r, fmt.Errorf("%s=%q is set but the pod asks for no GPU", AnnotationMemory, s)
		}
		q, err := resource.ParseQuantity(strings.TrimSpace(s))
		if err != nil {
			return r, fmt.Errorf("%s=%q is not a quantity (say 8Gi)", AnnotationMemory, s)
		}
		if q.Sign() <= 0 {
			return r, fmt.Errorf("%s=%q must be positive", AnnotationMemory, s)
		}
		r.MemoryMiBPerCard = (q.Value() + (1<<20 - 1)) >> 20
	}
	if s, ok := pod.Annotations[AnnotationModel]; ok {
		r.Models = gpu.NormalizeModels(strings.Split(s, "|"))
		if len(r.Models) == 0 {
			return r, fmt.Errorf("%s=%q names no model", AnnotationModel, s)
		}
	}
	return r, r.Validate()
}
