package gpushare

import (
	"strconv"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthsched/berth/pkg/placement/gpu"
)

// FuzzPodRequest feeds arbitrary GPU annotations and whole-card counts to
// PodRequest, the parser of berth's GPU contract. It must never panic,
// and a request it accepts must be one the placement code can take: a
// valid request, a share only of one card, memory never negative, every
// model named.
func FuzzPodRequest(f *testing.F) {
	f.Add("460", "", "", uint8(0), true, false, false)
	f.Add("", "8Gi", "V100M16|V100M32", uint8(2), false, true, true)
	f.Add("1500", "", "", uint8(0), true, false, false)
	f.Add(" 250 ", "-1Gi", "|", uint8(0), true, true, true)
	f.Add("300", "16Gi", "A100", uint8(1), true, true, true)
	f.Add("1000", "1e3", " a100 | ", uint8(0), true, true, true)
	f.Fuzz(func(t *testing.T, milli, memory, model string, whole uint8, hasMilli, hasMemory, hasModel bool) {
		pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{}}, Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c"}}}}
		if whole > 0 {
			q := resource.MustParse(strconv.Itoa(int(whole)))
			pod.Spec.Containers[0].Resources.Requests = v1.ResourceList{DefaultResourceName: q}
		}
		for k, v := range map[string]struct {
			set bool
			val string
		}{AnnotationMilli: {hasMilli, milli}, AnnotationMemory: {hasMemory, memory}, AnnotationModel: {hasModel, model}} {
			if v.set {
				pod.Annotations[k] = v.val
			}
		}
		r, err := PodRequest(pod, DefaultResourceName)
		if err != nil {
			return
		}
		if verr := r.Validate(); verr != nil {
			t.Fatalf("accepted a request Validate refuses: %+v: %v", r, verr)
		}
		if hasMilli && whole > 0 {
			t.Fatalf("accepted both a share and %d whole cards: %+v", whole, r)
		}
		if r.Count > 1 && r.MilliPerCard != gpu.MilliPerCard {
			t.Fatalf("a share of several cards: %+v", r)
		}
		if r.MemoryMiBPerCard < 0 || (hasMemory && r.MemoryMiBPerCard == 0) {
			t.Fatalf("memory %d MiB from %q", r.MemoryMiBPerCard, memory)
		}
		if hasModel && len(r.Models) == 0 {
			t.Fatalf("model %q accepted with no model", model)
		}
		for _, m := range r.Models {
			if m == "" {
				t.Fatalf("empty model from %q: %q", model, r.Models)
			}
		}
	})
}

// FuzzParseAssignment: the assignment annotation is read back from pods
// bound before berth started (and by device plugins); any value must
// parse or fail without panicking, and what parses must survive Encode.
func FuzzParseAssignment(f *testing.F) {
	f.Add(Assignment{Node: "n1", Cards: []int{0, 3}, Milli: 1000}.Encode())
	f.Add(Assignment{Node: "n1", Cards: []int{2}, IDs: []string{"GPU-abc"}, Milli: 300, MemoryMiB: 8192}.Encode())
	f.Add(`{"node":"","cards":[]}`)
	f.Add(`{"node":"x","cards":[1],"milli":"300"}`)
	f.Add(`null`)
	f.Add(`{"node":"x","cards":[-1]}`)
	f.Add(`{"node":"x","cards":[1,1],"milli":1000}`)
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAssignment(s)
		if err != nil {
			return
		}
		if a.Node == "" || len(a.Cards) == 0 {
			t.Fatalf("accepted an assignment without node or cards: %+v", a)
		}
		seen := map[int]bool{}
		for _, c := range a.Cards {
			if c < 0 || seen[c] {
				t.Fatalf("accepted card %d (negative or repeated): %+v", c, a)
			}
			seen[c] = true
		}
		b, err := ParseAssignment(a.Encode())
		if err != nil {
			t.Fatalf("its own encoding %s does not parse: %v", a.Encode(), err)
		}
		if b.Encode() != a.Encode() {
			t.Fatalf("round trip changed it: %s -> %s", a.Encode(), b.Encode())
		}
	})
}
