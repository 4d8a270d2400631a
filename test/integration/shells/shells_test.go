package shells

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
	"github.com/berthsched/berth/pkg/simulate"
	"github.com/berthsched/berth/pkg/simulate/whatif"
)

const (
	// profile is the schedulerName of the pods, served in turn by berth
	// run's profile, by kube-scheduler-berth's and by the stock
	// kube-scheduler's (which asks berth extender, evaluating with berth's
	// profile of the same name).
	profile = "berth-shells"
	// poolLabel keeps the GPU pods and the node-preference pods on their
	// own nodes.
	poolLabel = "shells.berth.io/pool"
	// gpuPods is how many pods of the openb trace run.
	gpuPods = 24
)

// nodePreferenceArgs is NodePreference's configuration in every shell:
// pods labelled app=db prefer NVMe, then SSD, and more IOPS; pods that
// name ssd-only need SSD or NVMe.
const nodePreferenceArgs = `
      ruleSets:
      - name: fast-disk
        selector:
          labelSelector:
            matchLabels: {app: db}
        preferred:
        - weight: 3
          labelValues:
            key: disk-type
            values: {nvme: 100, ssd: 70, hdd: 0}
        - weight: 2
          numeric: {key: disk-iops, function: log, min: 1000, max: 100000}
      - name: ssd-only
        required:
        - {key: disk-type, operator: In, values: [ssd, nvme]}
        preferred:
        - weight: 1
          numeric: {key: disk-iops, min: 1000, max: 100000}`

// berthConfig is berth's profile, for berth run and berth extender: the
// defaults (GPUShare included, FGD) with NodePreference added and the
// two plugins plugin mode does not run (GangScheduling) or that score
// only volumes (StorageLocality) left out, so that the three shells run
// the same plugins with the same weights.
func berthConfig() string {
	return `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: false
profiles:
- schedulerName: ` + profile + `
  plugins:
    multiPoint:
      enabled:
      - name: NodePreference
        weight: 3
      disabled:
      - name: StorageLocality
      - name: GangScheduling
  pluginConfig:
  - name: NodePreference
    args:` + nodePreferenceArgs + `
`
}

// kubeSchedulerBerthConfig is kube-scheduler-berth's: kube-scheduler's
// defaults plus berth's GPUShare and NodePreference with berth's weights.
func kubeSchedulerBerthConfig(kubeconfig string) string {
	return `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: ` + kubeconfig + `
leaderElection:
  leaderElect: false
profiles:
- schedulerName: ` + profile + `
  plugins:
    multiPoint:
      enabled:
      - name: GPUShare
        weight: 5
      - name: NodePreference
        weight: 3
  pluginConfig:
  - name: NodePreference
    args:` + nodePreferenceArgs + `
`
}

// extenderConfig is the stock kube-scheduler's, calling berth extender
// at url. The weight, 200, puts berth's choice (10 from prioritize, the
// others at most 9) 2,000 points ahead, beyond the at most 1,200 points
// kube-scheduler's own plugins can put between two nodes: berth decides.
func extenderConfig(kubeconfig, url string) string {
	return berthtest.ExtenderConfig(kubeconfig, profile, url, 200, "")
}

// gpuShapes are the GPU nodes: eight shapes of the openb trace (cards
// and model as in the trace), their CPU and memory scaled by 10/16 to
// 22/16 of the trace's. The scales were found by searching with the
// what-if so that no pod's best nodes tie (the trace's nodes are mostly
// identical, and identical nodes tie); predict checks it stays so.
var gpuShapes = []simulate.NodeRecord{
	{CPUMilli: 9000, MemoryMiB: 72704, GPUs: 2, Model: "P100"},
	{CPUMilli: 13000, MemoryMiB: 153600, GPUs: 2, Model: "P100"},
	{CPUMilli: 11000, MemoryMiB: 40960, GPUs: 1, Model: "V100M16"},
	{CPUMilli: 88000, MemoryMiB: 229376, GPUs: 8, Model: "V100M16"},
	{CPUMilli: 96000, MemoryMiB: 589824, GPUs: 8, Model: "G3"},
	{CPUMilli: 78000, MemoryMiB: 1032192, GPUs: 8, Model: "V100M32"},
	{CPUMilli: 48000, MemoryMiB: 518144, GPUs: 4, Model: "V100M32"},
	{CPUMilli: 44000, MemoryMiB: 180224, GPUs: 4, Model: "V100M16"},
}

