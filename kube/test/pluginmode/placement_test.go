package pluginmode

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/internal/testenv"
)

// filler takes cpu on node directly (no scheduler), so that
// kube-scheduler's own scorers prefer the other node of a pair.
func filler(t *testing.T, ns, node, cpu string) {
	t.Helper()
	createPod(t, st.MakePod().Name("filler").Namespace(ns).Node(node).Req("cpu", cpu, "memory", "1Gi").Obj())
}

// TestNodePreference: of two equal nodes, the NVMe one has a pod on it,
// so kube-scheduler's own scorers send a pod to the other; pods the
// fast-disk rule set governs (app=pref-db) must all go to the NVMe node
// anyway, and a pod no rule governs to the emptier one.
func TestNodePreference(t *testing.T) {
	env := testenv.Current()
	startScheduler(t, profile(env.Kubeconfig, berthtest.WriteConfig(t, "nodes: {}\n")))
	nodes, ns := newNodes(t, "pref", nodegen.ProfileBasic, 2, map[int]map[string]string{
		0: {nodegen.LabelDiskType: "nvme"},
		1: {nodegen.LabelDiskType: "hdd"},
	})
	nvme, hdd := nodes[0], nodes[1]
	filler(t, ns, nvme, "2")
	var db []string
	for i := range 3 {
		name := fmt.Sprintf("db-%d", i)
		db = append(db, name)
		createPod(t, st.MakePod().Name(name).Namespace(ns).SchedulerName(schedulerName).Label("app", "pref-db").
			NodeSelector(map[string]string{groupLabel: "pref"}).Req("cpu", "100m", "memory", "128Mi").Obj())
	}
	createPod(t, st.MakePod().Name("other").Namespace(ns).SchedulerName(schedulerName).
		NodeSelector(map[string]string{groupLabel: "pref"}).Req("cpu", "100m", "memory", "128Mi").Obj())
	pods := waitBound(t, ns, append(db, "other")...)
	for _, name := range db {
		if got := pods[name].Spec.NodeName; got != nvme {
			t.Errorf("pod %s (app=pref-db) is on %s; the fast-disk rule set prefers %s (disk-type=nvme)", name, got, nvme)
		}
	}
	if got := pods["other"].Spec.NodeName; got != hdd {
		t.Errorf("pod other (no rule set) is on %s; kube-scheduler's scorers prefer the emptier %s", got, hdd)
	}
}

// TestLoadAware: of two nodes, the one the load file says is hot (95%
// CPU) is empty, the cool one (5%) has a pod on it. kube-scheduler's own
// scorers, which count requests, would pick the hot one; LoadAware must
// send the pods to the cool one.
func TestLoadAware(t *testing.T) {
	env := testenv.Current()
	opts := nodegen.Options{Count: 2, Prefix: "load-"}
	hot, cool := nodegen.NodeName(opts, 0), nodegen.NodeName(opts, 1)
	loads := berthtest.WriteConfig(t, fmt.Sprintf("nodes:\n  %s: {cpu: 0.95, memory: 0.90}\n  %s: {cpu: 0.05, memory: 0.10}\n", hot, cool))
	startScheduler(t, profile(env.Kubeconfig, loads))
	nodes, ns := newNodes(t, "load", nodegen.ProfileBasic, 2, nil)
	if nodes[0] != hot || nodes[1] != cool {
		t.Fatalf("nodes %v; want %s and %s", nodes, hot, cool)
	}
	filler(t, ns, cool, "2")
	names := []string{"web-0", "web-1"}
	for _, name := range names {
		createPod(t, st.MakePod().Name(name).Namespace(ns).SchedulerName(schedulerName).
			NodeSelector(map[string]string{groupLabel: "load"}).Req("cpu", "100m", "memory", "128Mi").Obj())
	}
	pods := waitBound(t, ns, names...)
	for _, name := range names {
		if got := pods[name].Spec.NodeName; got != cool {
			t.Errorf("pod %s is on %s; LoadAware measured it at 95%% CPU and %s at 5%%", name, got, cool)
		}
	}
}

// TestArgsErrors: a misspelt field in a berth plugin's args stops
// kube-scheduler-berth at start-up with the field's path, as berth run
// reports it.
func TestArgsErrors(t *testing.T) {
	env := testenv.Current()
	cfg := strings.Replace(profile(env.Kubeconfig, berthtest.WriteConfig(t, "nodes: {}\n")), "policy: FGD", "polcy: FGD", 1)
	p := startScheduler(t, cfg)
	select {
	case <-p.Done:
	case <-time.After(bindTimeout):
		t.Fatalf("kube-scheduler-berth is still running with a misspelt GPUShare arg")
	}
	if p.Cmd.ProcessState.Success() {
		t.Errorf("kube-scheduler-berth exited successfully with a misspelt GPUShare arg")
	}
	log := testenv.TailFile(p.Log, 40)
	want := "pluginConfig[GPUShare].args.polcy: Forbidden: unknown field"
	if !strings.Contains(log, want) {
		t.Errorf("log lacks %q:\n%s", want, log)
	}
}
