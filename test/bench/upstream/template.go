package upstream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"text/template"
)

// Render executes the text/template file path (scheduler_perf's template
// functions are available) with env: Index, Count and the op's template
// params.
func Render(path string, env map[string]any) ([]byte, error) {
	content, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tmpl, err := template.New(path).Funcs(Funcs()).Option("missingkey=default").Parse(string(content))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, env); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return buf.Bytes(), nil
}

// Env is the template environment of item index out of count.
func Env(params map[string]any, index, count int) map[string]any {
	env := make(map[string]any, len(params)+2)
	for k, v := range params {
		env[k] = v
	}
	env["Index"], env["Count"] = index, count
	return env
}

// Funcs are scheduler_perf's template functions (getTemplateFuncs).
func Funcs() template.FuncMap {
	return template.FuncMap{
		"AddFloat":      func(a, b any) float64 { return toFloat(a) + toFloat(b) },
		"AddInt":        func(a, b any) int { return toInt(a) + toInt(b) },
		"DivideFloat":   func(a, b any) float64 { return toFloat(a) / toFloat(b) },
		"DivideInt":     func(a, b any) int { return toInt(a) / max(toInt(b), 1) },
		"Int":           toInt,
		"JSON":          func(v any) (string, error) { b, err := json.Marshal(v); return string(b), err },
		"Mod":           func(a, b any) int { return toInt(a) % max(toInt(b), 1) },
		"MultiplyFloat": func(a, b any) float64 { return toFloat(a) * toFloat(b) },
		"MultiplyInt":   func(a, b any) int { return toInt(a) * toInt(b) },
		"SubtractFloat": func(a, b any) float64 { return toFloat(a) - toFloat(b) },
		"SubtractInt":   func(a, b any) int { return toInt(a) - toInt(b) },
	}
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case float32:
		return float64(x)
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case int32:
		return float64(x)
	case string:
		f, _ := strconv.ParseFloat(x, 64)
		return f
	}
	return 0
}

func toInt(v any) int { return int(math.Round(toFloat(v))) }
