package preference

import (
	"math"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// RuleKind names the kind of a preferred rule, as in the configuration.
type RuleKind string

// The kinds of preferred rule.
const (
	KindLabelValues RuleKind = "labelValues"
	KindNumeric     RuleKind = "numeric"
	KindMatch       RuleKind = "match"
)

// Notes a RuleScore carries when the score needs a reason.
const (
	// NoteDefault: the label is missing or its value is not listed, so
	// the rule's default score applies.
	NoteDefault = "default"
	// NoteNotANumber: a numeric rule's label is not a number.
	NoteNotANumber = "not a number"
)

// rule is one compiled preferred rule.
type rule struct {
	set    string
	weight int32
	kind   RuleKind
	lv     *LabelValueScores
	num    numeric
	match  requirement
}

// numeric is a compiled NumericScore.
type numeric struct {
	key      string
	fn       Function
	min, max float64
	// lo and span are min and max-min on the function's scale (their
	// logarithms for Log), computed once.
	lo, span float64
	higher   bool
}

func newNumeric(n *NumericScore) numeric {
	c := numeric{key: n.Key, fn: n.Function, min: n.Min, max: n.Max, higher: n.HigherIsBetter == nil || *n.HigherIsBetter}
	if c.fn == "" {
		c.fn = Linear
	}
	c.lo, c.span = n.Min, n.Max-n.Min
	if c.fn == Log {
		c.lo, c.span = math.Log(n.Min), math.Log(n.Max)-math.Log(n.Min)
	}
	return c
}

// score maps x onto [0, MaxRuleScore]; note says when x was clamped.
func (n *numeric) score(x float64) (s float64, note string) {
	switch {
	case x < n.min:
		x, note = n.min, "below min "+formatNumber(n.min)
	case x > n.max:
		x, note = n.max, "above max "+formatNumber(n.max)
	}
	if n.fn == Log {
		x = math.Log(x)
	}
	s = MaxRuleScore * (x - n.lo) / n.span
	if !n.higher {
		s = MaxRuleScore - s
	}
	return s, note
}

// describe is how explain names the mapping: "log", "linear, lower is
// better".
func (n *numeric) describe() string {
	if n.higher {
		return string(n.fn)
	}
	return string(n.fn) + ", lower is better"
}

// ParseNumber reads a label value as a number: a plain integer or
// decimal, or a Kubernetes quantity ("10Gi" is 10737418240). ok is false
// for anything else, including infinities and NaN.
func ParseNumber(s string) (f float64, ok bool) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f, !math.IsInf(f, 0) && !math.IsNaN(f)
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return 0, false
	}
	return q.AsApproximateFloat64(), true
}

func formatNumber(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// RuleScore is one preferred rule's contribution to a node's score, what
// explain shows.
type RuleScore struct {
	// Set is the rule set the rule belongs to.
	Set string
	// Kind is the rule's kind.
	Kind RuleKind
	// Key is the node label the rule reads.
	Key string
	// Rule qualifies the rule: a numeric rule's function ("log",
	// "linear, lower is better") or a match rule's requirement
	// ("network-gbps Gt 25"); empty for label values.
	Rule string
	// Value is the node's value of the label; Found is false when the
	// node has no such label.
	Value string
	Found bool
	// Score is the rule's score in [0, MaxRuleScore].
	Score float64
	// Weight is the rule's weight.
	Weight int32
	// Note says why the score is what it is when the value alone does
	// not: NoteDefault, NoteNotANumber, "below min 1000", "above max
	// 100000"; empty otherwise.
	Note string
}

// String renders the contribution as explain shows it:
//
//	disk-type=ssd → 80 ×3
//	disk-type missing → 0 (default) ×3
//	disk-iops=20000 (log) → 65 ×2
//	disk-iops=fast (log) → 0 (not a number) ×2
//	network-gbps Gt 25 (node has network-gbps=100) → 100 ×1
func (r RuleScore) String() string {
	var b strings.Builder
	switch {
	case r.Kind == KindMatch:
		b.WriteString(r.Rule)
		if r.Found {
			b.WriteString(" (node has " + r.Key + "=" + r.Value + ")")
		} else {
			b.WriteString(" (node has no " + r.Key + ")")
		}
	default:
		if r.Found {
			b.WriteString(r.Key + "=" + r.Value)
		} else {
			b.WriteString(r.Key + " missing")
		}
		if r.Rule != "" {
			b.WriteString(" (" + r.Rule + ")")
		}
	}
	b.WriteString(" → " + strconv.FormatInt(int64(math.Round(r.Score)), 10))
	if r.Note != "" {
		b.WriteString(" (" + r.Note + ")")
	}
	b.WriteString(" ×" + strconv.FormatInt(int64(r.Weight), 10))
	return b.String()
}

// eval scores the rule on node. It allocates nothing but what matching a
// requirement does, since it runs for every node of every pod.
func (r *rule) eval(node *v1.Node) (s float64, value string, found bool, note string) {
	switch r.kind {
	case KindLabelValues:
		value, found = node.Labels[r.lv.Key]
		if v, ok := r.lv.Values[value]; ok && found {
			return float64(v), value, true, ""
		}
		return float64(r.lv.Default), value, found, NoteDefault
	case KindNumeric:
		value, found = node.Labels[r.num.key]
		if !found {
			return 0, "", false, ""
		}
		x, ok := ParseNumber(value)
		if !ok {
			return 0, value, true, NoteNotANumber
		}
		s, note = r.num.score(x)
		return s, value, true, note
	default: // KindMatch
		value, found = node.Labels[r.match.Key]
		if r.match.matches(node) {
			return MaxRuleScore, value, found, ""
		}
		return 0, value, found, ""
	}
}

// explain is eval as a RuleScore.
func (r *rule) explain(node *v1.Node) RuleScore {
	s, value, found, note := r.eval(node)
	out := RuleScore{Set: r.set, Kind: r.kind, Value: value, Found: found, Score: s, Weight: r.weight, Note: note}
	switch r.kind {
	case KindLabelValues:
		out.Key = r.lv.Key
	case KindNumeric:
		out.Key, out.Rule = r.num.key, r.num.describe()
	default:
		out.Key, out.Rule = r.match.Key, r.match.String()
	}
	return out
}

// Breakdown is a node's score under a Preference with each preferred
// rule's contribution, for explain.
type Breakdown struct {
	// Score is the node's score: the weighted mean of the rules' scores,
	// rounded, in [0, MaxRuleScore].
	Score int64
	// Rules are the contributions in configuration order (rule sets in
	// the order they are configured, rules in the order of each set).
	Rules []RuleScore
}

// String renders the breakdown grouped by rule set: "rule set fast-disk:
// disk-type=ssd → 80 ×3, disk-iops=20000 (log) → 65 ×2; rule set
// fast-net: …".
func (b Breakdown) String() string {
	var out strings.Builder
	for i, r := range b.Rules {
		switch {
		case i == 0:
			out.WriteString("rule set " + r.Set + ": ")
		case r.Set != b.Rules[i-1].Set:
			out.WriteString("; rule set " + r.Set + ": ")
		default:
			out.WriteString(", ")
		}
		out.WriteString(r.String())
	}
	return out.String()
}
