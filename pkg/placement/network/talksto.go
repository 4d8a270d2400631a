package network

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// TalksToAnnotation is the pod annotation that declares whom a pod talks
// to: comma-separated key=value label terms, each optionally followed by
// :weight, e.g. "app=db,app=cache:5". Each term is one dependency: the
// pods of the pod's namespace with that label.
const TalksToAnnotation = "berth.io/talks-to"

// MaxWeight bounds a dependency's traffic weight, so that a typo cannot
// make one dependency outweigh everything else by orders of magnitude.
const MaxWeight = 1000

// Term is one dependency declared in TalksToAnnotation.
type Term struct {
	// Key and Value select the pods talked to (label Key equals Value).
	Key, Value string
	// Weight is the relative traffic to them (1 to MaxWeight, default 1).
	Weight int64
}

// String is the term's selector, key=value, as explanations name it.
func (t Term) String() string { return t.Key + "=" + t.Value }

// Matches reports whether a pod with these labels is selected.
func (t Term) Matches(labels map[string]string) bool {
	v, ok := labels[t.Key]
	return ok && v == t.Value
}

// ParseTalksTo reads the value of TalksToAnnotation. An empty (or blank)
// value declares no dependency. Anything else must be well formed as a
// whole — one bad term and none is used, so a typo is not half applied —
// and the error names the annotation, the term and what is wrong with
// it.
func ParseTalksTo(value string) ([]Term, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	parts := strings.Split(value, ",")
	terms := make([]Term, 0, len(parts))
	first := map[string]int{}
	for i, raw := range parts {
		n := i + 1
		s := strings.TrimSpace(raw)
		t, err := parseTerm(s)
		if err != nil {
			if s == "" {
				return nil, fmt.Errorf("annotation %s: term %d is empty (a comma too many?)", TalksToAnnotation, n)
			}
			return nil, fmt.Errorf("annotation %s: term %d %q: %s", TalksToAnnotation, n, s, err)
		}
		if prev, ok := first[t.String()]; ok {
			return nil, fmt.Errorf("annotation %s: term %d %q: repeats term %d (give one term a weight instead)", TalksToAnnotation, n, s, prev)
		}
		first[t.String()] = n
		terms = append(terms, t)
	}
	return terms, nil
}

// parseTerm reads key=value or key=value:weight.
func parseTerm(s string) (Term, error) {
	sel, weight, hasWeight := s, "", false
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		sel, weight, hasWeight = s[:i], s[i+1:], true
	}
	key, val, ok := strings.Cut(sel, "=")
	if !ok {
		return Term{}, fmt.Errorf("want key=value or key=value:weight")
	}
	if errs := validation.IsQualifiedName(key); len(errs) > 0 {
		return Term{}, fmt.Errorf("label key %q: %s", key, strings.Join(errs, "; "))
	}
	if val == "" {
		return Term{}, fmt.Errorf("label value is empty")
	}
	if errs := validation.IsValidLabelValue(val); len(errs) > 0 {
		return Term{}, fmt.Errorf("label value %q: %s", val, strings.Join(errs, "; "))
	}
	t := Term{Key: key, Value: val, Weight: 1}
	if hasWeight {
		w, err := strconv.ParseInt(weight, 10, 64)
		if err != nil || w < 1 || w > MaxWeight {
			return Term{}, fmt.Errorf("weight %q is not a whole number from 1 to %d", weight, MaxWeight)
		}
		t.Weight = w
	}
	return t, nil
}
