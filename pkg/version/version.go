package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at build time: -ldflags "-X github.com/berthsched/berth/pkg/version.Version=v0.1.0 ...".
var (
	// Version is berth's release version.
	Version = "v0.0.0-dev"
	// GitCommit is the commit the binary was built from.
	GitCommit = "unknown"
)

// Info is the version report.
type Info struct {
	Version    string `json:"version"`
	GitCommit  string `json:"gitCommit"`
	Kubernetes string `json:"kubernetesLibraries"`
	Go         string `json:"go"`
}

// Get returns the report. When GitCommit was not stamped it falls back to
// the VCS revision recorded by the Go toolchain, if any.
func Get() Info {
	info := Info{Version: Version, GitCommit: GitCommit, Kubernetes: "unknown", Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "k8s.io/client-go" {
				info.Kubernetes = d.Version
			}
		}
		if info.GitCommit == "unknown" {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					info.GitCommit = s.Value
				}
			}
		}
	}
	return info
}

// String is the one-line form printed by `berth version`.
func (i Info) String() string {
	return fmt.Sprintf("berth %s (commit %s, kubernetes libraries %s, %s)", i.Version, i.GitCommit, i.Kubernetes, i.Go)
}
