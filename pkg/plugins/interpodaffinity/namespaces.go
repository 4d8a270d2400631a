package interpodaffinity

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/klog/v2"
)

// resolvedTerm is one of the incoming pod's terms with its namespace
// selector turned into namespace names for this cycle, so matching it
// against existing pods never needs their namespaces' labels. An empty
// namespace selector stays "every namespace".
type resolvedTerm struct {
	*term
	namespaces    sets.Set[string]
	allNamespaces bool
}

func (r *resolvedTerm) matches(pod *v1.Pod) bool {
	if r.allNamespaces || r.namespaces.Has(pod.Namespace) {
		return r.selector.Matches(labels.Set(pod.Labels))
	}
	return false
}

// resolver resolves the incoming pod's namespace selectors, listing
// namespaces once per distinct selector within one cycle.
type resolver struct {
	lister listersv1.NamespaceLister
	cache  map[string][]string
}

func (r *resolver) resolve(t *term) (resolvedTerm, error) {
	if !t.nsSelectorSet {
		return resolvedTerm{term: t, namespaces: t.namespaces}, nil
	}
	if t.nsSelector.Empty() {
		return resolvedTerm{term: t, namespaces: t.namespaces, allNamespaces: true}, nil
	}
	key := t.nsSelector.String()
	names, ok := r.cache[key]
	if !ok {
		nss, err := r.lister.List(t.nsSelector)
		if err != nil {
			return resolvedTerm{}, err
		}
		for _, ns := range nss {
			names = append(names, ns.Name)
		}
		if r.cache == nil {
			r.cache = map[string][]string{}
		}
		r.cache[key] = names
	}
	if len(names) == 0 {
		return resolvedTerm{term: t, namespaces: t.namespaces}, nil
	}
	set := t.namespaces.Clone()
	set.Insert(names...)
	return resolvedTerm{term: t, namespaces: set}, nil
}

func (r *resolver) resolveAll(terms []*term) ([]resolvedTerm, error) {
	if len(terms) == 0 {
		return nil, nil
	}
	out := make([]resolvedTerm, len(terms))
	for i, t := range terms {
		var err error
		if out[i], err = r.resolve(t); err != nil {
			return nil, err
		}
	}
	return out, nil
}

type resolvedWeighted struct {
	resolvedTerm
	weight int32
}

func (r *resolver) resolveWeighted(terms []weightedTerm) ([]resolvedWeighted, error) {
	if len(terms) == 0 {
		return nil, nil
	}
	out := make([]resolvedWeighted, len(terms))
	for i, t := range terms {
		rt, err := r.resolve(t.term)
		if err != nil {
			return nil, err
		}
		out[i] = resolvedWeighted{resolvedTerm: rt, weight: t.weight}
	}
	return out, nil
}

// namespaceLabels returns the labels of the namespace, or nil (with a log
// line) when it is not known, which kube-scheduler also treats as no
// labels.
func namespaceLabels(logger klog.Logger, lister listersv1.NamespaceLister, name string) labels.Set {
	ns, err := lister.Get(name)
	if err != nil {
		logger.V(3).Info("Namespace not found; assuming it has no labels", "namespace", name, "err", err)
		return nil
	}
	return labels.Merge(ns.Labels, nil)
}

// matchMemo remembers, within one cycle, whether the incoming pod matches
// an interned term of an existing pod. Replicas of one workload share their
// terms, so most lookups hit the one-entry fast path.
type matchMemo struct {
	pod      *v1.Pod
	nsLabels labels.Set
	last     *term
	lastOK   bool
	seen     map[*term]bool
}

func (m *matchMemo) matches(t *term) bool {
	if t == m.last {
		return m.lastOK
	}
	ok, found := m.seen[t]
	if !found {
		ok = t.matches(m.pod, m.nsLabels)
		if m.seen == nil {
			m.seen = map[*term]bool{}
		}
		m.seen[t] = ok
	}
	m.last, m.lastOK = t, ok
	return ok
}
