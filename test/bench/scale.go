package bench

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
)

// ScaleOptions configure RunScale, the large-cluster run of issue 21: one
// control plane filled with Nodes nodes and Pods pods bound directly
// (no scheduler), then each scheduler started on it in turn.
type ScaleOptions struct {
	// Nodes is the number of nodes (nodegen's basic profile, 3 zones).
	Nodes int
	// Pods is the number of existing pods, created already bound
	// (spec.nodeName set, round-robin over the nodes).
	Pods int
	// Measured is the number of pending pods each scheduler places.
	Measured int
	// Schedulers run in this order; kube-scheduler and berth only.
	Schedulers []string
	// OutDir receives results.json, results.md and logs/.
	OutDir string
	// BinDir holds berth, kube-scheduler and the devcluster binaries;
	// empty: testenv.BinDir().
	BinDir string
	// QPS and Burst of every client (the schedulers' and the filler's).
	QPS   float32
	Burst int32
	// FillWorkers create the nodes and existing pods concurrently.
	FillWorkers int
	// CreateWorkers create the measured pods concurrently.
	CreateWorkers int
	// SyncTimeout bounds the wait for a scheduler's first bind.
	SyncTimeout time.Duration
	// StallTimeout ends a measurement when every measured pod is created
	// and none has been bound for this long.
	StallTimeout time.Duration
	// RunTimeout bounds one scheduler's measurement.
	RunTimeout time.Duration
	// Progress receives progress lines (stderr in the CLI).
	Progress io.Writer
}

