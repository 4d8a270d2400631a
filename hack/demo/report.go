package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/berthsched/berth/internal/nodegen"
)

func listNodes(ctx context.Context, client kubernetes.Interface) ([]v1.Node, error) {
	l, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %v", err)
	}
	return l.Items, nil
}

// printSummary prints, per workload set, where its pods landed; per zone,
// the CPU (and GPUs) the demo pods request against what the nodes offer;
// and why the pending pods are pending.
func printSummary(sets []*workload, pods *v1.PodList, nodes []v1.Node) {
	nodeByName := make(map[string]*v1.Node, len(nodes))
	for i := range nodes {
		nodeByName[nodes[i].Name] = &nodes[i]
	}
	podByName := make(map[string]*v1.Pod, len(pods.Items))
	for i := range pods.Items {
		podByName[pods.Items[i].Name] = &pods.Items[i]
	}

	fmt.Printf("\n==> Placement (%d nodes)\n", len(nodes))
	for _, w := range sets {
		bound := 0
		zones, types, used := map[string]int{}, map[string]int{}, map[string]int{}
		for _, want := range w.pods {
			p := podByName[want.Name]
			if p == nil || p.Spec.NodeName == "" {
				continue
			}
			bound++
			used[p.Spec.NodeName]++
			if n := nodeByName[p.Spec.NodeName]; n != nil {
				zones[n.Labels[v1.LabelTopologyZone]]++
				types[n.Labels[v1.LabelInstanceTypeStable]]++
			}
		}
		fmt.Printf("\n  %s — %s\n", w.name, w.desc)
		verdict := ""
		switch {
		case w.unschedulable && bound == 0:
			verdict = "  (as intended)"
		case w.unschedulable:
			verdict = "  (UNEXPECTED: these should not fit anywhere)"
		case bound < len(w.pods):
			verdict = "  (some still pending, see below)"
		}
		fmt.Printf("    bound   %d/%d%s\n", bound, len(w.pods), verdict)
		if bound == 0 {
			continue
		}
		maxPerNode := slices.Max(slices.Collect(maps.Values(used)))
		fmt.Printf("    nodes   %d used, at most %d pod(s) on one node%s\n", len(used), maxPerNode, taintedNote(used, nodeByName))
		fmt.Printf("    zones   %s\n", counts(zones))
		fmt.Printf("    types   %s\n", counts(types))
	}

	printZones(pods, nodes, nodeByName)

	var pending []*v1.Pod
	for i := range pods.Items {
		if pods.Items[i].Spec.NodeName == "" {
			pending = append(pending, &pods.Items[i])
		}
	}
	fmt.Printf("\n==> Pending pods (%d)\n", len(pending))
	if len(pending) == 0 {
		fmt.Println("    none")
	}
	// Pods pending for the same reason are listed together.
	slices.SortFunc(pending, func(a, b *v1.Pod) int { return cmp.Compare(a.Name, b.Name) })
	var reasons []string
	byReason := map[string][]string{}
	for _, p := range pending {
		reason := "not scheduled yet (no PodScheduled condition)"
		if c := scheduledCondition(p); c != nil {
			reason = fmt.Sprintf("%s: %s", c.Reason, c.Message)
		}
		if byReason[reason] == nil {
			reasons = append(reasons, reason)
		}
		byReason[reason] = append(byReason[reason], p.Name)
	}
	for _, r := range reasons {
		names := byReason[r]
		if len(names) > 6 {
			names = append(names[:5:5], fmt.Sprintf("... (%d pods)", len(names)))
		}
		fmt.Printf("    %s\n      %s\n", strings.Join(names, ", "), r)
	}
}

// taintedNote mentions how many of the used nodes carry the infra taint.
func taintedNote(used map[string]int, nodes map[string]*v1.Node) string {
	n := 0
	for name := range used {
		if node := nodes[name]; node != nil && node.Labels[infraKey] == infraValue {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d of them tainted %s=%s)", n, infraKey, infraValue)
}

// counts formats a histogram as "a 3, b 2, c 1" (largest first).
func counts(m map[string]int) string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if c := cmp.Compare(m[b], m[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		if k == "" {
			k = "(none)"
		}
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// printZones prints requested vs allocatable CPU and GPUs per zone.
func printZones(pods *v1.PodList, nodes []v1.Node, nodeByName map[string]*v1.Node) {
	type zone struct {
		nodes               int
		allocCPU, reqCPU    int64 // millicores
		allocGPU, reqGPU    int64
		allocMem, reqMem    int64 // bytes
		podsBound, gpuNodes int
	}
	zones := map[string]*zone{}
	get := func(name string) *zone {
		z := zones[name]
		if z == nil {
			z = &zone{}
			zones[name] = z
		}
		return z
	}
	for i := range nodes {
		n := &nodes[i]
		z := get(n.Labels[v1.LabelTopologyZone])
		z.nodes++
		z.allocCPU += n.Status.Allocatable.Cpu().MilliValue()
		z.allocMem += n.Status.Allocatable.Memory().Value()
		if g, ok := n.Status.Allocatable[nodegen.ResourceGPU]; ok {
			z.allocGPU += g.Value()
			z.gpuNodes++
		}
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		n := nodeByName[p.Spec.NodeName]
		if n == nil {
			continue
		}
		z := get(n.Labels[v1.LabelTopologyZone])
		z.podsBound++
		for _, c := range p.Spec.Containers {
			z.reqCPU += c.Resources.Requests.Cpu().MilliValue()
			z.reqMem += c.Resources.Requests.Memory().Value()
			if g, ok := c.Resources.Requests[nodegen.ResourceGPU]; ok {
				z.reqGPU += g.Value()
			}
		}
	}

	fmt.Printf("\n==> Requests of the demo pods vs allocatable, per zone\n")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "    ZONE\tNODES\tPODS\tCPU REQUESTED / ALLOCATABLE\tMEMORY (GiB)\tGPUS\t")
	var total zone
	row := func(name string, z *zone) {
		fmt.Fprintf(tw, "    %s\t%d\t%d\t%.1f / %.1f cores (%s)\t%.0f / %.0f (%s)\t%d / %d\t\n", name, z.nodes, z.podsBound,
			float64(z.reqCPU)/1000, float64(z.allocCPU)/1000, pct(z.reqCPU, z.allocCPU),
			gib(z.reqMem), gib(z.allocMem), pct(z.reqMem, z.allocMem),
			z.reqGPU, z.allocGPU)
	}
	for _, name := range slices.Sorted(maps.Keys(zones)) {
		z := zones[name]
		row(name, z)
		total.nodes += z.nodes
		total.podsBound += z.podsBound
		total.allocCPU += z.allocCPU
		total.reqCPU += z.reqCPU
		total.allocMem += z.allocMem
		total.reqMem += z.reqMem
		total.allocGPU += z.allocGPU
		total.reqGPU += z.reqGPU
	}
	row("total", &total)
	tw.Flush()
}

func pct(a, b int64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b))
}

