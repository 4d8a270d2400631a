package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// TestStartProfiles checks both profiles are asked for the configured
// length and written where the report says, and that a failing endpoint
// is reported without failing the run.
func TestStartProfiles(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/profile", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, r.URL.Path+"?"+r.URL.RawQuery)
		w.Write([]byte("profile-bytes"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := &runner{o: Options{ProfileSeconds: 2}, w: &Workload{Name: "Basic"}, client: client, logDir: dir}
	procs := procGroup{{name: Berth, pprofURL: srv.URL + "/debug/pprof"}, {name: "no-pprof"}}
	var said []string
	say := func(f string, a ...any) { mu.Lock(); defer mu.Unlock(); said = append(said, f) }
	r.startProfiles(context.Background(), Berth, procs, say).Wait()

	for _, name := range []string{"basic-berth.cpu.pb.gz", "basic-berth-apiserver.cpu.pb.gz"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != "profile-bytes" {
			t.Errorf("%s: %q, %v", name, b, err)
		}
	}
	if len(asked) != 2 || !strings.Contains(asked[0], "seconds=2") || !strings.Contains(asked[1], "seconds=2") {
		t.Errorf("asked %v, want two 2-second profiles", asked)
	}

	// Off by default; a refusing endpoint is only reported.
	asked = nil
	r.o.ProfileSeconds = 0
	r.startProfiles(context.Background(), Berth, procs, say).Wait()
	if len(asked) != 0 {
		t.Errorf("profiled with ProfileSeconds 0: %v", asked)
	}
	r.o.ProfileSeconds = 1
	said = nil
	bad := procGroup{{name: Berth, pprofURL: srv.URL + "/missing"}}
	r.startProfiles(context.Background(), Berth, bad, say).Wait()
	if len(said) != 2 || !strings.Contains(strings.Join(said, ";"), "CPU profile: %v") {
		t.Errorf("reports %q, want the berth failure and the API server's profile", said)
	}
}
