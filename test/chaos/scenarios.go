package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Scenario is one fault: how its berths run and what it does to them
// while the workload's later waves are created.
type Scenario struct {
	// Name is the scenario's name in flags and the table.
	Name string
	// Doc says what the fault is.
	Doc string
	// start starts the scenario's berth processes (and proxies).
	start func(ctx context.Context, r *run) error
	// inject runs the fault, concurrently with the creation of the later
	// waves, and returns when the fault is over.
	inject func(ctx context.Context, r *run) error
}

// Scenarios returns every scenario, in the order berth-chaos runs them.
func Scenarios() []Scenario {
	return []Scenario{
		{Name: "apiserver-restart", Doc: "kube-apiserver stopped (SIGTERM) and started again mid-burst", start: oneBerth, inject: restartComponent(syscall.SIGUSR1)},
		{Name: "etcd-restart", Doc: "the embedded etcd closed and reopened mid-burst, the API server staying up", start: oneBerth, inject: restartComponent(syscall.SIGUSR2)},
		{Name: "watch-cut", Doc: "every connection between berth and the API server cut, three times, 2 s apart", start: berthBehindTCPProxy, inject: cutWatches},
		{Name: "watch-stall", Doc: "every connection between berth and the API server stalled for 10 s, then 5 s", start: berthBehindTCPProxy, inject: stallWatches},
		{Name: "competing-scheduler", Doc: "a second scheduler binds pending berth pods through pods/binding during the burst, berth binding slowly (20 requests/s)", start: oneSlowBerth, inject: competingScheduler},
		{Name: "node-churn", Doc: "four of six nodes deleted, cordoned, relabelled and tainted mid-burst", start: oneBerth, inject: nodeChurn},
		{Name: "leader-kill", Doc: "two berths with leader election; the leader SIGKILLed with binds in flight", start: twoBerths, inject: killLeader},
		{Name: "berth-kill", Doc: "a lone berth SIGKILLed with binds in flight and restarted 2 s later", start: oneSlowBerth, inject: killAndRestart},
		{Name: "watch-delay", Doc: "every watch event reaches berth 30 s late (longer than the assumed-pod TTL) while its binds go through at once; one node is asked for more cores than it has", start: berthBehindFaultProxy, inject: delayedWatches},
		{Name: "bind-errors", Doc: "30% of binds answered 429, 500, 409 or 500 after the bind committed, by a TLS-terminating proxy", start: berthBehindFaultProxy, inject: bindErrors},
	}
}

// ScenarioNames lists the names of Scenarios.
func ScenarioNames() []string {
	var out []string
	for _, s := range Scenarios() {
		out = append(out, s.Name)
	}
	return out
}

// slowBinds is a configuration whose API client sends 20 requests a
// second (burst 10): binds spread over seconds, so that a kill lands with
// binds in flight.
const slowBinds = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  qps: 20
  burst: 10