func gib(b int64) float64 { return float64(b) / (1 << 30) }

// printMetrics fetches berth's /metrics and prints the scheduling attempts
// by result and the attempt latency (mean and estimated quantiles).
func printMetrics(ctx context.Context, addr string) {
	url := "http://" + addr + "/metrics"
	fmt.Printf("\n==> berth's metrics (%s)\n", url)
	samples, err := scrape(ctx, url)
	if err != nil {
		fmt.Printf("    could not read them: %v\n", err)
		return
	}

	attempts := map[string]float64{}
	for _, s := range samples {
		if s.name == "berth_schedule_attempts_total" {
			attempts[s.labels["result"]] += s.value
		}
	}
	var parts []string
	for _, r := range slices.Sorted(maps.Keys(attempts)) {
		parts = append(parts, fmt.Sprintf("%s %.0f", r, attempts[r]))
	}
	if len(parts) == 0 {
		parts = []string{"(none)"}
	}
	fmt.Printf("    berth_schedule_attempts_total               %s\n", strings.Join(parts, ", "))

	const h = "berth_scheduling_attempt_duration_seconds"
	var count, sum float64
	buckets := map[float64]float64{} // upper bound -> cumulative count, summed over results
	for _, s := range samples {
		switch s.name {
		case h + "_count":
			count += s.value
		case h + "_sum":
			sum += s.value
		case h + "_bucket":
			le, err := strconv.ParseFloat(s.labels["le"], 64)
			if err == nil {
				buckets[le] += s.value
			}
		}
	}
	if count == 0 {
		fmt.Printf("    %s  no observations\n", h)
		return
	}
	fmt.Printf("    %s   %.0f attempts, mean %s, p50 ≈ %s, p99 ≈ %s\n", h, count,
		dur(sum/count), dur(quantile(0.5, buckets)), dur(quantile(0.99, buckets)))
}

type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var labelRE = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)

// scrape reads a Prometheus text exposition, keeping the berth_ samples.
func scrape(ctx context.Context, url string) ([]sample, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) ([]sample, error) {
	var out []sample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "berth_") {
			continue
		}
		s := sample{labels: map[string]string{}}
		rest := line
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				continue
			}
			s.name = line[:i]
			for _, m := range labelRE.FindAllStringSubmatch(line[i+1:j], -1) {
				s.labels[m[1]] = m[2]
			}
			rest = line[j+1:]
		} else {
			f := strings.Fields(line)
			s.name, rest = f[0], strings.TrimPrefix(line, f[0])
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		s.value = v
		out = append(out, s)
	}
	return out, sc.Err()
}

// quantile estimates the q-quantile from cumulative histogram buckets by
// linear interpolation inside the bucket, as PromQL's histogram_quantile.
func quantile(q float64, buckets map[float64]float64) float64 {
	bounds := slices.Sorted(maps.Keys(buckets))
	if len(bounds) == 0 {
		return math.NaN()
	}
	total := buckets[bounds[len(bounds)-1]] // +Inf bucket
	rank := q * total
	prevBound, prevCount := 0.0, 0.0
	for _, b := range bounds {
		c := buckets[b]
		if c >= rank {
			if math.IsInf(b, 1) {
				return prevBound // beyond the last finite bucket
			}
			if c == prevCount {
				return b
			}
			return prevBound + (b-prevBound)*(rank-prevCount)/(c-prevCount)
		}
		prevBound, prevCount = b, c
	}
	return prevBound
}

func dur(seconds float64) string {
	if math.IsNaN(seconds) {
		return "n/a"
	}
	d := time.Duration(seconds * float64(time.Second))
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Millisecond).String()
	}
}
