package lint

import (
	"sort"
	"strings"
)

// ObjectRef names the object a finding is about, as people look it up
// (`kubectl get KIND -n NAMESPACE NAME`).
type ObjectRef struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name,omitempty"`
}

// String renders Kind/namespace/name, leaving out what is unknown.
func (r ObjectRef) String() string {
	var parts []string
	if r.Kind != "" {
		parts = append(parts, r.Kind)
	}
	if r.Namespace != "" {
		parts = append(parts, r.Namespace)
	}
	if r.Name != "" {
		parts = append(parts, r.Name)
	}
	if len(parts) == 0 {
		return "(unnamed)"
	}
	return strings.Join(parts, "/")
}

// Source is where a document came from, so a finding can point into the
// file: the file name ("-" for stdin, "" for an admission request), the
// 0-based index of the YAML document, the 0-based index of the item when
// the document is a List (-1 otherwise), and the 1-based line of the
// finding's field (0 when unknown).
type Source struct {
	File     string `json:"file,omitempty"`
	Document int    `json:"document"`
	Item     int    `json:"item"`
	Line     int    `json:"line,omitempty"`
}

// Finding is one problem. The JSON form is the stable schema of
// `berth lint -o json` (docs/lint.md).
type Finding struct {
	// Rule is the stable rule ID (BL003).
	Rule string `json:"rule"`
	// Name is the rule's kebab-case name.
	Name string `json:"name"`
	// Severity of this finding.
	Severity Severity `json:"severity"`
	// Object is the object the finding is about.
	Object ObjectRef `json:"object"`
	// Source is the file, document, item and line.
	Source Source `json:"source"`
	// Field is the field path inside the object
	// (spec.template.spec.tolerations[0].effect); empty for findings about
	// a whole document.
	Field string `json:"field,omitempty"`
	// Message says what is wrong.
	Message string `json:"message"`
	// Remedy says how to fix it.
	Remedy string `json:"remedy"`
}

// Summary counts findings by severity.
type Summary struct {
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	Infos    int `json:"infos"`
}

// Summarize counts findings by severity.
func Summarize(fs []Finding) Summary {
	var s Summary
	for _, f := range fs {
		switch f.Severity {
		case Error:
			s.Errors++
		case Warning:
			s.Warnings++
		case Info:
			s.Infos++
		}
	}
	return s
}

// Worst returns the worst severity among findings, or "" for none.
func Worst(fs []Finding) Severity {
	var w Severity
	for _, f := range fs {
		if f.Severity.rank() > w.rank() {
			w = f.Severity
		}
	}
	return w
}

// sortFindings orders findings by file, document, item, line, field and
// rule, so output is stable and reads top to bottom like the file.
func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Source.File != b.Source.File {
			return a.Source.File < b.Source.File
		}
		if a.Source.Document != b.Source.Document {
			return a.Source.Document < b.Source.Document
		}
		if a.Source.Item != b.Source.Item {
			return a.Source.Item < b.Source.Item
		}
		if a.Source.Line != b.Source.Line {
			return a.Source.Line < b.Source.Line
		}
		if a.Field != b.Field {
			return a.Field < b.Field
		}
		return a.Rule < b.Rule
	})
}
