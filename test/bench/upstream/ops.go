package upstream

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Opcodes of scheduler_perf operations.
const (
	OpCreateNodes            = "createNodes"
	OpCreateNamespaces       = "createNamespaces"
	OpCreatePods             = "createPods"
	OpCreateAny              = "createAny"
	OpCreatePodGroups        = "createPodGroups"
	OpBarrier                = "barrier"
	OpSleep                  = "sleep"
	OpStartCollectingMetrics = "startCollectingMetrics"
	OpStopCollectingMetrics  = "stopCollectingMetrics"
	OpAllocResourceClaims    = "allocResourceClaims"
	OpChurn                  = "churn"
	OpDeletePods             = "deletePods"
	OpUpdateAny              = "updateAny"
	OpCreatePodSets          = "createPodSets"
)

// Op is one operation with every $param resolved. Only the fields of its
// opcode are set.
type Op struct {
	Opcode string `json:"opcode"`
	// Count of objects (nodes, namespaces, pods, any); for createPods
	// already multiplied by countMultiplierParam.
	Count int `json:"count,omitempty"`
	// Namespace of pods or objects ("" for createPods: a fresh one).
	Namespace string `json:"namespace,omitempty"`
	// Namespaces of a barrier or deletePods ("" / empty: all).
	Namespaces []string `json:"namespaces,omitempty"`
	// Prefix of createNamespaces.
	Prefix string `json:"prefix,omitempty"`
	// NodeTemplatePath, PodTemplatePath, TemplatePath, PV and PVC
	// template paths are absolute (resolved against the test case's Dir).
	NodeTemplatePath                  string `json:"nodeTemplatePath,omitempty"`
	PodTemplatePath                   string `json:"podTemplatePath,omitempty"`
	TemplatePath                      string `json:"templatePath,omitempty"`
	PersistentVolumeTemplatePath      string `json:"persistentVolumeTemplatePath,omitempty"`
	PersistentVolumeClaimTemplatePath string `json:"persistentVolumeClaimTemplatePath,omitempty"`
	// TemplateParams are passed to text/template with Index and Count.
	TemplateParams map[string]any `json:"templateParams,omitempty"`
	// CollectMetrics marks the pods of a createPods op as measured.
	CollectMetrics bool `json:"collectMetrics,omitempty"`
	// SkipWaitToCompletion: createPods does not wait for its pods.
	SkipWaitToCompletion bool `json:"skipWaitToCompletion,omitempty"`
	// SteadyState createPods (not supported by the harness).
	SteadyState bool `json:"steadyState,omitempty"`
	// Duration of a sleep or steady state.
	Duration time.Duration `json:"duration,omitempty"`
	// LabelNodePrepareStrategy labels nodes round-robin with LabelValues.
	LabelNodePrepareStrategy *LabelStrategy `json:"labelNodePrepareStrategy,omitempty"`
	// UniqueNodeLabelStrategy gives every node a unique value of LabelKey.
	UniqueNodeLabelStrategy *LabelStrategy `json:"uniqueNodeLabelStrategy,omitempty"`
	// NodeAllocatableStrategy sets extra allocatable and CSINode limits.
	NodeAllocatableStrategy *AllocatableStrategy `json:"nodeAllocatableStrategy,omitempty"`
	// Raw is the op as written, for anything the fields above leave out.
	Raw RawOp `json:"-"`
}

// LabelStrategy is scheduler_perf's labelNodePrepareStrategy and
// uniqueNodeLabelStrategy.
type LabelStrategy struct {
	LabelKey    string   `json:"labelKey"`
	LabelValues []string `json:"labelValues,omitempty"`
}

// AllocatableStrategy is scheduler_perf's nodeAllocatableStrategy.
type AllocatableStrategy struct {
	// NodeAllocatable adds resources to the node's capacity and
	// allocatable.
	NodeAllocatable map[string]string `json:"nodeAllocatable,omitempty"`
	// CSINodeAllocatable creates a CSINode with these drivers and counts.
	CSINodeAllocatable map[string]struct {
		Count int32 `json:"count"`
	} `json:"csiNodeAllocatable,omitempty"`
}

// DefaultPodTemplate and DefaultNodeTemplate, relative to scheduler_perf's
// directory, have the shape of scheduler_perf's makeBasePod and
// makeBaseNode, which it uses for ops without a template.
const (
	DefaultPodTemplate  = "templates/pod-default.yaml"
	DefaultNodeTemplate = "templates/node-default.yaml"
)

// scaledWords name the count parameters Scale multiplies: node, pod,
// claim and pod group counts; per-group sizes, device counts and feature
// counts (podsPerGroup, numDevices, numNodeDeclaredFeatures …) keep their
// value so that the shape of each object stays upstream's.
var scaledWords = []string{"nodes", "pods", "claims", "podgroups", "gangs", "groups"}

