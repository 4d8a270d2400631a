package app

import "testing"

func TestParsePodArg(t *testing.T) {
	for _, tc := range []struct {
		arg, want string
		err       bool
	}{
		{arg: "web-0", want: "web-0"},
		{arg: "pod/web-0", want: "web-0"},
		{arg: "pods/web-0", want: "web-0"},
		{arg: "po/web-0", want: "web-0"},
		{arg: "pod/", err: true},
		{arg: "deployment/web", err: true},
	} {
		got, err := parsePodArg(tc.arg)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parsePodArg(%q) = %q, %v; want %q, error %v", tc.arg, got, err, tc.want, tc.err)
		}
	}
}

func TestCommandNameAsKubectlPlugin(t *testing.T) {
	for argv0, want := range map[string]string{
		"/usr/local/bin/berth":         "berth",
		"/home/u/bin/kubectl-berth":    "kubectl berth",
		"kubectl-berth":                "kubectl berth",
		"/usr/local/bin/kubectl-other": "berth",
	} {
		if got := commandName(argv0); got != want {
			t.Errorf("commandName(%q) = %q, want %q", argv0, got, want)
		}
	}
}
