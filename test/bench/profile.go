package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// startProfiles takes, when Options.ProfileSeconds is set, CPU profiles
// of the scheduler under test (berth: its /debug/pprof) and of the API
// server (its /debug/pprof through the admin client) for that long,
// starting now, into logs/<workload>-<sched>[-apiserver].cpu.pb.gz. They
// show where a run's time goes on both sides of the wire (issue 21: what
// keeps berth under the bind ceiling). Wait on the result before the run
// ends. A profile that cannot be taken is reported, not fatal.
func (r *runner) startProfiles(ctx context.Context, sched string, procs procGroup, say func(string, ...any)) *sync.WaitGroup {
	var wg sync.WaitGroup
	secs := r.o.ProfileSeconds
	if secs <= 0 {
		return &wg
	}
	base := filepath.Join(r.logDir, strings.ToLower(r.w.Name)+"-"+sched)
	take := func(what, path string, get func(context.Context) ([]byte, error)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, time.Duration(secs+30)*time.Second)
			defer cancel()
			data, err := get(pctx)
			if err == nil {
				err = os.WriteFile(path, data, 0o644)
			}
			if err != nil {
				say("%s CPU profile: %v", what, err)
				return
			}
			say("%s CPU profile (%d s) in %s", what, secs, path)
		}()
	}
	for _, p := range procs {
		if p.pprofURL == "" {
			continue
		}
		url := fmt.Sprintf("%s/profile?seconds=%d", p.pprofURL, secs)
		take(p.name, base+".cpu.pb.gz", func(ctx context.Context) ([]byte, error) { return httpGet(ctx, http.DefaultClient, url) })
	}
	take("kube-apiserver", base+"-apiserver.cpu.pb.gz", func(ctx context.Context) ([]byte, error) {
		return r.client.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").
			Param("seconds", strconv.Itoa(secs)).DoRaw(ctx)
	})
	return &wg
}

// httpGet is the body of a 200 answer to a GET of url through hc.
func httpGet(ctx context.Context, hc *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %.200s", url, resp.Status, body)
	}
	return body, nil
}
