package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
)

// Options configures a Harness.
type Options struct {
	// Pods is how many pods each scenario creates (default 60).
	Pods int
	// Volumes adds pods with claims of devcluster's local provisioner;
	// the control plane must run the provisioner and the controller
	// manager.
	Volumes bool
	// RecoveryTimeout bounds the wait, after a fault ends, for every pod
	// to be bound (default 3 minutes); pods still pending then are lost.
	RecoveryTimeout time.Duration
	// Dir receives each scenario's berth logs and kubeconfigs.
	Dir string
	// Logf reports progress (default: discard).
	Logf func(format string, args ...any)
}

// AssumedPodTTL is the --assumed-pod-ttl of the harness's berths: short,
// so that the assumed-pod invariant is judged soon after recovery.
const AssumedPodTTL = 20 * time.Second

// nodeGrace is Record.NodeGrace: how stale berth's view of a deleted node
// may be on a loaded machine.
const nodeGrace = 5 * time.Second

// Harness runs scenarios on one control plane.
type Harness struct {
	env  *testenv.Env
	opts Options
}

// New returns a harness for env (started with ControllerManager, and
// Provisioner when o.Volumes).
func New(ctx context.Context, env *testenv.Env, o Options) (*Harness, error) {
	if o.Pods <= 0 {
		o.Pods = 60
	}
	if o.RecoveryTimeout <= 0 {
		o.RecoveryTimeout = 3 * time.Minute
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Dir == "" {
		return nil, errors.New("chaos: Options.Dir is required")
	}
	if o.Volumes {
		if err := ensureStorageClass(ctx, env.Client); err != nil {
			return nil, err
		}
	}
	return &Harness{env: env, opts: o}, nil
}

// Result is one scenario's outcome.
type Result struct {
	Scenario string
	// Pods is how many pods the scenario created.
	Pods int
	// Violations are the broken invariants (none is a pass).
	Violations []Violation
	// Recovery is the time from the end of the fault to the last pod's
	// bind (0 when every pod was bound before the fault ended).
	Recovery time.Duration
	// Notes says what the fault did (faults injected, conflicts seen).
	Notes []string
}

// run is one scenario's state.
type run struct {
	h        *Harness
	name, ns string
	dir      string
	client   kubernetes.Interface
	rec      *recorder

	mu       sync.Mutex
	berths   []*berthProc
	killed   map[*berthProc]bool
	accepted map[string]int
	notes    []string
	cleanups []func()
	expected map[types.UID]bool

	// tcp and faults are the scenario's proxy, if any.
	tcp    *TCPProxy
	faults *FaultProxy

	// waveStarted is closed when the fault's waves start being created,
	// created when every pod has been.
	waveStarted, created chan struct{}
}

func (r *run) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

func (r *run) addBerth(p *berthProc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.berths = append(r.berths, p)
}

// running returns the scenario's berth processes that have not exited.
func (r *run) running() []*berthProc {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*berthProc
	for _, p := range r.berths {
		if !p.exited() {
			out = append(out, p)
		}
	}
	return out
}

// kill SIGKILLs p, marking the exit as the harness's doing.
func (r *run) kill(p *berthProc) {
	r.mu.Lock()
	r.killed[p] = true
	r.mu.Unlock()
	p.kill()
}

// startBerth starts a berth of the scenario with kubeconfig (the admin
// one if empty).
func (r *run) startBerth(ctx context.Context, name, kubeconfig string, args ...string) (*berthProc, error) {
	if kubeconfig == "" {
		kubeconfig = r.h.env.Kubeconfig
	}
	args = append([]string{"--assumed-pod-ttl", AssumedPodTTL.String()}, args...)
	p, err := startBerth(ctx, r.dir, name, kubeconfig, args...)
	if err != nil {
		return nil, err
	}
	r.addBerth(p)
	return p, nil
}

// proxiedKubeconfig writes a copy of the admin kubeconfig whose server is
// addr (a TCPProxy) and returns its path.
func (r *run) proxiedKubeconfig(addr string) (string, error) {
	cfg, err := clientcmd.LoadFromFile(r.h.env.Kubeconfig)
	if err != nil {
		return "", err
	}
	for _, c := range cfg.Clusters {
		c.Server = "https://" + addr
	}
	path := filepath.Join(r.dir, "proxied.kubeconfig")
	return path, clientcmd.WriteToFile(*cfg, path)
}

func (r *run) onCleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

// Run runs one scenario: fresh namespace and nodes, its berths, the
// workload's first wave, then the fault while the other waves are
// created; then it waits for recovery and judges the invariants. An
// error means the harness itself failed (not berth).
func (h *Harness) Run(ctx context.Context, sc Scenario) (res *Result, err error) {
	logf := h.opts.Logf
	dir := filepath.Join(h.opts.Dir, sc.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r := &run{h: h, name: sc.Name, dir: dir, client: h.env.Client, killed: map[*berthProc]bool{},
		accepted: map[string]int{}, expected: map[types.UID]bool{},
		waveStarted: make(chan struct{}), created: make(chan struct{})}
	defer r.cleanup(ctx)
	if r.ns, err = createNamespace(ctx, r.client, "chaos-"+sc.Name); err != nil {
		return nil, err
	}
	if _, err := createNodes(ctx, r.client, sc.Name); err != nil {
		return nil, err
	}
	if r.rec, err = startRecorder(ctx, r.client, r.ns, sc.Name); err != nil {
		return nil, err
	}
	w := &workload{ns: r.ns, scenario: sc.Name, volumes: h.opts.Volumes}
	waves, groups := w.plan(h.opts.Pods)
	for _, g := range groups {
		if _, err := r.client.SchedulingV1beta1().PodGroups(r.ns).Create(ctx, g, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("creating PodGroup %s: %w", g.Name, err)
		}
	}
	if err := sc.start(ctx, r); err != nil {
		return nil, fmt.Errorf("starting berth: %w", err)
	}
	logf("%s: berth ready; first wave of %d pods", sc.Name, len(waves[0]))
	if err := r.create(ctx, waves[0], 0); err != nil {
		return nil, err
	}
	if err := r.waitBound(ctx, len(waves[0])/2, 2*time.Minute); err != nil {
		return nil, fmt.Errorf("before the fault: %w", err)
	}

	// The fault's end is when inject returns, which may be before the
	// last wave is created.
	faultDone := make(chan error, 1)
	var faultEnd time.Time
	faultCtx, cancelFault := context.WithCancel(ctx)
	defer cancelFault()
	go func() {
		err := sc.inject(faultCtx, r)
		faultEnd = time.Now()
		faultDone <- err
	}()
	close(r.waveStarted)
	for _, wave := range waves[1:] {
		if err := r.create(ctx, wave, 150*time.Millisecond); err != nil {
			return nil, err
		}
	}
	close(r.created)
	if err := <-faultDone; err != nil {
		return nil, fmt.Errorf("injecting the fault: %w", err)
	}
	logf("%s: fault over; waiting for recovery", sc.Name)

	res = &Result{Scenario: sc.Name, Pods: len(r.expected)}
	deadline := time.Now().Add(h.opts.RecoveryTimeout)
	for {
		bound, total, last := r.rec.progress(r.expected)
		if bound == total {
			if last.After(faultEnd) {
				res.Recovery = last.Sub(faultEnd)
			}
			break
		}
		if time.Now().After(deadline) {
			logf("%s: %d of %d pods bound when the recovery timeout ended", sc.Name, bound, total)
			res.Recovery = h.opts.RecoveryTimeout
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	rec, err := r.record(ctx)
	if err != nil {
		return nil, err
	}
	res.Violations = Check(rec)
	// Say what the checks had to look at, so that a pass is not vacuous.
	assigned, bound := 0, 0
	for _, p := range rec.Final {
		if p.Spec.NodeName != "" {
			bound++
			if _, ok := p.Annotations[gpushare.AnnotationAssignment]; ok {
				assigned++
			}
		}
	}
	r.note("checked %d bound pods, %d GPU assignments, %d gangs", bound, assigned, len(rec.Groups))
	r.mu.Lock()
	res.Notes = append(res.Notes, r.notes...)
	r.mu.Unlock()
	return res, nil
}

// create creates pods (and their claims) in order, pause apart, retrying
// through API outages, and notes the UIDs of those labelled ExpectLabel.
func (r *run) create(ctx context.Context, pods []*v1.Pod, pause time.Duration) error {
	for _, p := range pods {
		if c := claimFor(p); c != nil {
			if _, err := retry(ctx, func() (*v1.PersistentVolumeClaim, error) {
				got, err := r.client.CoreV1().PersistentVolumeClaims(r.ns).Create(ctx, c, metav1.CreateOptions{})
				if apierrors.IsAlreadyExists(err) {
					return r.client.CoreV1().PersistentVolumeClaims(r.ns).Get(ctx, c.Name, metav1.GetOptions{})
				}
				return got, err
			}); err != nil {
				return fmt.Errorf("creating claim %s: %w", c.Name, err)
			}
		}
		got, err := retry(ctx, func() (*v1.Pod, error) {
			got, err := r.client.CoreV1().Pods(r.ns).Create(ctx, p, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				return r.client.CoreV1().Pods(r.ns).Get(ctx, p.Name, metav1.GetOptions{})
			}
			return got, err
		})
		if err != nil {
			return fmt.Errorf("creating pod %s: %w", p.Name, err)
		}
		if got.Labels[ExpectLabel] == "true" {
			r.mu.Lock()
			r.expected[got.UID] = true
			r.mu.Unlock()
		}
		if pause > 0 {
			time.Sleep(pause)
		}
	}
	return nil
}

// retry calls f until it succeeds, for two minutes: the API server may be
// restarting.
func retry[T any](ctx context.Context, f func() (T, error)) (T, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		v, err := f()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return v, err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitBound waits until at least n expected pods are bound.
func (r *run) waitBound(ctx context.Context, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		r.mu.Lock()
		exp := make(map[types.UID]bool, len(r.expected))
		for k := range r.expected {
			exp[k] = true
		}
		r.mu.Unlock()
		bound, total, _ := r.rec.progress(exp)
		if bound >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d pods bound after %v, want %d", bound, total, timeout, n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// record gathers what Check judges: it waits (at most the assumed-pod
// TTL and a little) for each running berth's assumed pods to drain, then
// reads the final state back.
func (r *run) record(ctx context.Context) (*Record, error) {
	rec := &Record{Assumed: map[string]float64{}, Accepted: map[string]int{}, NodeGrace: nodeGrace}
	r.mu.Lock()
	berths := append([]*berthProc(nil), r.berths...)
	for k, v := range r.accepted {
		rec.Accepted[k] += v
	}
	r.mu.Unlock()
	deadline := time.Now().Add(AssumedPodTTL + 10*time.Second)
	for _, p := range berths {
		if p.exited() {
			continue
		}
		for {
			n, err := p.assumed()
			if err == nil && n == 0 {
				rec.Assumed[p.name] = 0
				break
			}
			if time.Now().After(deadline) {
				if err != nil {
					return nil, err
				}
				rec.Assumed[p.name] = n
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	// Let the last binds reach the watch.
	time.Sleep(time.Second)
	pods, err := r.client.CoreV1().Pods(r.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	nodes, err := r.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: scenarioLabel + "=" + r.name})
	if err != nil {
		return nil, err
	}
	groups, err := r.client.SchedulingV1beta1().PodGroups(r.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	rec.Final, rec.FinalNodes = pods.Items, nodes.Items
	for _, g := range groups.Items {
		if g.Spec.SchedulingPolicy.Gang != nil {
			rec.Groups = append(rec.Groups, Group{Key: g.Namespace + "/" + g.Name, MinCount: int(g.Spec.SchedulingPolicy.Gang.MinCount)})
		}
	}
	rec.Pods, rec.Nodes = r.rec.snapshot()
	rec.Crashes = map[string][]string{}
	for _, p := range berths {
		if err := binds(p.log, rec.Accepted); err != nil {
			return nil, err
		}
		r.mu.Lock()
		killed := r.killed[p]
		r.mu.Unlock()
		c := crashes(p.log)
		if p.exited() && !killed {
			c = append(c, fmt.Sprintf("exited unexpectedly (%v); log ends: %s", p.cmd.ProcessState, lastLine(p.log)))
		}
		if len(c) > 0 {
			rec.Crashes[p.name] = c
		}
	}
	return rec, nil
}

func lastLine(path string) string {
	return strings.TrimSpace(testenv.TailFile(path, 1))
}

// cleanup stops the berths and proxies and deletes the scenario's pods,
// nodes and namespace.
func (r *run) cleanup(ctx context.Context) {
	r.mu.Lock()
	berths, cleanups := r.berths, r.cleanups
	r.mu.Unlock()
	for _, p := range berths {
		p.stop()
	}
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	if r.rec != nil {
		r.rec.stop()
	}
	if r.ns != "" {
		_ = r.client.CoreV1().Pods(r.ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{})
		_ = r.client.CoreV1().Namespaces().Delete(ctx, r.ns, metav1.DeleteOptions{})
	}
	_ = r.client.CoreV1().Nodes().DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: scenarioLabel + "=" + r.name})
}

// createNamespace creates a namespace named prefix-<random> and its
// "default" ServiceAccount (which the controller manager would create a
// moment later; pods need it).
func createNamespace(ctx context.Context, c kubernetes.Interface, prefix string) (string, error) {
	ns, err := c.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	_, err = c.CoreV1().ServiceAccounts(ns.Name).Create(ctx, &v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	return ns.Name, nil
}
