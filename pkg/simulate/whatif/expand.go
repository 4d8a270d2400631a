package whatif

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
)

// Workload is a manifest's pods, as its controller would create them:
// a Pod itself; replicas of a Deployment's, ReplicaSet's or
// StatefulSet's template; parallelism of a Job's or CronJob's.
// DaemonSets are refused: their pods' placement is fixed per node, not
// scheduled capacity.
type Workload struct {
	// Name is kind/namespace/name of the manifest object.
	Name string
	// Pods are the pods of one copy of the workload, without names' copy
	// suffix; Instantiate names them.
	Pods []*v1.Pod
}

// ReadWorkloads decodes every object of a manifest file (YAML, multiple
// documents, or JSON) into workloads. Objects of other kinds are an
// error: a what-if that silently ignored part of its input would answer
// a different question.
func ReadWorkloads(path string) ([]Workload, error) {
	objs, err := readObjects(path)
	if err != nil {
		return nil, err
	}
	var out []Workload
	for i, obj := range objs {
		w, err := workloadOf(obj)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		out = append(out, w)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no objects", path)
	}
	return out, nil
}

// ReadNode decodes a node template file holding one Node.
func ReadNode(path string) (*v1.Node, error) {
	objs, err := readObjects(path)
	if err != nil {
		return nil, err
	}
	if len(objs) != 1 {
		return nil, fmt.Errorf("%s: want one Node, got %d objects", path, len(objs))
	}
	n, ok := objs[0].(*v1.Node)
	if !ok {
		return nil, fmt.Errorf("%s: want a Node, got %T", path, objs[0])
	}
	if len(n.Status.Allocatable) == 0 && len(n.Status.Capacity) == 0 {
		return nil, fmt.Errorf("%s: node %s has neither status.allocatable nor status.capacity: it could hold nothing", path, n.Name)
	}
	return n, nil
}

// readObjects decodes a file's documents with the Kubernetes scheme.
func readObjects(path string) ([]runtime.Object, error) {
	var r io.Reader
	if path == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	yr := utilyaml.NewYAMLReader(bufio.NewReader(r))
	dec := scheme.Codecs.UniversalDeserializer()
	var out []runtime.Object
	for i := 0; ; i++ {
		doc, err := yr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, _, err := dec.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		if l, ok := obj.(*v1.List); ok {
			for j, item := range l.Items {
				o, _, err := dec.Decode(item.Raw, nil, nil)
				if err != nil {
					return nil, fmt.Errorf("%s: document %d item %d: %w", path, i, j, err)
				}
				out = append(out, o)
			}
			continue
		}
		out = append(out, obj)
	}
	return out, nil
}

// stripComments drops YAML comment lines, so a document of comments
// only counts as empty.
func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, line := range strings.Split(string(doc), "\n") {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func workloadOf(obj runtime.Object) (Workload, error) {
	one := func(n *int32) int {
		if n == nil {
			return 1
		}
		return int(*n)
	}
	switch o := obj.(type) {
	case *v1.Pod:
		p := o.DeepCopy()
		return Workload{Name: "Pod/" + nsName(o.ObjectMeta), Pods: []*v1.Pod{p}}, nil
	case *appsv1.Deployment:
		return templated("Deployment", o.ObjectMeta, &o.Spec.Template, one(o.Spec.Replicas), false), nil
	case *appsv1.ReplicaSet:
		return templated("ReplicaSet", o.ObjectMeta, &o.Spec.Template, one(o.Spec.Replicas), false), nil
	case *appsv1.StatefulSet:
		return templated("StatefulSet", o.ObjectMeta, &o.Spec.Template, one(o.Spec.Replicas), true), nil
	case *batchv1.Job:
		return templated("Job", o.ObjectMeta, &o.Spec.Template, one(o.Spec.Parallelism), false), nil
	case *batchv1.CronJob:
		return templated("CronJob", o.ObjectMeta, &o.Spec.JobTemplate.Spec.Template, one(o.Spec.JobTemplate.Spec.Parallelism), false), nil
	case *appsv1.DaemonSet:
		return Workload{}, fmt.Errorf("DaemonSet %s: a DaemonSet runs one pod per node, it adds no schedulable demand to simulate", o.Name)
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	return Workload{}, fmt.Errorf("%s is not a workload (want Pod, Deployment, ReplicaSet, StatefulSet, Job or CronJob)", gvk.Kind)
}

func nsName(m metav1.ObjectMeta) string {
	ns := m.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	return ns + "/" + m.Name
}

// templated makes n pods from a template, named like their
// controller's: name-0… for a StatefulSet, name-<i> otherwise.
func templated(kind string, m metav1.ObjectMeta, t *v1.PodTemplateSpec, n int, ordinal bool) Workload {
	w := Workload{Name: kind + "/" + nsName(m)}
	for i := range n {
		p := &v1.Pod{ObjectMeta: *t.ObjectMeta.DeepCopy(), Spec: *t.Spec.DeepCopy()}
		p.Namespace = m.Namespace
		p.Name = fmt.Sprintf("%s-%d", m.Name, i)
		if !ordinal {
			p.Name = fmt.Sprintf("%s-%05d", m.Name, i)
		}
		w.Pods = append(w.Pods, p)
	}
	return w
}
