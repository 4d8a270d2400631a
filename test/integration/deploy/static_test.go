package deploy

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStaticBinary builds berth as the Dockerfile does (CGO_ENABLED=0,
// -trimpath, stripped, version stamped) and checks that the result runs
// on distroless/static or scratch: no program interpreter (PT_INTERP),
// no shared libraries (DT_NEEDED).
func TestStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a CGO_ENABLED=0 -trimpath build recompiles everything the first time")
	}
	out := filepath.Join(t.TempDir(), "berth")
	const version = "v0.0.0-statictest"
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -X github.com/berthsched/berth/pkg/version.Version="+version,
		"-o", out, "./cmd/berth")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	start := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	t.Logf("CGO_ENABLED=0 build took %s", time.Since(start).Round(time.Second))

	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has a PT_INTERP program header: it needs a dynamic loader")
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
	if f.Section(".symtab") != nil {
		t.Error("the binary has a symbol table; -s should strip it")
	}
	b, err := exec.Command(out, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(b), version) {
		t.Errorf("%s version = %q, %v; want the stamped %s", out, b, err, version)
	}
}
