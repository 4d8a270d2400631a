package lint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// addCorpus seeds a fuzz target with every manifest of the corpus.
func addCorpus(f *testing.F) {
	for _, dir := range []string{"bad", "good", "cluster"} {
		paths, _ := filepath.Glob(filepath.Join("testdata", dir, "*"))
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte(`{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"List","items":[]}]}`))
}

// FuzzRead feeds arbitrary bytes to the reader and the rules: they must
// never panic, every problem must be a finding (with a rule the catalogue
// knows), and a document index never exceeds the number of documents.
func FuzzRead(f *testing.F) {
	addCorpus(f)
	cluster := fixtureCluster(f)
	r := NewReader()
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, rf := r.ReadBytes("fuzz.yaml", data)
		for _, c := range []*Cluster{nil, cluster} {
			fs, err := LintAll(objs, rf, Options{Cluster: c})
			if err != nil {
				t.Fatalf("a rule failed: %v", err)
			}
			for _, fd := range fs {
				if _, ok := LookupRule(fd.Rule); !ok || fd.Severity == "" {
					t.Fatalf("finding with unknown rule or no severity: %+v", fd)
				}
				if fd.Source.Document > strings.Count(string(data), "---")+1 {
					t.Fatalf("document index %d beyond the input", fd.Source.Document)
				}
			}
		}
	})
}

// FuzzLintPod builds a pod from fuzzed scheduling fields — operators,
// values, keys, effects, quantities, annotations — so the rules see
// combinations no YAML author writes, with and without a cluster.
func FuzzLintPod(f *testing.F) {
	f.Add("In", "zone", "a,b", "Exists", "NoSchedule", "k", "v", "DoNotSchedule", int32(1), "2", "1", "500", "8Gi", int32(3))
	f.Add("Gt", "example.com/cpu-gen", "x", "Equal", "NoSchedul", "", "v", "Never", int32(0), "-1", "", "1500", "0", int32(-1))
	f.Add("Bogus", "", "", "exists", "", "nvidia.com/gpu", "", "ScheduleAnyway", int32(-5), "1e3", "1Ei", "abc", "x", int32(100))
	cluster := fixtureCluster(f)
	f.Fuzz(func(t *testing.T, nodeOp, key, values, tolOp, effect, tolKey, tolValue, when string, skew int32, cpuReq, cpuLim, milli, gpuMem string, replicas int32) {
		pod := &v1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"app": "p"}, Annotations: map[string]string{"berth.io/gpu-milli": milli, "berth.io/gpu-memory": gpuMem}},
			Spec: v1.PodSpec{
				Affinity: &v1.Affinity{
					NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
						MatchExpressions: []v1.NodeSelectorRequirement{{Key: key, Operator: v1.NodeSelectorOperator(nodeOp), Values: splitValues(values)}},
					}}}},
					PodAntiAffinity: &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
						TopologyKey: key, LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOperator(nodeOp), Values: splitValues(values)}}},
					}}},
				},
				Tolerations: []v1.Toleration{{Key: tolKey, Operator: v1.TolerationOperator(tolOp), Value: tolValue, Effect: v1.TaintEffect(effect)}},
				TopologySpreadConstraints: []v1.TopologySpreadConstraint{{
					MaxSkew: skew, TopologyKey: key, WhenUnsatisfiable: v1.UnsatisfiableConstraintAction(when), MinDomains: &replicas,
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": values}},
				}},
				Containers: []v1.Container{{Name: "c", Image: "x", Resources: v1.ResourceRequirements{Requests: quantities(cpuReq, gpuMem), Limits: quantities(cpuLim, "")}}},
			},
		}
		obj := &Object{Obj: pod, Ref: ObjectRef{Kind: "Pod", Name: "p"}}
		for _, c := range []*Cluster{nil, cluster} {
			e := newEnv([]*Object{obj}, c, "default")
			e.workloads[0].Replicas = replicas
			r := &reporter{obj: obj}
			for _, ch := range workloadChecks {
				if err := safely(func() { ch.fn(e.workloads[0], e, r) }); err != nil {
					t.Fatalf("rules %s: %v", ch.name, err)
				}
			}
			for _, fd := range r.findings {
				if fd.Field == "" || fd.Message == "" {
					t.Fatalf("finding without field or message: %+v", fd)
				}
			}
		}
	})
}

func splitValues(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// quantities parses a fuzzed CPU quantity, leaving out what does not
// parse (as the API types cannot hold it).
func quantities(cpu, gpuMemory string) v1.ResourceList {
	out := v1.ResourceList{}
	if q, err := resource.ParseQuantity(cpu); err == nil {
		out[v1.ResourceCPU] = q
	}
	if q, err := resource.ParseQuantity(gpuMemory); err == nil {
		out["nvidia.com/gpu"] = q
	}
	return out
}
