package lint

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// checkStorage reports claims whose StorageClass provisions only where
// the pod's required node placement forbids (BL070). Claims are the pod's
// PVC volumes (found in the manifests), generic ephemeral volumes and a
// StatefulSet's volumeClaimTemplates; classes come from the manifests or
// the cluster.
func checkStorage(w *Workload, e *env, r *reporter) {
	ns := e.namespace(w.Object.Ref.Namespace)
	type claim struct {
		class *string
		path  *field.Path
	}
	var claims []claim
	for i, vol := range w.Pod.Spec.Volumes {
		p := w.SpecPath.Child("volumes").Index(i)
		switch {
		case vol.PersistentVolumeClaim != nil:
			if pvc, ok := e.pvcs[ns+"/"+vol.PersistentVolumeClaim.ClaimName]; ok {
				claims = append(claims, claim{pvc.Spec.StorageClassName, p.Child("persistentVolumeClaim", "claimName")})
			}
		case vol.Ephemeral != nil && vol.Ephemeral.VolumeClaimTemplate != nil:
			claims = append(claims, claim{vol.Ephemeral.VolumeClaimTemplate.Spec.StorageClassName, p.Child("ephemeral", "volumeClaimTemplate", "spec", "storageClassName")})
		}
	}
	if sts, ok := w.Object.Obj.(*appsv1.StatefulSet); ok {
		for i, t := range sts.Spec.VolumeClaimTemplates {
			claims = append(claims, claim{t.Spec.StorageClassName, field.NewPath("spec", "volumeClaimTemplates").Index(i).Child("spec", "storageClassName")})
		}
	}
	for _, c := range claims {
		var sc *storagev1.StorageClass
		switch {
		case c.class == nil:
			sc = e.defaultStorageClass()
		case *c.class != "":
			sc, _ = e.storageClass(*c.class)
		}
		if sc == nil || len(sc.AllowedTopologies) == 0 {
			continue
		}
		if !placementCompatible(w.Pod, sc.AllowedTopologies) {
			r.add(RuleStorageTopologyConflict, c.path, fmt.Sprintf("StorageClass %q provisions volumes only in %s, which the pod's nodeSelector and required node affinity exclude; the pod and its volume can never meet", sc.Name, describeTopologies(sc.AllowedTopologies)), "")
		}
	}
}

// placementCompatible reports whether some node could satisfy both the
// pod's required placement (nodeSelector AND one of its required terms)
// and one of the class's allowed topology terms. It reasons over the
// label keys both constrain, so it needs no nodes.
func placementCompatible(pod *v1.Pod, topo []v1.TopologySelectorTerm) bool {
	podTerms := []v1.NodeSelectorTerm{{}}
	if req := requiredNodeAffinity(pod); req != nil && len(req.NodeSelectorTerms) > 0 {
		podTerms = req.NodeSelectorTerms
	}
	for _, pt := range podTerms {
		for _, tt := range topo {
			if termsCompatible(pod.Spec.NodeSelector, pt, tt) {
				return true
			}
		}
	}
	return false
}

func termsCompatible(nodeSelector map[string]string, pt v1.NodeSelectorTerm, tt v1.TopologySelectorTerm) bool {
	for _, tr := range tt.MatchLabelExpressions {
		allowed := sets.New(tr.Values...)
		if v, ok := nodeSelector[tr.Key]; ok {
			allowed = allowed.Intersection(sets.New(v))
		}
		for _, rq := range pt.MatchExpressions {
			if rq.Key != tr.Key {
				continue
			}
			switch rq.Operator {
			case v1.NodeSelectorOpIn:
				allowed = allowed.Intersection(sets.New(rq.Values...))
			case v1.NodeSelectorOpNotIn:
				allowed = allowed.Difference(sets.New(rq.Values...))
			case v1.NodeSelectorOpDoesNotExist:
				allowed = sets.New[string]()
			}
		}
		if allowed.Len() == 0 {
			return false
		}
	}
	return true
}

func describeTopologies(topo []v1.TopologySelectorTerm) string {
	s := ""
	for i, t := range topo {
		if i > 0 {
			s += " or "
		}
		for j, e := range t.MatchLabelExpressions {
			if j > 0 {
				s += " and "
			}
			s += fmt.Sprintf("%s in %v", e.Key, e.Values)
		}
	}
	return s
}
