package bench

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ExtenderVerb counts one verb's HTTP round trips from kube-scheduler to
// berth extender during a berth-extender measurement, read from the
// extender's /metrics before and after it: what the extender adds per
// pod over plugin mode.
type ExtenderVerb struct {
	// Verb is filter, prioritize, preempt or bind.
	Verb string `json:"verb"`
	// Requests answered during the measurement, Errors of them answered
	// with an error (berth_extender_requests_total).
	Requests int `json:"requests"`
	Errors   int `json:"errors"`
	// MeanMs is the mean time berth took to answer one
	// (berth_extender_request_duration_seconds): without the HTTP
	// transport and kube-scheduler's encoding; nil without requests.
	MeanMs *float64 `json:"meanMs"`
}

// verbCounters are the extender's cumulative per-verb counters.
type verbCounters map[string]*verbCounter

type verbCounter struct {
	requests, errors int
	seconds          float64
}

// extenderVerbs reads the extender's /metrics; nil when g has no extender
// or it does not answer.
func (g procGroup) extenderVerbs() verbCounters {
	for _, p := range g {
		if p.metricsURL == "" {
			continue
		}
		hc := &http.Client{Timeout: 5 * time.Second}
		resp, err := hc.Get(p.metricsURL)
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil
		}
		vc, err := parseExtenderMetrics(resp.Body)
		if err != nil {
			return nil
		}
		return vc
	}
	return nil
}

// parseExtenderMetrics takes berth_extender_requests_total and the sums of
// berth_extender_request_duration_seconds from a Prometheus text
// exposition.
func parseExtenderMetrics(r io.Reader) (verbCounters, error) {
	vc := verbCounters{}
	get := func(verb string) *verbCounter {
		if vc[verb] == nil {
			vc[verb] = &verbCounter{}
		}
		return vc[verb]
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, "{")
		if !ok || (name != "berth_extender_requests_total" && name != "berth_extender_request_duration_seconds_sum") {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metric line %q: %v", line, err)
		}
		verb := label(labels, "verb")
		if verb == "" {
			continue
		}
		c := get(verb)
		if name == "berth_extender_request_duration_seconds_sum" {
			c.seconds += v
			continue
		}
		c.requests += int(v)
		if label(labels, "result") == "error" {
			c.errors += int(v)
		}
	}
	return vc, sc.Err()
}

// label is the value of key in a Prometheus label set (`a="x",b="y"`).
func label(labels, key string) string {
	for _, kv := range strings.Split(labels, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && k == key {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// extenderVerbsBetween is the per-verb difference after - before, in the
// order kube-scheduler calls them; nil without both readings.
func extenderVerbsBetween(before, after verbCounters) []ExtenderVerb {
	if before == nil || after == nil {
		return nil
	}
	rank := map[string]int{"filter": 0, "prioritize": 1, "preempt": 2, "bind": 3}
	var verbs []string
	for v := range after {
		verbs = append(verbs, v)
	}
	sort.Slice(verbs, func(i, j int) bool {
		ri, iok := rank[verbs[i]]
		rj, jok := rank[verbs[j]]
		if iok != jok {
			return iok
		}
		if ri != rj {
			return ri < rj
		}
		return verbs[i] < verbs[j]
	})
	var out []ExtenderVerb
	for _, v := range verbs {
		a, b := after[v], before[v]
		if b == nil {
			b = &verbCounter{}
		}
		ev := ExtenderVerb{Verb: v, Requests: a.requests - b.requests, Errors: a.errors - b.errors}
		if ev.Requests > 0 {
			ms := round3((a.seconds - b.seconds) / float64(ev.Requests) * 1000)
			ev.MeanMs = &ms
		}
		out = append(out, ev)
	}
	return out
}

// extenderVerbsString is one line of the report: each verb's round trips
// (and mean answer time), and the round trips per bound pod.
func extenderVerbsString(verbs []ExtenderVerb, bound int) string {
	var parts []string
	total := 0
	for _, v := range verbs {
		s := fmt.Sprintf("%s %d (mean %s ms)", v.Verb, v.Requests, num(v.MeanMs, 2))
		if v.Errors > 0 {
			s += fmt.Sprintf(", %d errors", v.Errors)
		}
		parts = append(parts, s)
		total += v.Requests
	}
	per := "—"
	if bound > 0 {
		per = fmt.Sprintf("%.2f", float64(total)/float64(bound))
	}
	return fmt.Sprintf("%s; %s round trips per bound pod", strings.Join(parts, ", "), per)
}
