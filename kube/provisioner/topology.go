package provisioner

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

// maxSegments bounds the expansion of a class's allowedTopologies into
// concrete segments (one value per key); a class listing more is cut off.
const maxSegments = 1024

// hostOf is the kubernetes.io/hostname value identifying node: its label,
// or its name when the label is missing (as for a node created by hand).
func hostOf(node *v1.Node) string {
	if h := node.Labels[v1.LabelHostname]; h != "" {
		return h
	}
	return node.Name
}

// hostAffinity pins a volume to the node whose hostname label is host.
func hostAffinity(host string) *v1.VolumeNodeAffinity {
	return &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
		MatchExpressions: []v1.NodeSelectorRequirement{{
			Key: v1.LabelHostname, Operator: v1.NodeSelectorOpIn, Values: []string{host},
		}},
	}}}}
}

// pinnedHost returns the hostname a volume's node affinity pins it to: the
// single value of a kubernetes.io/hostname In requirement when the
// affinity has exactly one term. Volumes reachable from several nodes
// (zonal, or without affinity) return "".
func pinnedHost(pv *v1.PersistentVolume) string {
	na := pv.Spec.NodeAffinity
	if na == nil || na.Required == nil || len(na.Required.NodeSelectorTerms) != 1 {
		return ""
	}
	for _, r := range na.Required.NodeSelectorTerms[0].MatchExpressions {
		if r.Key == v1.LabelHostname && r.Operator == v1.NodeSelectorOpIn && len(r.Values) == 1 {
			return r.Values[0]
		}
	}
	return ""
}

// nodeAllowed reports whether node lies in the class's allowedTopologies
// (any term whose every requirement the node's labels satisfy); a class
// without allowedTopologies allows every node.
func nodeAllowed(class *storagev1.StorageClass, node *v1.Node) bool {
	if len(class.AllowedTopologies) == 0 {
		return true
	}
	for _, term := range class.AllowedTopologies {
		if termMatches(term.MatchLabelExpressions, node.Labels) {
			return true
		}
	}
	return false
}

func termMatches(reqs []v1.TopologySelectorLabelRequirement, labels map[string]string) bool {
	for _, r := range reqs {
		val, ok := labels[r.Key]
		if !ok || !contains(r.Values, val) {
			return false
		}
	}
	return true
}

func contains(values []string, v string) bool {
	for _, x := range values {
		if x == v {
			return true
		}
	}
	return false
}

// segment is one concrete topology: a value for each key, in the order the
// class lists the keys.
type segment []v1.TopologySelectorLabelRequirement

func (s segment) labels() map[string]string {
	m := make(map[string]string, len(s))
	for _, r := range s {
		m[r.Key] = r.Values[0]
	}
	return m
}

// affinity requires every key of the segment to have its value.
func (s segment) affinity() *v1.VolumeNodeAffinity {
	term := v1.NodeSelectorTerm{}
	for _, r := range s {
		term.MatchExpressions = append(term.MatchExpressions, v1.NodeSelectorRequirement{
			Key: r.Key, Operator: v1.NodeSelectorOpIn, Values: []string{r.Values[0]},
		})
	}
	return &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{term}}}
}

// segments expands allowedTopologies into concrete segments: within a term
// every combination of one value per requirement, terms one after another
// (at most maxSegments in all).
func segments(terms []v1.TopologySelectorTerm) []segment {
	var out []segment
	for _, term := range terms {
		partial := []segment{nil}
		for _, r := range term.MatchLabelExpressions {
			var next []segment
		expand:
			for _, p := range partial {
				for _, v := range r.Values {
					if len(out)+len(next) >= maxSegments {
						break expand
					}
					next = append(next, append(append(segment(nil), p...), v1.TopologySelectorLabelRequirement{Key: r.Key, Values: []string{v}}))
				}
			}
			partial = next
		}
		for _, p := range partial {
			if len(p) > 0 && len(out) < maxSegments {
				out = append(out, p)
			}
		}
	}
	return out
}

// capacityName is the deterministic name of the CSIStorageCapacity object
// for (class, host): "<class>-<host>" reduced to DNS-label characters and
// shortened to fit, plus a hash of the pair so that distinct pairs never
// share a name.
func capacityName(class, host string) string {
	sum := sha256.Sum256([]byte(class + "\x00" + host))
	suffix := hex.EncodeToString(sum[:4])
	base := []byte(strings.ToLower(class + "-" + host))
	for i, c := range base {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			base[i] = '-'
		}
	}
	if limit := 253 - len(suffix) - 1; len(base) > limit {
		base = base[:limit]
	}
	if b := strings.Trim(string(base), "-"); b != "" {
		return b + "-" + suffix
	}
	return "capacity-" + suffix
}
