package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// krewPlugin is the part of krew's Plugin manifest (v1alpha2) checked here.
type krewPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			SHA256 string `json:"sha256"`
			Bin    string `json:"bin"`
			Files  []struct {
				From string `json:"from"`
				To   string `json:"to"`
			} `json:"files"`
		} `json:"platforms"`
	} `json:"spec"`
}

// TestKrewManifestTemplate fills plugins/krew/berth.yaml the way
// hack/release.sh does (its {{VERSION}} and {{SHA256_<OS>_<ARCH>}}
// placeholders) and checks the manifest krew would read: one platform per
// release platform, each downloading that platform's archive of the
// release, with its sha256, installing kubectl-berth.
func TestKrewManifestTemplate(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "plugins", "krew", "berth.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	placeholders := regexp.MustCompile(`\{\{([A-Z0-9_]+)\}\}`).FindAllStringSubmatch(string(b), -1)
	var names []string
	for _, m := range placeholders {
		if !slices.Contains(names, m[1]) {
			names = append(names, m[1])
		}
	}
	slices.Sort(names)
	if want := []string{"SHA256_LINUX_AMD64", "SHA256_LINUX_ARM64", "VERSION"}; !slices.Equal(names, want) {
		t.Fatalf("placeholders %v, want %v (what hack/release.sh fills)", names, want)
	}
	const version = "v1.2.3"
	sums := map[string]string{"amd64": strings.Repeat("a", 64), "arm64": strings.Repeat("b", 64)}
	filled := strings.NewReplacer("{{VERSION}}", version,
		"{{SHA256_LINUX_AMD64}}", sums["amd64"], "{{SHA256_LINUX_ARM64}}", sums["arm64"]).Replace(string(b))

	var p krewPlugin
	if err := yaml.UnmarshalStrict([]byte(filled), &p, yaml.DisallowUnknownFields); err != nil {
		t.Fatalf("the filled manifest: %v", err)
	}
	if p.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || p.Kind != "Plugin" || p.Metadata.Name != "berth" ||
		p.Spec.Version != version || p.Spec.Homepage == "" || p.Spec.ShortDescription == "" || p.Spec.Description == "" {
		t.Errorf("manifest header %+v %+v", p.Metadata, p.Spec)
	}
	var arches []string
	for _, pl := range p.Spec.Platforms {
		os, arch := pl.Selector.MatchLabels["os"], pl.Selector.MatchLabels["arch"]
		arches = append(arches, arch)
		archive := "kubectl-berth_" + version + "_" + os + "_" + arch + ".tar.gz"
		if os != "linux" || pl.URI != "https://github.com/berthsched/berth/releases/download/"+version+"/"+archive {
			t.Errorf("%s/%s: uri %s, want the release's %s", os, arch, pl.URI, archive)
		}
		if pl.SHA256 != sums[arch] {
			t.Errorf("%s/%s: sha256 %q, want %q", os, arch, pl.SHA256, sums[arch])
		}
		if pl.Bin != "kubectl-berth" || len(pl.Files) == 0 || pl.Files[0].From != "kubectl-berth" {
			t.Errorf("%s/%s: bin %q files %+v, want kubectl-berth", os, arch, pl.Bin, pl.Files)
		}
	}
	if !slices.Equal(arches, []string{"amd64", "arm64"}) {
		t.Errorf("platforms %v, want amd64 and arm64", arches)
	}
}
