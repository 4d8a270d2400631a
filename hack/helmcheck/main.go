package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	"helm.sh/helm/v4/pkg/strvals"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "helmcheck:", err)
		os.Exit(1)
	}
}

// setFlags collects repeated --set values, parsed like helm's --set.
type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, ",") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

func (s setFlags) values() (map[string]any, error) {
	vals := map[string]any{}
	for _, v := range s {
		if err := strvals.ParseInto(v, vals); err != nil {
			return nil, fmt.Errorf("--set %s: %w", v, err)
		}
	}
	return vals, nil
}

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: helmcheck lint|template …")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	namespace := fs.String("namespace", "default", "release namespace")
	strict := fs.Bool("strict", false, "fail on lint warnings")
	var sets setFlags
	fs.Var(&sets, "set", "a value, as helm's --set (repeatable)")
	// Positional arguments may come before flags, as with helm.
	var pos []string
	rest := args[1:]
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		rest = fs.Args()
		if len(rest) > 0 {
			pos = append(pos, rest[0])
			rest = rest[1:]
		}
	}
	vals, err := sets.values()
	if err != nil {
		return err
	}
	switch args[0] {
	case "lint":
		if len(pos) != 1 {
			return errors.New("usage: helmcheck lint [--strict] CHART")
		}
		return lintChart(out, pos[0], vals, *namespace, *strict)
	case "template":
		if len(pos) != 2 {
			return errors.New("usage: helmcheck template NAME CHART")
		}
		return render(out, pos[0], pos[1], vals, *namespace)
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// lintChart runs every rule of helm lint and fails on an error, or with
// strict on a warning, printing all messages either way.
func lintChart(out io.Writer, dir string, vals map[string]any, namespace string, strict bool) error {
	if _, err := os.Stat(path.Join(dir, "Chart.yaml")); err != nil {
		return fmt.Errorf("%s is not a chart: %w", dir, err)
	}
	linter := lint.RunAll(dir, vals, namespace)
	worst := support.ErrorSev
	if strict {
		worst = support.WarningSev
	}
	var failed []string
	for _, m := range linter.Messages {
		fmt.Fprintln(out, m.Error())
		if m.Severity >= worst {
			failed = append(failed, m.Error())
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s: %d chart(s) linted, %d failed: %s", dir, 1, 1, strings.Join(failed, "; "))
	}
	fmt.Fprintf(out, "1 chart(s) linted, 0 chart(s) failed\n")
	return nil
}

// render prints the chart's manifests for a first install of release
// name in namespace: every template but partials and NOTES.txt, in file
// name order, separated by "---" and headed by their source as helm
// template does.
func render(out io.Writer, name, dir string, vals map[string]any, namespace string) error {
	ch, err := loader.LoadDir(dir)
	if err != nil {
		return err
	}
	if err := ch.Validate(); err != nil {
		return err
	}
	rv, err := util.ToRenderValues(ch, vals, common.ReleaseOptions{
		Name: name, Namespace: namespace, Revision: 1, IsInstall: true,
	}, common.DefaultCapabilities)
	if err != nil {
		return err
	}
	files, err := engine.Render(ch, rv)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for f := range files {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		base := path.Base(f)
		if strings.HasPrefix(base, "_") || base == "NOTES.txt" || strings.TrimSpace(files[f]) == "" {
			continue
		}
		fmt.Fprintf(out, "---\n# Source: %s\n%s\n", f, strings.TrimSpace(files[f]))
	}
	return nil
}
