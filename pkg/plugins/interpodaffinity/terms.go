package interpodaffinity

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/sets"
)

// term is a parsed v1.PodAffinityTerm. Terms are interned (see termTable),
// so two pods with the same term share one *term, and a *term can key a
// per-cycle memo of "does the incoming pod match it". A term is immutable.
//
// matchLabelKeys and mismatchLabelKeys are not read here: the API server
// merges them into the label selector when the pod is created, and the
// scheduler, like kube-scheduler, reads only the selector.
type term struct {
	// id is unique per interned term, for signatures.
	id          uint64
	topologyKey string
	// namespaces are the listed namespaces, or the owning pod's namespace
	// when neither namespaces nor namespaceSelector is set.
	namespaces sets.Set[string]
	// nsSelector is labels.Nothing() when namespaceSelector is nil.
	nsSelector labels.Selector
	// nsSelectorSet records whether namespaceSelector was given at all; an
	// empty one selects every namespace.
	nsSelectorSet bool
	// selector is labels.Nothing() when labelSelector is nil.
	selector labels.Selector
}

// matches reports whether pod is selected by the term: in one of its
// namespaces (or a namespace whose labels nsLabels match the namespace
// selector) and carrying matching labels.
func (t *term) matches(pod *v1.Pod, nsLabels labels.Set) bool {
	if t.namespaces.Has(pod.Namespace) || t.nsSelector.Matches(nsLabels) {
		return t.selector.Matches(labels.Set(pod.Labels))
	}
	return false
}

// weightedTerm is a preferred term.
type weightedTerm struct {
	*term
	weight int32
}

// podTerms is everything a pod declares about pod (anti-)affinity, parsed.
type podTerms struct {
	// affinity and namespace identify what was parsed; a pod object with
	// another affinity pointer is parsed again.
	affinity  *v1.Affinity
	namespace string
	// lastUsed is the cache sweep epoch that last read the entry.
	lastUsed atomic.Uint64

	requiredAffinity     []*term
	requiredAntiAffinity []*term
	preferredAffinity    []weightedTerm
	preferredAnti        []weightedTerm
	// err is set when a selector did not parse; the lists that did parse
	// are still filled, as kube-scheduler keeps them for existing pods.
	err error
}

var noTerms = &podTerms{}

// termTable interns terms and caches each pod's parsed terms by UID. It is
// safe for concurrent use (queueing hints run outside the scheduling loop).
type termTable struct {
	mu     sync.RWMutex
	byKey  map[string]*term
	byPod  map[types.UID]*podTerms
	epoch  uint64
	lookup uint64 // lookups since the last sweep
	nextID uint64
}

// sweepEvery is how many lookups pass between sweeps of the per-pod cache.
// An entry survives a sweep when it was read since the previous one; the
// pods that matter (existing pods with affinity) are read every cycle.
const sweepEvery = 1 << 16

// maxInterned bounds the intern table; it is reset when larger. Existing
// podTerms keep their terms, so a reset only loses sharing.
const maxInterned = 1 << 14

func newTermTable() *termTable {
	return &termTable{byKey: map[string]*term{}, byPod: map[types.UID]*podTerms{}}
}

// get returns pod's parsed terms, from the cache when the pod's affinity is
// the object that was parsed before.
func (tt *termTable) get(pod *v1.Pod) *podTerms {
	a := pod.Spec.Affinity
	if a == nil || (a.PodAffinity == nil && a.PodAntiAffinity == nil) {
		return noTerms
	}
	tt.mu.RLock()
	pt, ok := tt.byPod[pod.UID]
	epoch := tt.epoch
	tt.mu.RUnlock()
	if ok && pt.affinity == a && pt.namespace == pod.Namespace {
		if pt.lastUsed.Load() != epoch {
			pt.lastUsed.Store(epoch)
		}
		return pt
	}
	pt = tt.parse(pod)
	if pod.UID == "" {
		return pt
	}
	tt.mu.Lock()
	pt.lastUsed.Store(tt.epoch)
	tt.byPod[pod.UID] = pt
	tt.lookup++
	if tt.lookup >= sweepEvery {
		tt.sweepLocked()
	}
	tt.mu.Unlock()
	return pt
}

func (tt *termTable) sweepLocked() {
	for uid, pt := range tt.byPod {
		if pt.lastUsed.Load() != tt.epoch {
			delete(tt.byPod, uid)
		}
	}
	tt.epoch++
	tt.lookup = 0
}