// cpuNode is a node for the node-preference pods.
type cpuNode struct {
	name           string
	cores, memGi   int64
	diskType, iops string
}

// cpuNodes have irregular sizes and disks, so that scores, not the
// tie-break, decide.
var cpuNodes = []cpuNode{
	{"disk-a", 24, 96, "nvme", "90000"},
	{"disk-b", 40, 160, "ssd", "30000"},
	{"disk-c", 16, 64, "hdd", "2000"},
	{"disk-d", 56, 224, "ssd", "55000"},
	{"disk-e", 32, 112, "nvme", "12000"},
}

// createNodes creates the GPU nodes (as the openb trace describes them)
// and the disk nodes, and returns the GPU models present.
func createNodes(t *testing.T, ctx context.Context, gpu []simulate.NodeRecord) []string {
	t.Helper()
	c := testenv.Current().Client
	var models []string
	var nodes []*v1.Node
	for _, r := range gpu {
		n := simulate.NodeObject(r)
		n.UID = ""
		n.Labels[poolLabel] = "gpu"
		nodes = append(nodes, n)
		if !slices.Contains(models, r.Model) {
			models = append(models, r.Model)
		}
	}
	for _, d := range cpuNodes {
		alloc := v1.ResourceList{
			v1.ResourceCPU:    *resource.NewQuantity(d.cores, resource.DecimalSI),
			v1.ResourceMemory: *resource.NewQuantity(d.memGi<<30, resource.BinarySI),
			v1.ResourcePods:   resource.MustParse("110"),
		}
		nodes = append(nodes, &v1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: d.name, Labels: map[string]string{
				v1.LabelHostname: d.name, poolLabel: "cpu", "disk-type": d.diskType, "disk-iops": d.iops}},
			Status: v1.NodeStatus{Capacity: alloc, Allocatable: alloc.DeepCopy()},
		})
	}
	// nodegen makes them Ready and without the not-ready taint the API
	// server adds at creation; then each gets its shape.
	opts := nodegen.Options{Count: len(nodes), Prefix: "shell-", Zones: 1}
	if _, err := nodegen.Create(ctx, c, opts); err != nil {
		t.Fatal(err)
	}
	for i, want := range nodes {
		n, err := c.CoreV1().Nodes().Get(ctx, nodegen.NodeName(opts.Defaults(), i), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Status.Capacity, n.Status.Allocatable = want.Status.Capacity, want.Status.Allocatable
		if n, err = c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("setting the status of node %s: %v", n.Name, err)
		}
		for k, v := range want.Labels {
			if k != v1.LabelHostname {
				n.Labels[k] = v
			}
		}
		if _, err := c.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("labelling node %s: %v", n.Name, err)
		}
	}
	return models
}

