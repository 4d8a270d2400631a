package lint

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// Output formats of `berth lint -o`.
const (
	FormatText  = "text"
	FormatJSON  = "json"
	FormatSARIF = "sarif"
)

// Write renders findings in a format.
func Write(w io.Writer, fs []Finding, format, toolVersion string) error {
	switch format {
	case FormatText:
		return WriteText(w, fs)
	case FormatJSON:
		return WriteJSON(w, fs)
	case FormatSARIF:
		return WriteSARIF(w, fs, toolVersion)
	}
	return fmt.Errorf("unknown output format %q (want text, json or sarif)", format)
}

// WriteText renders findings for people: grouped by file, then object,
// each with its severity, rule, field path and line, what is wrong and
// how to fix it, and a count at the end.
func WriteText(w io.Writer, fs []Finding) error {
	ew := &errWriter{w: w}
	lastFile, lastObj := "\x00", "\x00"
	for _, f := range fs {
		file := f.Source.File
		if file == "" {
			file = "(request)"
		}
		if file != lastFile {
			ew.printf("%s\n", file)
			lastFile, lastObj = file, "\x00"
		}
		obj := fmt.Sprintf("%s (document %d", f.Object, f.Source.Document)
		if f.Source.Item >= 0 {
			obj += fmt.Sprintf(", item %d", f.Source.Item)
		}
		obj += ")"
		if obj != lastObj {
			ew.printf("  %s\n", obj)
			lastObj = obj
		}
		where := f.Field
		if f.Source.Line > 0 {
			if where != "" {
				where += " "
			}
			where += fmt.Sprintf("(line %d)", f.Source.Line)
		}
		ew.printf("    %-7s %s %s %s\n", f.Severity, f.Rule, f.Name, where)
		ew.printf("            %s\n", f.Message)
		if f.Remedy != "" {
			ew.printf("            fix: %s\n", f.Remedy)
		}
	}
	s := Summarize(fs)
	ew.printf("%s, %s, %s\n", plural(s.Errors, "error"), plural(s.Warnings, "warning"), plural(s.Infos, "info"))
	return ew.err
}

func plural(n int, what string) string {
	if n == 1 || what == "info" {
		return fmt.Sprintf("%d %s", n, what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// ReportAPIVersion and ReportKind identify the JSON report's schema.
const (
	ReportAPIVersion = "lint.berth.io/v1alpha1"
	ReportKind       = "LintReport"
)

// Report is the JSON output of `berth lint -o json`: a versioned
// envelope, the findings and their counts. Fields are only ever added.
type Report struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Summary    Summary   `json:"summary"`
	Findings   []Finding `json:"findings"`
}

// WriteJSON renders the Report.
func WriteJSON(w io.Writer, fs []Finding) error {
	if fs == nil {
		fs = []Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(Report{APIVersion: ReportAPIVersion, Kind: ReportKind, Summary: Summarize(fs), Findings: fs})
}

// The SARIF 2.1.0 subset GitHub code scanning reads.
type (
	sarifLog struct {
		Schema  string     `json:"$schema"`
		Version string     `json:"version"`
		Runs    []sarifRun `json:"runs"`
	}
	sarifRun struct {
		Tool    sarifTool     `json:"tool"`
		Results []sarifResult `json:"results"`
	}
	sarifTool struct {
		Driver sarifDriver `json:"driver"`
	}
	sarifDriver struct {
		Name           string      `json:"name"`
		InformationURI string      `json:"informationUri"`
		Version        string      `json:"version,omitempty"`
		Rules          []sarifRule `json:"rules"`
	}
	sarifRule struct {
		ID                   string        `json:"id"`
		Name                 string        `json:"name"`
		ShortDescription     sarifText     `json:"shortDescription"`
		FullDescription      sarifText     `json:"fullDescription"`
		Help                 sarifText     `json:"help"`
		HelpURI              string        `json:"helpUri"`
		DefaultConfiguration sarifRuleConf `json:"defaultConfiguration"`
	}
	sarifRuleConf struct {
		Level string `json:"level"`
	}
	sarifText struct {
		Text string `json:"text"`
	}
	sarifResult struct {
		RuleID    string          `json:"ruleId"`
		RuleIndex int             `json:"ruleIndex"`
		Level     string          `json:"level"`
		Message   sarifText       `json:"message"`
		Locations []sarifLocation `json:"locations"`
	}
	sarifLocation struct {
		PhysicalLocation sarifPhysical  `json:"physicalLocation"`
		LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
	}
	sarifPhysical struct {
		ArtifactLocation sarifArtifact `json:"artifactLocation"`
		Region           sarifRegion   `json:"region"`
	}
	sarifArtifact struct {
		URI string `json:"uri"`
	}
	sarifRegion struct {
		StartLine int `json:"startLine"`
	}
	sarifLogical struct {
		FullyQualifiedName string `json:"fullyQualifiedName"`
		Kind               string `json:"kind"`
	}
)

// docsURL is where every rule is documented, with an anchor per rule ID.
const docsURL = "https://github.com/berthsched/berth/blob/main/docs/lint.md"

func sarifLevel(s Severity) string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	}
	return "note"
}

// WriteSARIF renders findings as a SARIF 2.1.0 log for code-scanning UIs:
// every rule with its help, every finding at its file and line (the
// document's first line when the field's is unknown), with the object and
// field path as a logical location.
func WriteSARIF(w io.Writer, fs []Finding, toolVersion string) error {
	all := Rules()
	index := map[string]int{}
	driver := sarifDriver{Name: "berth lint", InformationURI: docsURL, Version: toolVersion}
	for i, r := range all {
		index[r.ID] = i
		driver.Rules = append(driver.Rules, sarifRule{
			ID: r.ID, Name: r.Name,
			ShortDescription:     sarifText{r.Summary},
			FullDescription:      sarifText{r.Summary + " " + r.Help},
			Help:                 sarifText{r.Help},
			HelpURI:              docsURL + "#" + strings.ToLower(r.ID),
			DefaultConfiguration: sarifRuleConf{Level: sarifLevel(r.Severity)},
		})
	}
	results := []sarifResult{}
	for _, f := range fs {
		uri := filepath.ToSlash(f.Source.File)
		if uri == "" || uri == "-" {
			uri = "stdin"
		}
		line := max(f.Source.Line, 1)
		loc := sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: uri}, Region: sarifRegion{StartLine: line}}}
		name := f.Object.String()
		if f.Field != "" {
			name += ":" + f.Field
		}
		loc.LogicalLocations = []sarifLogical{{FullyQualifiedName: name, Kind: "object"}}
		results = append(results, sarifResult{
			RuleID: f.Rule, RuleIndex: index[f.Rule], Level: sarifLevel(f.Severity),
			Message:   sarifText{f.Message + " Fix: " + f.Remedy},
			Locations: []sarifLocation{loc},
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs:    []sarifRun{{Tool: sarifTool{Driver: driver}, Results: results}},
	})
}
