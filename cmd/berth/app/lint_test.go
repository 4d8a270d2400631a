package app

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLintExitCodes runs `berth lint` as main does and checks the exit
// code contract of docs/lint.md.
func TestLintExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {app: p}}\nspec:\n  containers: [{name: c, image: x}]\n"
	clean := write("clean.yaml", pod)
	warning := write("warning.yaml", pod+"  topologySpreadConstraints: [{maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway}]\n")
	bad := write("error.yaml", pod+"  tolerations: [{key: k, effect: Nope}]\n")
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{clean}, 0, "0 errors, 0 warnings, 0 info"},
		{[]string{warning}, 0, "BL022"},
		{[]string{"--fail-on", "warning", warning}, ExitFindings, "BL022"},
		{[]string{bad}, ExitErrors, "BL010"},
		{[]string{"--fail-on", "none", bad}, 0, "BL010"},
		{[]string{"-o", "json", dir}, ExitErrors, `"kind": "LintReport"`},
		{[]string{"-o", "sarif", bad}, ExitErrors, `"version": "2.1.0"`},
		{[]string{filepath.Join(dir, "missing.yaml")}, ExitUsage, ""},
		{[]string{"-o", "xml", clean}, ExitUsage, ""},
		{[]string{"--no-such-flag", clean}, ExitUsage, ""},
		{nil, ExitUsage, ""},
	} {
		cmd := NewRootCommand()
		var out, errOut bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&errOut)
		cmd.SetArgs(append([]string{"lint"}, tc.args...))
		code := 0
		if err := cmd.Execute(); err != nil {
			code = ExitCode(err)
		}
		if code != tc.code || !strings.Contains(out.String(), tc.out) {
			t.Errorf("berth lint %v: exit %d, want %d; output lacks %q?\n%s%s", tc.args, code, tc.code, tc.out, out.String(), errOut.String())
		}
	}
}

// TestLintStdin reads manifests from "-".
func TestLintStdin(t *testing.T) {
	cmd := NewRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetIn(strings.NewReader("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: x}]\n  tolerations: [{key: k, operator: Exists, value: v}]\n"))
	cmd.SetArgs([]string{"lint", "-"})
	if err := cmd.Execute(); ExitCode(err) != ExitErrors || !strings.Contains(out.String(), "-\n  Pod/p (document 0)") {
		t.Errorf("err %v, output:\n%s", err, out.String())
	}
}