// workload is the pods, named so that their order is their creation
// order: the first gpuPods GPU pods of the openb trace that ask for a
// model present and for at most 4 cards (an 8-card pod needs an empty
// 8-card node, which a cluster of eight nodes no longer has once the
// shares before it spread), then the node-preference cases.
func workload(tr *simulate.Trace, models []string) []*v1.Pod {
	var pods []*v1.Pod
	for _, r := range tr.Pods {
		if r.NumGPU == 0 || r.NumGPU > 4 {
			continue
		}
		if r.GPUSpec != "" && !slices.ContainsFunc(strings.Split(r.GPUSpec, "|"), func(m string) bool { return slices.Contains(models, m) }) {
			continue
		}
		p := simulate.PodObject(r, "")
		p.Namespace = ""
		p.Name = fmt.Sprintf("p%02d-%s", len(pods), r.Name)
		p.Spec.NodeSelector = map[string]string{poolLabel: "gpu"}
		p.Spec.Containers[0].Image = "registry.k8s.io/pause:3.10"
		pods = append(pods, p)
		if len(pods) == gpuPods {
			break
		}
	}
	cases := []struct {
		kind string
		cpu  string
	}{
		{"db", "6"}, {"ssd-only", "3"}, {"plain", "5"}, {"db", "9"},
		{"ssd-only", "7"}, {"db", "4"}, {"plain", "11"}, {"db", "2"},
	}
	for _, c := range cases {
		p := &v1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%02d-%s", len(pods), c.kind)},
			Spec: v1.PodSpec{
				NodeSelector: map[string]string{poolLabel: "cpu"},
				Containers: []v1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10", Resources: v1.ResourceRequirements{
					Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(c.cpu), v1.ResourceMemory: resource.MustParse(c.cpu + "Gi")},
				}}},
			},
		}
		switch c.kind {
		case "db":
			p.Labels = map[string]string{"app": "db"}
		case "ssd-only":
			p.Annotations = map[string]string{"berth.io/node-preference": "ssd-only"}
		}
		pods = append(pods, p)
	}
	for _, p := range pods {
		p.Spec.SchedulerName = profile
	}
	return pods
}

// choice is where one shell put one pod.
type choice struct {
	Node  string
	Cards string
}

// place creates the pods in a new namespace one at a time, each once the
// previous is bound (so every shell meets the same cluster state for
// every pod), records where each went, and deletes them again.
func place(t *testing.T, ctx context.Context, shell string, pods []*v1.Pod, alive func()) map[string]choice {
	t.Helper()
	env := testenv.Current()
	c := env.Client
	ns := env.CreateNamespace(t, "shell-"+shell)
	out := map[string]choice{}
	for _, p := range pods {
		p = p.DeepCopy()
		p.Namespace = ns
		if _, err := c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("%s: creating %s: %v", shell, p.Name, err)
		}
		var bound *v1.Pod
		berthtest.WaitFor(t, time.Minute, shell+" to bind "+p.Name, func() (bool, string) {
			alive()
			got, err := c.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			bound = got
			return got.Spec.NodeName != "", "pending"
		})
		out[p.Name] = choice{Node: bound.Spec.NodeName, Cards: bound.Annotations[gpushare.AnnotationAssignment]}
	}
	if err := c.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	berthtest.WaitFor(t, time.Minute, shell+"'s pods to be deleted", func() (bool, string) {
		list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(list.Items) == 0, fmt.Sprintf("%d left", len(list.Items))
	})
	return out
}

// stop ends a shell's process with SIGTERM and waits for it.
func stop(t *testing.T, p *berthtest.Process) {
	t.Helper()
	if !p.Exited() {
		if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatalf("stopping %s: %v", p.Name, err)
		}
	}
	select {
	case <-p.Done:
	case <-time.After(30 * time.Second):
		p.Kill(t)
	}
}

// aliveCheck fails t when one of ps has exited.
func aliveCheck(t *testing.T, ps ...*berthtest.Process) func() {
	return func() {
		for _, p := range ps {
			if p.Exited() {
				t.Fatalf("%s exited (%v); last lines of its log:\n%s", p.Name, p.Cmd.ProcessState, testenv.TailFile(p.Log, 30))
			}
		}
	}
}

// predict asks the what-if (ties broken by name, as berth run and berth
// extender run here) where the pods go, with all of them pending in one
// namespace, and fails t if any pod's best nodes tied: kube-scheduler
// breaks ties its own way (by its node order), so a tie would make plugin
// mode's agreement luck.
func predict(t *testing.T, ctx context.Context, cfg string, pods []*v1.Pod) map[string]string {
	t.Helper()
	env := testenv.Current()
	c := env.Client
	ns := env.CreateNamespace(t, "shells-plan")
	for _, p := range pods {
		p = p.DeepCopy()
		p.Namespace = ns
		if _, err := c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	out := berthtest.Berth(t, "simulate", "whatif", "--cluster", "--kubeconfig", env.Kubeconfig, "--config", cfg,
		"--tie-break", "name", "-o", "json")
	var res whatif.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("decoding the what-if: %v\n%s", err, out)
	}
	if err := c.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, p := range res.Placements {
		name := p.Pod[strings.IndexByte(p.Pod, '/')+1:]
		if p.Before == "" {
			t.Errorf("the what-if places %s nowhere: %s", name, p.BeforeReason)
		}
		if p.TiedBefore {
			t.Errorf("%s: its best nodes tied; the workload must let scores decide every pod", name)
		}
		want[name] = p.Before
	}
	if len(want) != len(pods) {
		t.Fatalf("the what-if placed %d pods, want %d: %+v", len(want), len(pods), res.Placements)
	}
	if t.Failed() {
		t.FailNow()
	}
	return want
}