// parse builds a pod's terms the way kube-scheduler's PodInfo does: a
// selector that fails to parse drops that whole list and is reported.
func (tt *termTable) parse(pod *v1.Pod) *podTerms {
	a := pod.Spec.Affinity
	if a == nil {
		return noTerms
	}
	pt := &podTerms{affinity: a, namespace: pod.Namespace}
	var reqAff, reqAnti []v1.PodAffinityTerm
	var prefAff, prefAnti []v1.WeightedPodAffinityTerm
	if a.PodAffinity != nil {
		reqAff = a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution
		prefAff = a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution
	}
	if a.PodAntiAffinity != nil {
		reqAnti = a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
		prefAnti = a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution
	}
	var errs []error
	var err error
	if pt.requiredAffinity, err = tt.terms(pod, reqAff); err != nil {
		errs = append(errs, fmt.Errorf("requiredAffinityTerms: %w", err))
	}
	if pt.requiredAntiAffinity, err = tt.terms(pod, reqAnti); err != nil {
		errs = append(errs, fmt.Errorf("requiredAntiAffinityTerms: %w", err))
	}
	if pt.preferredAffinity, err = tt.weighted(pod, prefAff); err != nil {
		errs = append(errs, fmt.Errorf("preferredAffinityTerms: %w", err))
	}
	if pt.preferredAnti, err = tt.weighted(pod, prefAnti); err != nil {
		errs = append(errs, fmt.Errorf("preferredAntiAffinityTerms: %w", err))
	}
	pt.err = utilerrors.NewAggregate(errs)
	return pt
}

func (tt *termTable) terms(pod *v1.Pod, in []v1.PodAffinityTerm) ([]*term, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]*term, 0, len(in))
	for i := range in {
		t, err := tt.term(pod, &in[i])
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func (tt *termTable) weighted(pod *v1.Pod, in []v1.WeightedPodAffinityTerm) ([]weightedTerm, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]weightedTerm, 0, len(in))
	for i := range in {
		t, err := tt.term(pod, &in[i].PodAffinityTerm)
		if err != nil {
			return nil, err
		}
		out = append(out, weightedTerm{term: t, weight: in[i].Weight})
	}
	return out, nil
}

// term parses one term and returns its interned instance.
func (tt *termTable) term(pod *v1.Pod, in *v1.PodAffinityTerm) (*term, error) {
	sel, err := metav1.LabelSelectorAsSelector(in.LabelSelector)
	if err != nil {
		return nil, err
	}
	nsSel, err := metav1.LabelSelectorAsSelector(in.NamespaceSelector)
	if err != nil {
		return nil, err
	}
	var namespaces []string
	if len(in.Namespaces) == 0 && in.NamespaceSelector == nil {
		namespaces = []string{pod.Namespace}
	} else {
		namespaces = in.Namespaces
	}
	key := termKey(in, namespaces, sel, nsSel)
	tt.mu.RLock()
	t, ok := tt.byKey[key]
	tt.mu.RUnlock()
	if ok {
		return t, nil
	}
	t = &term{
		topologyKey:   in.TopologyKey,
		namespaces:    sets.New(namespaces...),
		nsSelector:    nsSel,
		nsSelectorSet: in.NamespaceSelector != nil,
		selector:      sel,
	}
	tt.mu.Lock()
	tt.nextID++
	t.id = tt.nextID
	if len(tt.byKey) >= maxInterned {
		tt.byKey = map[string]*term{}
	}
	if old, ok := tt.byKey[key]; ok {
		t = old
	} else {
		tt.byKey[key] = t
	}
	tt.mu.Unlock()
	return t, nil
}

// termKey identifies a term by meaning. Selector strings are canonical
// (requirements sorted); nil and empty selectors both print as "", so
// whether one was given is recorded separately.
func termKey(in *v1.PodAffinityTerm, namespaces []string, sel, nsSel labels.Selector) string {
	ns := append([]string(nil), namespaces...)
	sort.Strings(ns)
	var b strings.Builder
	b.WriteString(in.TopologyKey)
	b.WriteByte(0)
	b.WriteString(strings.Join(ns, ","))
	b.WriteByte(0)
	if in.NamespaceSelector != nil {
		b.WriteString("+")
		b.WriteString(nsSel.String())
	}
	b.WriteByte(0)
	if in.LabelSelector != nil {
		b.WriteString("+")
		b.WriteString(sel.String())
	}
	return b.String()
}

// matchesAll reports whether pod matches every term (and there is at
// least one), with the incoming pod's namespaces already resolved.
func matchesAll(terms []resolvedTerm, pod *v1.Pod) bool {
	if len(terms) == 0 {
		return false
	}
	for i := range terms {
		if !terms[i].matches(pod) {
			return false
		}
	}
	return true
}
