package upstream

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Module is the module that ships scheduler_perf.
const Module = "k8s.io/kubernetes"

// PerfSubdir is scheduler_perf's directory inside Module.
const PerfSubdir = "test/integration/scheduler_perf"

// KubeModuleDir returns berth's kube module directory (<repo>/kube), found
// by walking up from the working directory to the repository root.
func KubeModuleDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "kube", "go.mod")); err == nil {
			return filepath.Join(dir, "kube"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no kube/go.mod above the working directory: run from berth's repository or pass --upstream-dir")
		}
		dir = parent
	}
}

// Locate returns scheduler_perf's directory in the module cache: the
// k8s.io/kubernetes version the kube module requires, as `go list -m`
// reports it there. If the module is required but not yet downloaded it
// is downloaded (go mod download, the ordinary module client).
func Locate() (string, error) {
	kube, err := KubeModuleDir()
	if err != nil {
		return "", err
	}
	dir, err := goListDir(kube)
	if err == nil && dir == "" {
		if out, derr := goCmd(kube, "mod", "download", Module); derr != nil {
			return "", fmt.Errorf("go mod download %s in %s: %v: %s", Module, kube, derr, out)
		}
		dir, err = goListDir(kube)
	}
	if err != nil {
		return "", err
	}
	if dir == "" {
		return "", fmt.Errorf("go list -m %s in %s printed no directory", Module, kube)
	}
	perf := filepath.Join(dir, PerfSubdir)
	if _, err := os.Stat(perf); err != nil {
		return "", fmt.Errorf("%s: %v", perf, err)
	}
	return perf, nil
}

func goListDir(kube string) (string, error) {
	out, err := goCmd(kube, "list", "-m", "-f", "{{.Dir}}", Module)
	if err != nil {
		return "", fmt.Errorf("go list -m %s in %s: %v: %s", Module, kube, err, out)
	}
	return strings.TrimSpace(out), nil
}

func goCmd(dir string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}