// Scaled reports whether Scale multiplies the parameter named name.
func Scaled(name string) bool {
	l := strings.ToLower(name)
	if strings.HasPrefix(l, "podsper") || strings.HasPrefix(l, "num") {
		return false
	}
	for _, s := range scaledWords {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// ScaleParams returns a copy of params with every count parameter
// (Scaled) multiplied by factor, rounded, and kept at least 1 when it was
// positive.
func ScaleParams(params map[string]any, factor float64) map[string]any {
	out := make(map[string]any, len(params))
	for k, v := range params {
		out[k] = v
		if factor == 1 || !Scaled(k) {
			continue
		}
		if f, ok := v.(float64); ok && f > 0 {
			out[k] = math.Max(1, math.Round(f*factor))
		}
	}
	return out
}

// Resolve turns the test case's workload template into Ops for params.
// Template paths become absolute; createPods without a template gets the
// test case's default, or none (then the runner uses DefaultPodTemplate,
// as scheduler_perf uses its base pod; createNodes without a template
// likewise gets DefaultNodeTemplate).
func (tc *TestCase) Resolve(params map[string]any) ([]Op, error) {
	var ops []Op
	for i, raw := range tc.WorkloadTemplate {
		op, err := tc.resolveOp(raw, params)
		if err != nil {
			return nil, fmt.Errorf("%s op #%d (%s): %v", tc.Name, i, raw.Opcode(), err)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

func paramValue(params map[string]any, ref string) (any, error) {
	key, def, hasDef := strings.Cut(strings.TrimPrefix(ref, "$"), "|")
	if v, ok := params[key]; ok {
		return v, nil
	}
	if hasDef {
		var v any
		if err := yaml.Unmarshal([]byte(def), &v); err != nil {
			return nil, fmt.Errorf("default of parameter %q: %v", key, err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("parameter %q not found", key)
}

func (tc *TestCase) resolveOp(raw RawOp, params map[string]any) (Op, error) {
	r := RawOp{}
	for k, v := range raw {
		r[k] = v
	}
	// $param fields first.
	for _, f := range []string{"countParam", "countMultiplierParam", "steadyStateParam", "durationParam", "signatureBatchSizeParam"} {
		ref, ok := r[f].(string)
		if !ok || ref == "" {
			continue
		}
		v, err := paramValue(params, ref)
		if err != nil {
			return Op{}, err
		}
		r[strings.TrimSuffix(f, "Param")] = v
		delete(r, f)
	}
	if tp, ok := r["templateParams"].(map[string]any); ok {
		resolved := map[string]any{}
		for k, v := range tp {
			if s, ok := v.(string); ok && strings.HasPrefix(s, "$") {
				var err error
				if resolved[k], err = paramValue(params, s); err != nil {
					return Op{}, err
				}
				continue
			}
			resolved[k] = v
		}
		r["templateParams"] = resolved
	}
	if m, ok := r["countMultiplier"].(float64); ok {
		c, _ := r["count"].(float64)
		r["count"] = c * m
		delete(r, "countMultiplier")
	}
	var d time.Duration
	if s, ok := r["duration"].(string); ok {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return Op{}, fmt.Errorf("duration %q: %v", s, err)
		}
	}
	delete(r, "duration")
	if ns, ok := r["namespaces"].(string); ok {
		r["namespaces"] = []string{ns}
	}
	data, err := json.Marshal(r)
	if err != nil {
		return Op{}, err
	}
	var op Op
	// Not strict: ops carry fields the harness does not use.
	if err := json.Unmarshal(data, &op); err != nil {
		return Op{}, err
	}
	op.Duration, op.Raw = d, raw
	if _, ok := r["count"]; !ok && (op.Opcode == OpCreateAny || op.Opcode == OpCreatePodGroups) {
		op.Count = 1
	}
	if op.Opcode == OpCreatePods && op.PodTemplatePath == "" {
		// Empty when the test case has no default either: scheduler_perf
		// then uses its base pod (DefaultPodTemplate).
		op.PodTemplatePath = tc.DefaultPodTemplatePath
	}
	for _, p := range []*string{&op.NodeTemplatePath, &op.PodTemplatePath, &op.TemplatePath, &op.PersistentVolumeTemplatePath, &op.PersistentVolumeClaimTemplatePath} {
		if *p != "" {
			*p = tc.path(*p)
		}
	}
	if op.Count < 0 {
		return Op{}, fmt.Errorf("negative count %d", op.Count)
	}
	return op, nil
}

func (tc *TestCase) path(p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	return tc.Dir + "/" + p
}
