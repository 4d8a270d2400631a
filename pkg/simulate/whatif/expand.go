package whatif

import (
	"fmt"
	"os"
	"strings"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthsched/berth/pkg/lint"
)

// Workload is a manifest's pods, as its controller would create them:
// a Pod itself; replicas of a Deployment's, ReplicaSet's,
// ReplicationController's or StatefulSet's template; parallelism of a
// Job's or CronJob's. DaemonSets are refused: their pods' placement is
// fixed per node, not scheduled capacity.
type Workload struct {
	// Name is kind/namespace/name of the manifest object.
	Name string
	// Pods are the pods of one copy of the workload.
	Pods []*v1.Pod
}

// readObjects decodes a file (or "-", stdin) with berth lint's reader,
// the Kubernetes API types; a document it cannot decode is an error here:
// a what-if that silently ignored part of its input would answer a
// different question.
func readObjects(path string) ([]*lint.Object, error) {
	objs, findings, err := lint.NewReader().ReadPaths([]string{path}, os.Stdin)
	if err != nil {
		return nil, err
	}
	for _, f := range findings {
		if f.Rule == lint.RuleUndecodable {
			return nil, fmt.Errorf("%s: document %d: %s", path, f.Source.Document, f.Message)
		}
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("%s: no objects", path)
	}
	return objs, nil
}

// ReadWorkloads decodes every object of a manifest file (YAML, multiple
// documents, Lists, or JSON) into workloads. Objects of other kinds are
// an error.
func ReadWorkloads(path string) ([]Workload, error) {
	objs, err := readObjects(path)
	if err != nil {
		return nil, err
	}
	ws := lint.Workloads(objs)
	byObject := map[*lint.Object]*lint.Workload{}
	for _, w := range ws {
		byObject[w.Object] = w
	}
	var out []Workload
	for _, o := range objs {
		w := byObject[o]
		switch {
		case w == nil:
			return nil, fmt.Errorf("%s: document %d: %s is not a workload (want Pod, Deployment, ReplicaSet, StatefulSet, Job or CronJob)", path, o.Source.Document, o.Ref)
		case w.Replicas < 0:
			return nil, fmt.Errorf("%s: document %d: %s runs one pod per node; it adds no schedulable demand to simulate", path, o.Source.Document, o.Ref)
		}
		out = append(out, instances(w))
	}
	return out, nil
}

// instances makes a workload's pods, named like their controller's:
// NAME-0… for a StatefulSet, NAME-00000… for the other controllers, the
// pod's own name for a Pod.
func instances(w *lint.Workload) Workload {
	ref := w.Object.Ref
	ns := ref.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	out := Workload{Name: ref.Kind + "/" + ns + "/" + ref.Name}
	for i := range int(w.Replicas) {
		p := lint.Defaulted(w.Pod)
		p.Namespace = ns
		switch ref.Kind {
		case "Pod":
		case "StatefulSet":
			p.Name = fmt.Sprintf("%s-%d", ref.Name, i)
		default:
			p.Name = fmt.Sprintf("%s-%05d", ref.Name, i)
		}
		out.Pods = append(out.Pods, p)
	}
	return out
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
	n, ok := objs[0].Obj.(*v1.Node)
	if !ok {
		return nil, fmt.Errorf("%s: want a Node, got %s", path, strings.TrimSpace(objs[0].Ref.String()))
	}
	if len(n.Status.Allocatable) == 0 && len(n.Status.Capacity) == 0 {
		return nil, fmt.Errorf("%s: node %s has neither status.allocatable nor status.capacity: it could hold nothing", path, n.Name)
	}
	return n.DeepCopy(), nil
}