`

func oneBerth(ctx context.Context, r *run) error {
	_, err := r.startBerth(ctx, "berth", "", "--leader-elect=false")
	return err
}

func oneSlowBerth(ctx context.Context, r *run) error {
	cfg, err := r.writeFile("slow.yaml", slowBinds)
	if err != nil {
		return err
	}
	_, err = r.startBerth(ctx, "berth", "", "--leader-elect=false", "--config", cfg)
	return err
}

func (r *run) writeFile(name, data string) (string, error) {
	path := filepath.Join(r.dir, name)
	return path, os.WriteFile(path, []byte(data), 0o644)
}

// restartComponent signals devcluster to restart the API server or etcd
// and returns once /readyz has failed and answered ok again (or, for etcd,
// whose restart may be too quick for a poll to see, once ok after a
// second).
func restartComponent(sig syscall.Signal) func(context.Context, *run) error {
	return func(ctx context.Context, r *run) error {
		time.Sleep(time.Second)
		if err := r.h.env.Signal(sig); err != nil {
			return err
		}
		sawDown := false
		start := time.Now()
		for {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			body, err := r.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(rctx)
			cancel()
			ok := err == nil && strings.TrimSpace(string(body)) == "ok"
			if !ok {
				sawDown = true
			}
			if ok && (sawDown || time.Since(start) > 5*time.Second) {
				r.note("control plane ready %v after the signal", time.Since(start).Round(100*time.Millisecond))
				return nil
			}
			if time.Since(start) > 2*time.Minute {
				return fmt.Errorf("the control plane was not ready 2 minutes after the restart")
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

func berthBehindTCPProxy(ctx context.Context, r *run) error {
	host := strings.TrimPrefix(r.h.env.Config.Host, "https://")
	p, err := NewTCPProxy(host)
	if err != nil {
		return err
	}
	r.onCleanup(p.Close)
	r.tcp = p
	kc, err := r.proxiedKubeconfig(p.Addr())
	if err != nil {
		return err
	}
	_, err = r.startBerth(ctx, "berth", kc, "--leader-elect=false")
	return err
}

func cutWatches(ctx context.Context, r *run) error {
	for i := range 3 {
		time.Sleep(2 * time.Second)
		n := r.tcp.CutAll()
		r.note("cut %d: %d connections", i+1, n)
	}
	return nil
}

func stallWatches(ctx context.Context, r *run) error {
	time.Sleep(time.Second)
	for _, d := range []time.Duration{10 * time.Second, 5 * time.Second} {
		r.tcp.Stall(d)
		time.Sleep(d + time.Second)
	}
	r.note("stalled 10 s and 5 s")
	return nil
}

// competingScheduler binds pending plain pods of the scenario itself for
// eight seconds, racing berth for the same pods: each pod ends bound by
// one of the two, and the loser's bind must fail.
func competingScheduler(ctx context.Context, r *run) error {
	end := time.Now().Add(8 * time.Second)
	won, lost := 0, 0
	next := 0
	for time.Now().Before(end) {
		pods, err := r.client.CoreV1().Pods(r.ns).List(ctx, metav1.ListOptions{LabelSelector: kindLabel + "=" + kindPlain})
		if err != nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		for _, p := range pods.Items {
			if p.Spec.NodeName != "" || p.DeletionTimestamp != nil {
				continue
			}
			// Small pods only, round-robin over the basic nodes: the
			// competitor keeps within capacity on its own.
			if p.Spec.Containers[0].Resources.Requests.Cpu().MilliValue() > 100 {
				continue
			}
			node := basicNode(r.name, next%BasicNodes)
			next++
			err := r.client.CoreV1().Pods(r.ns).Bind(ctx, &v1.Binding{
				ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID},
				Target:     v1.ObjectReference{Kind: "Node", Name: node},
			}, metav1.CreateOptions{})
			switch {
			case err == nil:
				won++
				r.mu.Lock()
				r.accepted[p.Namespace+"/"+p.Name]++
				r.mu.Unlock()
			case apierrors.IsConflict(err):
				lost++
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.note("the competitor bound %d pods and lost %d races", won, lost)
	return nil
}

// nodeChurn deletes basic node 0, cordons 1, relabels 2 out of the pods'
// selector and taints 3 NoSchedule, half a second apart, while pods are
// being created; 4 and 5 keep room for the rest.
func nodeChurn(ctx context.Context, r *run) error {
	nodes := r.client.CoreV1().Nodes()
	patch := func(i int, p map[string]any) error {
		data, _ := json.Marshal(p)
		_, err := nodes.Patch(ctx, basicNode(r.name, i), types.MergePatchType, data, metav1.PatchOptions{})
		return err
	}
	steps := []struct {
		what string
		do   func() error
	}{
		{"delete", func() error { return nodes.Delete(ctx, basicNode(r.name, 0), metav1.DeleteOptions{}) }},
		{"cordon", func() error { return patch(1, map[string]any{"spec": map[string]any{"unschedulable": true}}) }},
		{"relabel", func() error {
			return patch(2, map[string]any{"metadata": map[string]any{"labels": map[string]any{roleLabel: "retired"}}})
		}},
		{"taint", func() error {
			return patch(3, map[string]any{"spec": map[string]any{"taints": []v1.Taint{{Key: "chaos.berth.io/tainted", Effect: v1.TaintEffectNoSchedule}}}})
		}},
	}
	for _, s := range steps {
		time.Sleep(500 * time.Millisecond)
		if err := s.do(); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
	}
	r.note("deleted, cordoned, relabelled and tainted one node each")
	return nil
}

// leaderConfig runs leader election with short timings (a 6 s lease) so
// that a takeover costs seconds, and slow binds (see slowBinds).
const leaderConfig = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  qps: 20
  burst: 10
leaderElection:
  leaderElect: true
  leaseDuration: 6s
  renewDeadline: 4s
  retryPeriod: 1s
  resourceNamespace: %s
  resourceName: berth-chaos
`