// TestOneDecisionThreeShells runs the workload through berth run,
// kube-scheduler-berth and kube-scheduler + berth extender in turn and
// requires the same node for every pod, and the same cards for every GPU
// pod, in all three, and the nodes the what-if predicts.
func TestOneDecisionThreeShells(t *testing.T) {
	env := testenv.Current()
	ctx := context.Background()
	tr, err := simulate.DefaultTrace()
	if err != nil {
		t.Fatal(err)
	}
	models := createNodes(t, ctx, gpuShapes)
	pods := workload(tr, models)
	cfg := berthtest.WriteConfig(t, berthConfig())
	want := predict(t, ctx, cfg, pods)

	results := map[string]map[string]choice{}
	shells := []string{"berth run", "kube-scheduler-berth", "kube-scheduler + berth extender"}

	run := berthtest.StartRun(t, "berth-run", "--config", cfg, "--tie-break=name")
	results[shells[0]] = place(t, ctx, "standalone", pods, aliveCheck(t, run))
	stop(t, run)

	plugin := berthtest.StartBinary(t, "kube-scheduler-berth", "kube-scheduler-berth",
		"--config", berthtest.WriteConfig(t, kubeSchedulerBerthConfig(env.Kubeconfig)), "--secure-port=0", "-v=2")
	results[shells[1]] = place(t, ctx, "plugin", pods, aliveCheck(t, plugin))
	stop(t, plugin)

	ports, err := testenv.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	ext := berthtest.StartProcess(t, "berth-extender", "extender", "--config", cfg, "--profile", profile,
		"--tie-break=name", "--address", addr, "-v=2")
	berthtest.WaitReady(t, ext, addr)
	ks := berthtest.StartBinary(t, "kube-scheduler", "kube-scheduler",
		"--config", berthtest.WriteConfig(t, extenderConfig(env.Kubeconfig, "http://"+addr)), "--secure-port=0", "-v=2")
	results[shells[2]] = place(t, ctx, "extender", pods, aliveCheck(t, ext, ks))
	stop(t, ks)
	stop(t, ext)

	gpu := 0
	for _, p := range pods {
		base := results[shells[0]][p.Name]
		if base.Node != want[p.Name] {
			t.Errorf("%s: berth run chose %s, the what-if %s", p.Name, base.Node, want[p.Name])
		}
		if _, share := p.Annotations[gpushare.AnnotationMilli]; share || p.Spec.NodeSelector[poolLabel] == "gpu" {
			gpu++
			if base.Cards == "" {
				t.Errorf("%s: berth run wrote no %s", p.Name, gpushare.AnnotationAssignment)
			}
		}
		for _, s := range shells[1:] {
			if got := results[s][p.Name]; got != base {
				t.Errorf("%s: %s chose node %s cards %q; berth run node %s cards %q", p.Name, s, got.Node, got.Cards, base.Node, base.Cards)
			}
		}
	}
	// The comparison means something only if the workload spreads: the
	// pods must not all have gone to one node.
	used := map[string]bool{}
	for _, c := range results[shells[0]] {
		used[c.Node] = true
	}
	t.Logf("%d pods (%d with GPUs) on %d nodes; every shell chose alike", len(pods), gpu, len(used))
	if len(used) < 5 {
		t.Errorf("the pods went to only %d nodes: the workload does not exercise the scores", len(used))
	}
}
