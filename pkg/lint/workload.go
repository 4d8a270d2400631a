package lint

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Workload is a pod spec found in an object: a Pod's own, or the pod
// template of a controller.
type Workload struct {
	// Object is the object the spec is in.
	Object *Object
	// Pod is the pod the spec describes: the template's labels and
	// annotations, the object's namespace, and the spec. Rules read this,
	// so that helpers written for pods (node affinity matching, resource
	// sums, GPU requests) apply unchanged.
	Pod *v1.Pod
	// SpecPath is the field path of the pod spec (spec.template.spec).
	SpecPath *field.Path
	// MetaPath is the field path of the pod's metadata
	// (spec.template.metadata).
	MetaPath *field.Path
	// Replicas is how many pods run at once: replicas, a Job's
	// parallelism, 1 for a Pod. It is -1 when not known from the
	// manifest (a DaemonSet: one per node).
	Replicas int32
}

// Workloads returns the pod specs of the objects, in order.
func Workloads(objs []*Object) []*Workload {
	var out []*Workload
	for _, o := range objs {
		if w := workloadOf(o); w != nil {
			out = append(out, w)
		}
	}
	return out
}

func replicasOr1(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

func workloadOf(o *Object) *Workload {
	spec := field.NewPath("spec")
	tmpl := spec.Child("template")
	fromTemplate := func(t *v1.PodTemplateSpec, base *field.Path, replicas int32) *Workload {
		return &Workload{Object: o, Pod: podFrom(o, t.ObjectMeta, t.Spec), SpecPath: base.Child("spec"), MetaPath: base.Child("metadata"), Replicas: replicas}
	}
	switch obj := o.Obj.(type) {
	case *v1.Pod:
		return &Workload{Object: o, Pod: podFrom(o, obj.ObjectMeta, obj.Spec), SpecPath: spec, MetaPath: field.NewPath("metadata"), Replicas: 1}
	case *appsv1.Deployment:
		return fromTemplate(&obj.Spec.Template, tmpl, replicasOr1(obj.Spec.Replicas))
	case *appsv1.StatefulSet:
		return fromTemplate(&obj.Spec.Template, tmpl, replicasOr1(obj.Spec.Replicas))
	case *appsv1.ReplicaSet:
		return fromTemplate(&obj.Spec.Template, tmpl, replicasOr1(obj.Spec.Replicas))
	case *appsv1.DaemonSet:
		return fromTemplate(&obj.Spec.Template, tmpl, -1)
	case *batchv1.Job:
		return fromTemplate(&obj.Spec.Template, tmpl, replicasOr1(obj.Spec.Parallelism))
	case *batchv1.CronJob:
		js := obj.Spec.JobTemplate.Spec
		return fromTemplate(&js.Template, spec.Child("jobTemplate", "spec", "template"), replicasOr1(js.Parallelism))
	case *v1.PodTemplate:
		return fromTemplate(&obj.Template, field.NewPath("template"), -1)
	case *v1.ReplicationController:
		return fromTemplate(obj.Spec.Template, tmpl, replicasOr1(obj.Spec.Replicas))
	}
	return nil
}

// podFrom builds the pod a template describes. The namespace is the
// object's, because a template's own namespace is ignored by controllers.
func podFrom(o *Object, m metav1.ObjectMeta, spec v1.PodSpec) *v1.Pod {
	p := &v1.Pod{ObjectMeta: *m.DeepCopy(), Spec: *spec.DeepCopy()}
	p.Namespace = o.Ref.Namespace
	if p.Name == "" {
		p.Name = o.Ref.Name
	}
	return p
}
