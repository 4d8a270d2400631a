package monitoringtest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Paths of the artefacts, relative to the repository root. The chart
// carries byte-identical copies (ChartDashboard, ChartRules) because Helm
// reads files only from inside the chart directory.
const (
	Dashboard      = "deploy/monitoring/berth-dashboard.json"
	Rules          = "deploy/monitoring/berth-rules.yaml"
	ChartDashboard = "charts/berth/monitoring/berth-dashboard.json"
	ChartRules     = "charts/berth/monitoring/berth-rules.yaml"
)

// Query is one PromQL expression and where it comes from, for messages.
type Query struct {
	// Source names the panel ("panel 3 \"Binds\" A") or the alert.
	Source string
	// Expr is the expression as written, Grafana variables included.
	Expr string
	// Legend is the target's legendFormat ({{label}} placeholders), for
	// dashboard queries.
	Legend string
}

// dashboard is the part of Grafana's dashboard model the tests read.
type dashboard struct {
	Title  string  `json:"title"`
	UID    string  `json:"uid"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID      int      `json:"id"`
	Type    string   `json:"type"`
	Title   string   `json:"title"`
	Panels  []panel  `json:"panels"`
	Targets []target `json:"targets"`
}

type target struct {
	RefID  string `json:"refId"`
	Expr   string `json:"expr"`
	Legend string `json:"legendFormat"`
}

// DashboardQueries returns every panel target's expression of the
// dashboard JSON at path (rows' nested panels included). It fails on a
// panel other than a row without targets, a target without an
// expression, or a repeated panel id, which Grafana would mishandle.
func DashboardQueries(path string) ([]Query, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if d.Title == "" || d.UID == "" {
		return nil, fmt.Errorf("%s: the dashboard needs a title and a uid", path)
	}
	var qs []Query
	ids := map[int]bool{}
	var walk func([]panel) error
	walk = func(ps []panel) error {
		for _, p := range ps {
			if ids[p.ID] {
				return fmt.Errorf("%s: panel id %d is used twice", path, p.ID)
			}
			ids[p.ID] = true
			if p.Type == "row" {
				if err := walk(p.Panels); err != nil {
					return err
				}
				continue
			}
			if len(p.Targets) == 0 {
				return fmt.Errorf("%s: panel %d %q has no query", path, p.ID, p.Title)
			}
			for _, t := range p.Targets {
				src := fmt.Sprintf("panel %d %q %s", p.ID, p.Title, t.RefID)
				if strings.TrimSpace(t.Expr) == "" {
					return fmt.Errorf("%s: %s has no expression", path, src)
				}
				qs = append(qs, Query{Source: src, Expr: t.Expr, Legend: t.Legend})
			}
		}
		return nil
	}
	if err := walk(d.Panels); err != nil {
		return nil, err
	}
	return qs, nil
}

// RuleGroups is a Prometheus rules file, and the spec of a
// monitoring.coreos.com/v1 PrometheusRule.
type RuleGroups struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []Rule `json:"rules"`
	} `json:"groups"`
}

// Rule is one alerting or recording rule.
type Rule struct {
	Alert       string            `json:"alert"`
	Record      string            `json:"record"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// LoadRules reads a Prometheus rules file.
func LoadRules(path string) (*RuleGroups, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var g RuleGroups
	if err := yaml.UnmarshalStrict(b, &g); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &g, nil
}

// Alerts returns the alerting rules of every group.
func (g *RuleGroups) Alerts() []Rule {
	var out []Rule
	for _, gr := range g.Groups {
		for _, r := range gr.Rules {
			if r.Alert != "" {
				out = append(out, r)
			}
		}
	}
	return out
}

// RuleQueries returns the expressions of the rules file at path.
func RuleQueries(path string) ([]Query, error) {
	g, err := LoadRules(path)
	if err != nil {
		return nil, err
	}
	var qs []Query
	for _, gr := range g.Groups {
		for _, r := range gr.Rules {
			qs = append(qs, Query{Source: "rule " + r.Alert + r.Record, Expr: r.Expr})
		}
	}
	return qs, nil
}

// AllQueries returns the dashboard's and the rules' queries, read from
// the repository at root.
func AllQueries(root string) ([]Query, error) {
	d, err := DashboardQueries(filepath.Join(root, Dashboard))
	if err != nil {
		return nil, err
	}
	r, err := RuleQueries(filepath.Join(root, Rules))
	if err != nil {
		return nil, err
	}
	return append(d, r...), nil
}

// grafanaVars are the dashboard's variables with values a plain
// Prometheus accepts: every job, and a fixed rate window.
var grafanaVars = strings.NewReplacer("$__rate_interval", "1m", "${job}", ".+", "$job", ".+")

// Expand replaces the dashboard's Grafana variables so that a plain
// Prometheus can evaluate the expression.
func Expand(expr string) string { return grafanaVars.Replace(expr) }

var (
	// stringLit is a PromQL string: label values never name metrics.
	stringLit = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	// matchers and ranges hold label names and durations, not metrics.
	matchers = regexp.MustCompile(`\{[^{}]*\}`)
	ranges   = regexp.MustCompile(`\[[^\[\]]*\]`)
	// labelLists follow grouping and vector-matching keywords.
	labelLists = regexp.MustCompile(`(?i)\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	// durations (offset 5m, 1h30m) go before numbers.
	durations = regexp.MustCompile(`\b(?:\d+(?:ms|[smhdwy]))+\b`)
	// numbers go before identifiers so that 1e-9 is not read as "e".
	numbers = regexp.MustCompile(`(?i)\b0x[0-9a-f]+\b|(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?`)
	// ident is a metric name or a function, keyword or aggregation,
	// optionally followed by the opening parenthesis of a call.
	ident = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
)

// keywords are PromQL words that are not metric names when not called.
var keywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"inf": true, "nan": true,
}

// MetricNames returns the sorted, distinct metric names that expr selects.
// A name used only as a function or aggregation (rate(, sum by (…) (,
// histogram_quantile() or a keyword is not one; nor is anything inside
// label matchers, strings, ranges or grouping lists. It fails on an
// expression that selects no metric at all, which a dashboard or alert
// never means.
func MetricNames(expr string) ([]string, error) {
	s := stringLit.ReplaceAllString(expr, `""`)
	for prev := ""; prev != s; {
		prev = s
		s = matchers.ReplaceAllString(s, " ")
	}
	s = ranges.ReplaceAllString(s, " ")
	s = labelLists.ReplaceAllString(s, " ")
	s = durations.ReplaceAllString(s, " ")
	s = numbers.ReplaceAllString(s, " ")
	seen := map[string]bool{}
	for _, m := range ident.FindAllString(s, -1) {
		if strings.HasSuffix(m, "(") || keywords[strings.ToLower(m)] {
			continue
		}
		seen[m] = true
	}
	// A Grafana variable ($job) is not a name: drop what followed a $.
	for _, v := range regexp.MustCompile(`\$\{?([a-zA-Z_][a-zA-Z0-9_]*)`).FindAllStringSubmatch(s, -1) {
		delete(seen, v[1])
	}
	if len(seen) == 0 {
		return nil, fmt.Errorf("%q selects no metric", expr)
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// SampleNames returns the names of the samples in a Prometheus text
// exposition (a /metrics scrape): a histogram's _bucket, _sum and _count
// names, never its family name, since those are what queries select.
func SampleNames(exposition string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(exposition, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			out[line[:i]] = true
		}
	}
	return out
}