func twoBerths(ctx context.Context, r *run) error {
	cfg, err := r.writeFile("leader.yaml", fmt.Sprintf(leaderConfig, r.ns))
	if err != nil {
		return err
	}
	for _, id := range []string{"berth-a", "berth-b"} {
		if _, err := r.startBerth(ctx, id, "", "--config", cfg, "--leader-elect-identity", id); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) leader(ctx context.Context) string {
	l, err := r.client.CoordinationV1().Leases(r.ns).Get(ctx, "berth-chaos", metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// killLeader SIGKILLs the lease holder as soon as one more pod gets
// bound after the fault's waves start (so binds are in flight), and
// returns once the other replica holds the lease.
func killLeader(ctx context.Context, r *run) error {
	var old string
	for old == "" {
		old = r.leader(ctx)
		time.Sleep(100 * time.Millisecond)
	}
	if err := r.waitNewBind(ctx); err != nil {
		return err
	}
	for _, p := range r.running() {
		if p.name == old {
			r.kill(p)
		}
	}
	start := time.Now()
	for {
		if l := r.leader(ctx); l != "" && l != old {
			r.note("%s killed; %s took over in %v", old, l, time.Since(start).Round(100*time.Millisecond))
			return nil
		}
		if time.Since(start) > 2*time.Minute {
			return fmt.Errorf("no replica took the lease over from %s within 2 minutes", old)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitNewBind waits until the watch sees one more pod bound than when
// called, after the later waves have started.
func (r *run) waitNewBind(ctx context.Context) error {
	<-r.waveStarted
	r.mu.Lock()
	exp := make(map[types.UID]bool, len(r.expected))
	for k := range r.expected {
		exp[k] = true
	}
	r.mu.Unlock()
	before, _, _ := r.rec.progress(exp)
	return r.waitBound(ctx, before+1, 2*time.Minute)
}

func killAndRestart(ctx context.Context, r *run) error {
	if err := r.waitNewBind(ctx); err != nil {
		return err
	}
	r.kill(r.running()[0])
	time.Sleep(2 * time.Second)
	cfg := filepath.Join(r.dir, "slow.yaml")
	if _, err := r.startBerth(ctx, "berth-restarted", "", "--leader-elect=false", "--config", cfg); err != nil {
		return err
	}
	r.note("killed and restarted")
	return nil
}

func berthBehindFaultProxy(ctx context.Context, r *run) error {
	kc, err := startFaultProxy(r)
	if err != nil {
		return err
	}
	_, err = r.startBerth(ctx, "berth", kc, "--leader-elect=false")
	return err
}

// startFaultProxy starts the scenario's FaultProxy and returns the path of
// a kubeconfig for it.
func startFaultProxy(r *run) (string, error) {
	p, err := NewFaultProxy(r.h.env.Config)
	if err != nil {
		return "", err
	}
	r.onCleanup(p.Close)
	r.faults = p
	kc := filepath.Join(r.dir, "faultproxy.kubeconfig")
	return kc, p.WriteKubeconfig(kc)
}

// bindErrors injects faults on 30% of binds until every pod has been
// created and 3 s more.
func bindErrors(ctx context.Context, r *run) error {
	r.faults.SetBindFaults(0.3, TooManyRequests, InternalError, Conflict, LostResponse)
	<-r.created
	time.Sleep(3 * time.Second)
	r.faults.SetBindFaults(0)
	inj := r.faults.Injected()
	var parts []string
	for _, f := range []BindFault{TooManyRequests, InternalError, Conflict, LostResponse} {
		parts = append(parts, fmt.Sprintf("%d×%s", inj[f], f))
	}
	sort.Strings(parts)
	r.note("injected %s", strings.Join(parts, ", "))
	return nil
}

// watchDelay is how late the watch-delay scenario's berth sees events:
// longer than the assumed-pod TTL, so that assumed pods whose binds
// succeeded expire before berth sees them bound.
const watchDelay = AssumedPodTTL + 10*time.Second

// delayedWatches asks node 5 for ten cores, then four more as the first
// ten's assumed pods expire in berth's cache (their binds done, the
// events confirming them still held back), and ends the delay once the
// second batch has been seen and the first batch's confirmations are
// through.
func delayedWatches(ctx context.Context, r *run) error {
	r.faults.DelayWatches(watchDelay)
	w := &workload{ns: r.ns, scenario: r.name}
	if err := r.create(ctx, w.overflow(1, 10), 0); err != nil {
		return err
	}
	time.Sleep(watchDelay - 5*time.Second)
	if err := r.create(ctx, w.overflow(2, 4), 0); err != nil {
		return err
	}
	time.Sleep(watchDelay + 5*time.Second)
	r.faults.DelayWatches(0)
	r.note("events delayed %v, assumed-pod TTL %v", watchDelay, AssumedPodTTL)
	return nil
}