func (o *ScaleOptions) defaults() {
	if o.Nodes == 0 {
		o.Nodes = 15000
	}
	if o.Pods == 0 {
		o.Pods = 150000
	}
	if o.Measured == 0 {
		o.Measured = 2000
	}
	if len(o.Schedulers) == 0 {
		o.Schedulers = []string{KubeScheduler, Berth}
	}
	if o.OutDir == "" {
		o.OutDir = "scale-results"
	}
	if o.QPS == 0 {
		o.QPS = 5000
	}
	if o.Burst == 0 {
		o.Burst = 10000
	}
	if o.FillWorkers == 0 {
		o.FillWorkers = 64
	}
	if o.CreateWorkers == 0 {
		o.CreateWorkers = 32
	}
	if o.SyncTimeout == 0 {
		o.SyncTimeout = 15 * time.Minute
	}
	if o.StallTimeout == 0 {
		o.StallTimeout = 60 * time.Second
	}
	if o.RunTimeout == 0 {
		o.RunTimeout = 15 * time.Minute
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// ScaleReport is what RunScale measured; it is results.json.
type ScaleReport struct {
	StartedAt string  `json:"startedAt"`
	Host      Host    `json:"host"`
	Nodes     int     `json:"nodes"`
	Pods      int     `json:"pods"`
	Measured  int     `json:"measured"`
	QPS       float32 `json:"qps"`
	Burst     int32   `json:"burst"`
	// NodeCreateSeconds and PodFillSeconds are how long creating the
	// nodes and the existing pods took; FillSeconds is both.
	NodeCreateSeconds float64 `json:"nodeCreateSeconds"`
	PodFillSeconds    float64 `json:"podFillSeconds"`
	FillSeconds       float64 `json:"fillSeconds"`
	// Results has one entry per scheduler, in run order.
	Results []*ScaleResult `json:"results"`
	// ElapsedSeconds is the whole run, control plane start to last stop.
	ElapsedSeconds float64 `json:"elapsedSeconds"`
	// Error is set when the run stopped before every scheduler ran.
	Error string `json:"error,omitempty"`
}

// ScaleResult is one scheduler's figures on the filled cluster.
type ScaleResult struct {
	Scheduler string `json:"scheduler"`
	// SyncSeconds runs from the process start to the bind of a probe pod
	// created just before it: start-up, the informers' initial list of
	// every node and pod, and one scheduling cycle.
	SyncSeconds float64 `json:"syncSeconds"`
	// SyncCPUSeconds is the process's CPU time up to that bind.
	SyncCPUSeconds float64 `json:"syncCPUSeconds"`
	// RSSAfterSyncMiB is VmRSS right after the probe bind.
	RSSAfterSyncMiB float64 `json:"rssAfterSyncMiB"`
	// Created and Bound count measured pods; StopReason is all-bound,
	// stalled or timeout.
	Created    int    `json:"created"`
	Bound      int    `json:"bound"`
	StopReason string `json:"stopReason"`
	// DurationSeconds runs from the first create to the last bind;
	// ThroughputAvg is Bound / DurationSeconds (pods/s).
	DurationSeconds float64 `json:"durationSeconds"`
	ThroughputAvg   float64 `json:"throughputAvg"`
	// Create→bind latency of the measured pods, from the harness's create
	// call to the bind on its watch (ms); nil when none bound.
	LatencyP50Ms *float64 `json:"latencyP50Ms"`
	LatencyP99Ms *float64 `json:"latencyP99Ms"`
	// CycleP50Ms and CycleP99Ms are quantiles of the scheduler's own
	// scheduling attempt duration histogram over the measured pods
	// (scheduler_/berth_scheduling_attempt_duration_seconds, result
	// scheduled, interpolated within buckets); nil when /metrics could
	// not be read. CycleCount is the histogram's count over that window.
	CycleP50Ms *float64 `json:"cycleP50Ms"`
	CycleP99Ms *float64 `json:"cycleP99Ms"`
	CycleCount int      `json:"cycleCount"`
	// CPUSeconds is the process's utime+stime during the measurement;
	// CPUMsPerPod is CPUSeconds per bound measured pod, in ms.
	CPUSeconds  float64  `json:"cpuSeconds"`
	CPUMsPerPod *float64 `json:"cpuMsPerPod"`
	// PeakRSSMiB is VmHWM at the end; MaxSampledRSSMiB the largest VmRSS
	// sampled every half second; FinalRSSMiB VmRSS at the end.
	PeakRSSMiB       float64 `json:"peakRSSMiB"`
	MaxSampledRSSMiB float64 `json:"maxSampledRSSMiB"`
	FinalRSSMiB      float64 `json:"finalRSSMiB"`
	// Error is set when the run failed.
	Error string `json:"error,omitempty"`
}

const (
	scaleFillNS   = "scale-fill"
	scaleProbeNS  = "scale-probe"
	scaleFillName = "fill-"
)

// scaleSchedulers are the schedulers RunScale can start.
var scaleSchedulers = []string{KubeScheduler, Berth}

// RunScale starts one control plane, fills it with o.Nodes nodes and
// o.Pods bound pods, then measures every scheduler of o.Schedulers on it
// in turn, and writes OutDir/results.json and OutDir/results.md. The report
// is returned even when a scheduler's run failed (its Error is set).
func RunScale(ctx context.Context, o ScaleOptions) (*ScaleReport, error) {
	o.defaults()
	seen := map[string]bool{}
	for _, s := range o.Schedulers {
		if !slices.Contains(scaleSchedulers, s) || seen[s] {
			return nil, fmt.Errorf("scheduler %q: want each of %s at most once", s, strings.Join(scaleSchedulers, ", "))
		}
		seen[s] = true
	}
	if o.Nodes < 1 || o.Pods < 0 || o.Measured < 1 {
		return nil, fmt.Errorf("need at least one node and one measured pod (nodes %d, pods %d, measured %d)", o.Nodes, o.Pods, o.Measured)
	}
	var err error
	if o.BinDir == "" {
		if o.BinDir, err = testenv.BinDir(); err != nil {
			return nil, err
		}
	}
	logDir := filepath.Join(o.OutDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	if abs, err := filepath.Abs(logDir); err == nil {
		logDir = abs
	}
	os.Setenv(testenv.BinDirEnv, o.BinDir)
	logf := func(format string, args ...any) {
		fmt.Fprintf(o.Progress, "[scale %s] %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
	}

	rep := &ScaleReport{StartedAt: time.Now().UTC().Format(time.RFC3339), Host: hostInfo(o.BinDir),
		Nodes: o.Nodes, Pods: o.Pods, Measured: o.Measured, QPS: o.QPS, Burst: o.Burst}
	t0 := time.Now()
	defer func() { rep.ElapsedSeconds = round3(time.Since(t0).Seconds()) }()
	logf("starting the control plane")
	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		return nil, fmt.Errorf("start control plane: %v", err)
	}
	defer func() {
		if err := env.Stop(); err != nil {
			logf("stop control plane: %v", err)
		}
	}()
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = o.QPS, int(o.Burst)
	cfg.UserAgent = "berth-scale"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	r := &runner{client: client}
	fail := func(err error) (*ScaleReport, error) {
		rep.Error = err.Error()
		rep.ElapsedSeconds = round3(time.Since(t0).Seconds())
		_ = rep.write(o.OutDir)
		return rep, err
	}

	// Nodes.
	logf("creating %d basic nodes over 3 zones", o.Nodes)
	nopts := nodegen.Options{Count: o.Nodes, Profile: nodegen.ProfileBasic, Zones: 3, Prefix: "node-", Workers: o.FillWorkers,
		Progress: &everyFew{w: o.Progress, every: 5 * time.Second}}
	nres, err := nodegen.Create(ctx, client, nopts)
	if err != nil {
		return fail(fmt.Errorf("create nodes: %v", err))
	}
	rep.NodeCreateSeconds = round3(nres.Elapsed.Seconds())
	logf("created %d nodes in %s", nres.Created, nres.Elapsed.Round(time.Millisecond))

	// Existing pods, bound by spec.nodeName.
	if err := r.ensureNamespace(ctx, scaleFillNS); err != nil {
		return fail(err)
	}
	logf("creating %d pods bound round-robin (%d workers)", o.Pods, o.FillWorkers)
	fillStart := time.Now()
	var filled atomic.Int64
	stopProgress := progressEvery(5*time.Second, func() {
		n := filled.Load()
		el := time.Since(fillStart).Seconds()
		logf("filled %d/%d pods (%.0f pods/s, %.0fs)", n, o.Pods, float64(n)/el, el)
	})
	pods := client.CoreV1().Pods(scaleFillNS)
	err = parallel(ctx, o.Pods, o.FillWorkers, func(ctx context.Context, i int) error {
		p := scalePod(scaleFillNS, fmt.Sprintf("%s%06d", scaleFillName, i), "default-scheduler")
		p.Spec.NodeName = nodegen.NodeName(nopts, i%o.Nodes)
		err := retry(ctx, func() error { _, err := pods.Create(ctx, p, metav1.CreateOptions{}); return err })
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create pod %s: %v", p.Name, err)
		}
		filled.Add(1)
		return nil
	})
	stopProgress()
	if err != nil {
		return fail(err)
	}
	rep.PodFillSeconds = round3(time.Since(fillStart).Seconds())
	rep.FillSeconds = round3(rep.NodeCreateSeconds + rep.PodFillSeconds)
	logf("created %d bound pods in %.1fs (%.0f pods/s); fill took %.1fs in all", o.Pods, rep.PodFillSeconds,
		float64(o.Pods)/rep.PodFillSeconds, rep.FillSeconds)
	if err := r.ensureNamespace(ctx, scaleProbeNS); err != nil {
		return fail(err)
	}

	for _, s := range o.Schedulers {
		if ctx.Err() != nil {
			break
		}
		res, err := runScaleOne(ctx, o, r, env.Kubeconfig, logDir, s, logf)
		if err != nil {
			res.Error = err.Error()
			logf("%s: %v", s, err)
		}
		rep.Results = append(rep.Results, res)
		rep.ElapsedSeconds = round3(time.Since(t0).Seconds())
		if err := rep.write(o.OutDir); err != nil {
			return rep, err
		}
	}
	rep.ElapsedSeconds = round3(time.Since(t0).Seconds())
	return rep, rep.write(o.OutDir)
}

// scalePod is the pod shape of the scale run, existing and measured alike:
// one container requesting 100m CPU and 128Mi, so that a basic node (7.8
// cores, 30 GiB allocatable, 110 pods) holds its ~10 existing pods with
// room for the measured ones and NodeResourcesFit has something to score.
func scalePod(ns, name, schedulerName string) *v1.Pod {
	p := buildPod(nil, ns, name, schedulerName)
	p.Spec.Containers[0].Resources.Requests = v1.ResourceList{
		v1.ResourceCPU:    resource.MustParse("100m"),
		v1.ResourceMemory: resource.MustParse("128Mi"),
	}
	return p
}

// runScaleOne starts one scheduler on the filled cluster and measures it.
// The result is never nil.
func runScaleOne(ctx context.Context, o ScaleOptions, r *runner, kubeconfig, logDir, sched string, logf func(string, ...any)) (*ScaleResult, error) {
	res := &ScaleResult{Scheduler: sched}
	say := func(format string, args ...any) { logf("%s: %s", sched, fmt.Sprintf(format, args...)) }
	ns := "scale-" + sched
	if err := r.ensureNamespace(ctx, ns); err != nil {
		return res, err
	}
	defer scaleCleanup(r.client, ns, say)
	probes := r.client.CoreV1().Pods(scaleProbeNS)
	probeName := "probe-" + sched
	if _, err := probes.Create(ctx, scalePod(scaleProbeNS, probeName, schedulerNameFor(sched)), metav1.CreateOptions{}); err != nil {
		return res, fmt.Errorf("create probe pod: %v", err)
	}
	defer func() {
		_ = probes.Delete(context.Background(), probeName, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	}()

	say("starting; waiting for it to bind the probe pod (informer sync)")
	start := time.Now()
	p, metricsURL, err := startScaleScheduler(sched, o.BinDir, kubeconfig, logDir, o.QPS, o.Burst)
	if err != nil {
		return res, err
	}
	defer p.stop(30 * time.Second)
	sampler := newRSSSampler(p.pid(), 500*time.Millisecond)
	defer sampler.stop()

	// (a) Sync: until the probe is bound.
	syncCtx, cancel := context.WithTimeout(ctx, o.SyncTimeout)
	defer cancel()
	lastSay := time.Now()
	for {
		if err := p.alive(); err != nil {
			return res, err
		}
		got, err := probes.Get(syncCtx, probeName, metav1.GetOptions{})
		if err == nil && got.Spec.NodeName != "" {
			break
		}
		if syncCtx.Err() != nil {
			return res, fmt.Errorf("probe pod not bound after %s; log tail:\n%s", o.SyncTimeout, testenv.TailFile(p.logPath, 15))
		}
		if time.Since(lastSay) >= 5*time.Second {
			rss, _ := procStatusMiB(p.pid(), "VmRSS")
			say("syncing: %.0fs, RSS %.0f MiB", time.Since(start).Seconds(), rss)
			lastSay = time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
	res.SyncSeconds = round3(time.Since(start).Seconds())
	cpuSync, _ := procCPUSeconds(p.pid())
	res.SyncCPUSeconds = round3(cpuSync)
	rss, _ := procStatusMiB(p.pid(), "VmRSS")
	res.RSSAfterSyncMiB = round3(rss)
	say("bound the probe pod %.1fs after start (CPU %.1fs, RSS %.0f MiB)", res.SyncSeconds, cpuSync, rss)

	// (b) Measured pods.
	metric := "scheduler_scheduling_attempt_duration_seconds"
	if sched == Berth {
		metric = "berth_scheduling_attempt_duration_seconds"
	}
	hist0, histErr := scrapeHistogram(ctx, metricsURL, metric)
	if histErr != nil {
		say("no cycle-time histogram: %v", histErr)
	}
	n := o.Measured
	expected := make([]bool, n)
	for i := range expected {
		expected[i] = true
	}
	base := time.Now()
	bw, err := r.startWatch(ctx, ns, base, expected, nil)
	if err != nil {
		return res, err
	}
	defer bw.stop()
	cpu0, _ := procCPUSeconds(p.pid())
	createAt := make([]int64, n)
	var created atomic.Int64
	var createErr error
	var createEnd atomic.Int64
	createDone := make(chan struct{})
	mctx, mcancel := context.WithCancel(ctx)
	defer mcancel()
	pods := r.client.CoreV1().Pods(ns)
	schedName := schedulerNameFor(sched)
	go func() {
		defer close(createDone)
		createErr = parallel(mctx, n, o.CreateWorkers, func(ctx context.Context, i int) error {
			pod := scalePod(ns, fmt.Sprintf("%s%06d", measuredPrefix, i), schedName)
			createAt[i] = int64(time.Since(base))
			if err := retry(ctx, func() error { _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); return err }); err != nil {
				return fmt.Errorf("create measured pod %s: %v", pod.Name, err)
			}
			created.Add(1)
			return nil
		})
		createEnd.Store(int64(time.Since(base)))
	}()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	creating := true
	lastReport := time.Now()
	for res.StopReason == "" {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-tick.C:
		}
		if creating {
			select {
			case <-createDone:
				creating = false
				if createErr != nil {
					return res, createErr
				}
			default:
			}
		}
		if err := p.alive(); err != nil {
			return res, err
		}
		now := time.Since(base)
		bound := bw.boundExp.Load()
		switch {
		case !creating && int(bound) >= n:
			res.StopReason = "all-bound"
		case !creating && now-time.Duration(max(bw.lastBind.Load(), createEnd.Load())) > o.StallTimeout:
			res.StopReason = "stalled"
		case now > o.RunTimeout:
			res.StopReason = "timeout"
		}
		if time.Since(lastReport) >= 3*time.Second || res.StopReason != "" {
			say("created %d/%d, bound %d/%d, t=%.1fs", created.Load(), n, bound, n, now.Seconds())
			lastReport = time.Now()
		}
	}
	mcancel()
	<-createDone
	cpu1, _ := procCPUSeconds(p.pid())
	res.CPUSeconds = round3(cpu1 - cpu0)
	if histErr == nil {
		if hist1, err := scrapeHistogram(ctx, metricsURL, metric); err == nil {
			d := hist1.minus(hist0)
			res.CycleCount = int(d.count())
			if res.CycleCount > 0 {
				res.CycleP50Ms = ptr.To(round3(d.quantile(0.50) * 1000))
				res.CycleP99Ms = ptr.To(round3(d.quantile(0.99) * 1000))
			}
		} else {
			say("no cycle-time histogram after the run: %v", err)
		}
	}
	// (c) Memory, read before the stop.
	sampler.stop()
	res.MaxSampledRSSMiB = round3(sampler.max())
	if v, err := procStatusMiB(p.pid(), "VmHWM"); err == nil {
		res.PeakRSSMiB = round3(v)
	}
	if v, err := procStatusMiB(p.pid(), "VmRSS"); err == nil {
		res.FinalRSSMiB = round3(v)
	}
	p.stop(30 * time.Second)
	bw.stop()

	res.Created = int(created.Load())
	var first int64 = -1
	for i := range n {
		if createAt[i] > 0 && (first < 0 || createAt[i] < first) {
			first = createAt[i]
		}
	}
	first = max(first, 0)
	var lat []float64
	var last int64
	for i := range n {
		if bw.bindAt[i] == 0 {
			continue
		}
		res.Bound++
		lat = append(lat, float64(max(bw.bindAt[i]-createAt[i], 0))/1e6)
		last = max(last, bw.bindAt[i])
	}
	if res.Bound > 0 {
		d := time.Duration(last - first).Seconds()
		res.DurationSeconds = round3(d)
		if d > 0 {
			res.ThroughputAvg = round3(float64(res.Bound) / d)
		}
		res.LatencyP50Ms = ptr.To(round3(percentile(lat, 50)))
		res.LatencyP99Ms = ptr.To(round3(percentile(lat, 99)))
		res.CPUMsPerPod = ptr.To(round3(res.CPUSeconds * 1000 / float64(res.Bound)))
	}
	say("%s: %d/%d bound, %.1f pods/s, p99 %s, CPU %.1fs, peak RSS %.0f MiB, final RSS %.0f MiB", res.StopReason, res.Bound, n,
		res.ThroughputAvg, fmtMs(res.LatencyP99Ms), res.CPUSeconds, res.PeakRSSMiB, res.FinalRSSMiB)
	if res.Bound < n {
		return res, fmt.Errorf("%d of %d measured pods not bound (%s)", n-res.Bound, n, res.StopReason)
	}
	return res, nil
}

// startScaleScheduler starts kube-scheduler or berth with the bench's
// configuration (schedulerConfig: the client QPS/burst, no leader
// election) and serving /metrics, which it returns the URL of. Unlike the
// bench, kube-scheduler serves HTTPS (a self-signed certificate in logDir)
// and lets anyone read /metrics and /healthz.
func startScaleScheduler(sched, binDir, kubeconfig, logDir string, qps float32, burst int32) (*process, string, error) {
	logName := "scale-" + sched
	cfgPath := filepath.Join(logDir, logName+".config.yaml")
	if err := os.WriteFile(cfgPath, []byte(schedulerConfig(kubeconfig, qps, burst)), 0o644); err != nil {
		return nil, "", err
	}
	ports, err := testenv.FreePorts(1)
	if err != nil {
		return nil, "", err
	}
	logPath := filepath.Join(logDir, logName+".log")
	switch sched {
	case KubeScheduler:
		certDir := filepath.Join(logDir, logName+"-certs")
		if err := os.MkdirAll(certDir, 0o755); err != nil {
			return nil, "", err
		}
		p, err := startProcess(sched, []string{filepath.Join(binDir, "kube-scheduler"), "--config", cfgPath,
			"--secure-port=" + strconv.Itoa(ports[0]), "--bind-address=127.0.0.1", "--cert-dir=" + certDir,
			"--authentication-kubeconfig=" + kubeconfig, "--authorization-kubeconfig=" + kubeconfig,
			"--authorization-always-allow-paths=/metrics,/healthz,/readyz,/livez", "-v=0"}, logPath)
		return p, fmt.Sprintf("https://127.0.0.1:%d/metrics", ports[0]), err
	case Berth:
		addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
		p, err := startProcess(sched, []string{filepath.Join(binDir, "berth"), "run", "--config", cfgPath, "--kubeconfig", kubeconfig,
			"--leader-elect=false", "--health-address", addr, "-v=0"}, logPath)
		return p, "http://" + addr + "/metrics", err
	}
	return nil, "", fmt.Errorf("no process for scheduler %q", sched)
}

// scaleCleanup deletes the measured pods of ns and waits until they are
// gone, so that the next scheduler starts on the same cluster.
func scaleCleanup(client kubernetes.Interface, ns string, say func(string, ...any)) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pods := client.CoreV1().Pods(ns)
	for ctx.Err() == nil {
		if err := pods.DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{}); err == nil {
			if l, err := pods.List(ctx, metav1.ListOptions{Limit: 1}); err == nil && len(l.Items) == 0 {
				return
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	say("cleanup of namespace %s: %v", ns, ctx.Err())
}

// procStatusMiB reads a kB field (VmRSS, VmHWM …) of /proc/PID/status in
// MiB.
func procStatusMiB(pid int, field string) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseStatusMiB(string(data), field)
}

// parseStatusMiB finds "field:   1234 kB" in the text of /proc/PID/status
// and returns it in MiB.
func parseStatusMiB(status, field string) (float64, error) {
	for _, line := range strings.Split(status, "\n") {
		rest, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("malformed %s line %q", field, line)
		}
		kb, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("malformed %s line %q", field, line)
		}
		return kb / 1024, nil
	}
	return 0, fmt.Errorf("no %s in status", field)
}

// rssSampler records the largest VmRSS of a process, read periodically.
type rssSampler struct {
	mu      sync.Mutex
	maxMiB  float64
	done    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

func newRSSSampler(pid int, every time.Duration) *rssSampler {
	s := &rssSampler{done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(s.stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if v, err := procStatusMiB(pid, "VmRSS"); err == nil {
				s.mu.Lock()
				s.maxMiB = max(s.maxMiB, v)
				s.mu.Unlock()
			}
			select {
			case <-s.done:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() {
	s.once.Do(func() { close(s.done) })
	<-s.stopped
}

func (s *rssSampler) max() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxMiB
}

// histogram is a cumulative Prometheus histogram: counts by upper bound,
// summed over label sets.
type histogram map[float64]float64

// parseHistogram collects the buckets of metric name from Prometheus text
// exposition, summed over every series whose labels include each of match.
func parseHistogram(text, name string, match map[string]string) (histogram, error) {
	h := histogram{}
	prefix := name + "_bucket{"
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		end := strings.LastIndexByte(rest, '}')
		if end < 0 {
			return nil, fmt.Errorf("malformed line %q", line)
		}
		labels := parseLabels(rest[:end])
		ok = true
		for k, v := range match {
			if labels[k] != v {
				ok = false
			}
		}
		if !ok {
			continue
		}
		f := strings.Fields(rest[end+1:])
		if len(f) < 1 {
			return nil, fmt.Errorf("malformed line %q", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("malformed line %q", line)
		}
		le, err := strconv.ParseFloat(labels["le"], 64) // "+Inf" parses
		if err != nil {
			return nil, fmt.Errorf("malformed le in %q", line)
		}
		h[le] += v
	}
	if len(h) == 0 {
		return nil, fmt.Errorf("no %s buckets", name)
	}
	return h, nil
}

// parseLabels splits `a="x",b="y"` (no escaped quotes expected in the
// labels read here).
func parseLabels(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq < 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return out
		}
		k := strings.TrimSpace(s[:eq])
		rest := s[eq+2:]
		q := strings.IndexByte(rest, '"')
		if q < 0 {
			return out
		}
		out[k] = rest[:q]
		s = strings.TrimPrefix(rest[q+1:], ",")
	}
	return out
}

// minus is h - h0, bucket by bucket (the observations between two
// scrapes).
func (h histogram) minus(h0 histogram) histogram {
	d := histogram{}
	for le, v := range h {
		d[le] = v - h0[le]
	}
	return d
}

// count is the +Inf bucket.
func (h histogram) count() float64 { return h[math.Inf(1)] }

// quantile interpolates linearly within the bucket holding rank q·count,
// as Prometheus's histogram_quantile does; the +Inf bucket answers its
// lower bound.
func (h histogram) quantile(q float64) float64 {
	les := make([]float64, 0, len(h))
	for le := range h {
		les = append(les, le)
	}
	sort.Float64s(les)
	total := h.count()
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	prevLe, prevCount := 0.0, 0.0
	for _, le := range les {
		c := h[le]
		if c >= rank {
			if math.IsInf(le, 1) {
				return prevLe
			}
			if c == prevCount {
				return le
			}
			return prevLe + (le-prevLe)*(rank-prevCount)/(c-prevCount)
		}
		prevLe, prevCount = le, c
	}
	return prevLe
}

// scrapeHistogram reads metric (its result="scheduled" series) from url.
func scrapeHistogram(ctx context.Context, url, metric string) (histogram, error) {
	if url == "" {
		return nil, errors.New("no metrics URL")
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		// kube-scheduler's self-signed serving certificate.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // localhost, own process
	}}
	body, err := httpGet(ctx, hc, url)
	if err != nil {
		return nil, err
	}
	return parseHistogram(string(body), metric, map[string]string{"result": "scheduled"})
}

// everyFew passes on at most one write per interval (nodegen writes a
// progress line a second).
type everyFew struct {
	w     io.Writer
	every time.Duration
	mu    sync.Mutex
	last  time.Time
}

func (e *everyFew) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if time.Since(e.last) < e.every {
		return len(p), nil
	}
	e.last = time.Now()
	return e.w.Write(p)
}

// progressEvery calls f every interval until the returned stop is called.
func progressEvery(every time.Duration, f func()) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				f()
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// write writes results.json and results.md to dir.
func (rep *ScaleReport) write(dir string) error {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.md"), []byte(rep.Markdown()), 0o644)
}

// Markdown renders the report: a heading line with the sizes and fill
// time, and one table row per scheduler.
func (rep *ScaleReport) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# berth scale run: %d nodes, %d existing pods, %d measured pods\n\n", rep.Nodes, rep.Pods, rep.Measured)
	fmt.Fprintf(&b, "Started %s on %d CPUs (load average at start %s); fill: nodes %.1fs + pods %.1fs = %.1fs.\n\n",
		rep.StartedAt, rep.Host.CPUs, rep.Host.LoadAverageAtStart, rep.NodeCreateSeconds, rep.PodFillSeconds, rep.FillSeconds)
	b.WriteString("| scheduler | sync | throughput | create→bind p50 / p99 | cycle p50 / p99 | CPU | CPU / pod | peak RSS | final RSS |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range rep.Results {
		fmt.Fprintf(&b, "| %s | %.1f s | %.1f pods/s | %s / %s | %s / %s | %.1f s | %s | %s | %s |\n",
			r.Scheduler, r.SyncSeconds, r.ThroughputAvg, fmtMs(r.LatencyP50Ms), fmtMs(r.LatencyP99Ms),
			fmtMsFine(r.CycleP50Ms), fmtMsFine(r.CycleP99Ms), r.CPUSeconds, fmtMsFine(r.CPUMsPerPod),
			fmtMiB(r.PeakRSSMiB), fmtMiB(r.FinalRSSMiB))
	}
	for _, r := range rep.Results {
		if r.Error != "" {
			fmt.Fprintf(&b, "\n%s failed: %s\n", r.Scheduler, firstLine(r.Error))
		}
	}
	if rep.Error != "" {
		fmt.Fprintf(&b, "\nrun failed: %s\n", firstLine(rep.Error))
	}
	return b.String()
}

// fmtMsFine prints a millisecond figure with two decimals ("-" for nil).
func fmtMsFine(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f ms", *p)
}

// fmtMiB prints MiB, in GiB from 1 GiB on ("-" for 0: not read).
func fmtMiB(m float64) string {
	switch {
	case m <= 0:
		return "-"
	case m >= 1024:
		return fmt.Sprintf("%.2f GiB", m/1024)
	default:
		return fmt.Sprintf("%.0f MiB", m)
	}
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
