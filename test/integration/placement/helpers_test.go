package placement

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/placement/network"
)

const (
	// testLabel on a node names the test that created it; the key of its
	// NoSchedule taint too. The test's pods select and tolerate it.
	testLabel = "placement-test.berth.io/test"
	// rackLabel is the rack label NetworkAware's default levels read.
	rackLabel = network.RackLabel
	// pauseImage is never pulled: no kubelet runs.
	pauseImage = "registry.k8s.io/pause:3.10"
	// bindTimeout bounds the wait for a group of pods to be bound.
	bindTimeout = 30 * time.Second
)

// env is one test's slice of the cluster: its name (scheduler name
// berth-<name>, node prefix, label), namespace, configuration and nodes.
type env struct {
	t    *testing.T
	name string
	ns   string
	cfg  string
	// nodes are the test's nodes' labels, by node name.
	nodes map[string]map[string]string
}

// newEnv creates the test's nodes (count of nodegen's basic shape: 7.81
// CPUs, ~30Gi, relabelled by labels(i) on top of the hostname and the
// test label, and tainted testLabel=name:NoSchedule), its namespace, and
// starts berth with config (a KubeSchedulerConfiguration whose profile's
// schedulerName is "%[1]s", filled in with berth-<name>). Nodes and pods
// are deleted when t ends.
func newEnv(t *testing.T, name string, count int, labels func(i int) map[string]string, config string) *env {
	t.Helper()
	ctx := context.Background()
	c := testenv.Current().Client
	e := &env{t: t, name: name, nodes: map[string]map[string]string{}}
	opts := nodegen.Options{Count: count, Profile: nodegen.ProfileBasic, Prefix: "pl-" + name + "-", Zones: 1}
	t.Cleanup(func() {
		for n := range e.nodes {
			if err := c.CoreV1().Nodes().Delete(context.Background(), n, metav1.DeleteOptions{}); err != nil {
				t.Errorf("deleting node %s: %v", n, err)
			}
		}
	})
	if _, err := nodegen.Create(ctx, c, opts); err != nil {
		t.Fatalf("creating nodes: %v", err)
	}
	for i := range count {
		n := nodegen.NodeName(opts, i)
		// nodegen's zone, region and disk labels are replaced by the
		// test's (null deletes a label in a merge patch).
		set := map[string]any{v1.LabelTopologyZone: nil, v1.LabelTopologyRegion: nil, nodegen.LabelDiskType: nil, testLabel: name}
		for k, v := range labels(i) {
			set[k] = v
		}
		patch, _ := json.Marshal(map[string]any{
			"metadata": map[string]any{"labels": set},
			"spec":     map[string]any{"taints": []v1.Taint{{Key: testLabel, Value: name, Effect: v1.TaintEffectNoSchedule}}},
		})
		node, err := c.CoreV1().Nodes().Patch(ctx, n, types.MergePatchType, patch, metav1.PatchOptions{})
		if err != nil {
			t.Fatalf("labelling node %s: %v", n, err)
		}
		e.nodes[n] = node.Labels
	}
	e.ns = testenv.Current().CreateNamespace(t, "pl-"+name)
	t.Cleanup(func() {
		err := c.CoreV1().Pods(e.ns).DeleteCollection(context.Background(),
			metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{})
		if err != nil {
			t.Errorf("deleting the pods of %s: %v", e.ns, err)
		}
	})
	e.cfg = berthtest.WriteConfig(t, fmt.Sprintf(config, e.scheduler()))
	berthtest.StartRun(t, "berth-"+name, "--config", e.cfg)
	return e
}

// scheduler is the test's scheduler name.
func (e *env) scheduler() string { return "berth-" + e.name }

// configFor is a KubeSchedulerConfiguration with one profile (its
// schedulerName "%[1]s", filled in by newEnv) that enables plugin at
// weight, with args (YAML under "args:", indented by six spaces; "" for
// none).
func configFor(plugin string, weight int, args string) string {
	cfg := "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: %[1]s\n" +
		fmt.Sprintf("  plugins:\n    multiPoint:\n      enabled:\n      - name: %s\n        weight: %d\n", plugin, weight)
	if args != "" {
		cfg += fmt.Sprintf("  pluginConfig:\n  - name: %s\n    args:\n%s", plugin, args)
	}
	return cfg
}

// workload is a Deployment's ReplicaSet and the pods it would create,
// created directly (nothing reconciles the ReplicaSet).
type workload struct {
	app string
	// cpu is each pod's CPU request.
	cpu string
	// talksTo, if set, is the pods' berth.io/talks-to annotation.
	talksTo string
	// edit, if set, changes each pod before it is created.
	edit func(*v1.Pod)

	rs *appsv1.ReplicaSet
}

// replicaSet creates the workload's ReplicaSet (once).
func (e *env) replicaSet(w *workload) *appsv1.ReplicaSet {
	e.t.Helper()
	if w.rs != nil {
		return w.rs
	}
	sel := map[string]string{"app": w.app}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: w.app + "-5d8f7", Namespace: e.ns},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](0),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: v1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: pauseImage}}},
			},
		},
	}
	created, err := testenv.Current().Client.AppsV1().ReplicaSets(e.ns).Create(context.Background(), rs, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating ReplicaSet %s: %v", rs.Name, err)
	}
	w.rs = created
	return created
}

// pod builds replica i of w: labelled app=<app>, owned by its
// ReplicaSet, selecting and tolerating the test's nodes.
func (e *env) pod(w *workload, i int) *v1.Pod {
	rs := e.replicaSet(w)
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("%s-%d", w.app, i), Namespace: e.ns, Labels: map[string]string{"app": w.app},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
		},
		Spec: v1.PodSpec{
			SchedulerName:                 e.scheduler(),
			NodeSelector:                  map[string]string{testLabel: e.name},
			Tolerations:                   []v1.Toleration{{Key: testLabel, Operator: v1.TolerationOpEqual, Value: e.name, Effect: v1.TaintEffectNoSchedule}},
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers: []v1.Container{{Name: "c", Image: pauseImage, Resources: v1.ResourceRequirements{Requests: v1.ResourceList{
				v1.ResourceCPU: resource.MustParse(w.cpu), v1.ResourceMemory: resource.MustParse("128Mi"),
			}}}},
		},
	}
	if w.talksTo != "" {
		p.Annotations = map[string]string{network.TalksToAnnotation: w.talksTo}
	}
	if w.edit != nil {
		w.edit(p)
	}
	return p
}

// run creates replicas from..to-1 of w at once and waits until they are
// all bound; it returns their nodes by pod name.
func (e *env) run(w *workload, from, to int) map[string]string {
	e.t.Helper()
	var names []string
	for i := from; i < to; i++ {
		p := e.create(e.pod(w, i))
		names = append(names, p.Name)
	}
	return e.waitBound(names...)
}

// create creates a pod.
func (e *env) create(p *v1.Pod) *v1.Pod {
	e.t.Helper()
	created, err := testenv.Current().Client.CoreV1().Pods(e.ns).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating pod %s: %v", p.Name, err)
	}
	return created
}

// waitBound waits until the named pods are bound and returns their nodes.
func (e *env) waitBound(names ...string) map[string]string {
	e.t.Helper()
	c := testenv.Current().Client
	out := map[string]string{}
	berthtest.WaitFor(e.t, bindTimeout, fmt.Sprintf("pods %v to be bound", names), func() (bool, string) {
		var pending []string
		for _, n := range names {
			if out[n] != "" {
				continue
			}
			p, err := c.CoreV1().Pods(e.ns).Get(context.Background(), n, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			if p.Spec.NodeName == "" {
				pending = append(pending, n+" ("+scheduled(p)+")")
				continue
			}
			out[n] = p.Spec.NodeName
		}
		return len(pending) == 0, "pending: " + strings.Join(pending, ", ")
	})
	return out
}

// scheduled says why the pod is not bound yet: its PodScheduled
// condition's reason and message, if it has one.
func scheduled(p *v1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodScheduled {
			return c.Reason + ": " + c.Message
		}
	}
	return "not tried yet"
}

// failedScheduling waits for a FailedScheduling event on the pod and
// returns its message, after checking that the pod is still unbound.
func (e *env) failedScheduling(pod string) string {
	e.t.Helper()
	c := testenv.Current().Client
	var msg string
	berthtest.WaitFor(e.t, bindTimeout, "a FailedScheduling event on "+pod, func() (bool, string) {
		evs, err := c.CoreV1().Events(e.ns).List(context.Background(), metav1.ListOptions{
			FieldSelector: "reason=FailedScheduling,involvedObject.name=" + pod})
		if err != nil {
			return false, err.Error()
		}
		if len(evs.Items) == 0 {
			return false, "no event yet"
		}
		msg = evs.Items[len(evs.Items)-1].Message
		return true, ""
	})
	p, err := c.CoreV1().Pods(e.ns).Get(context.Background(), pod, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	if p.Spec.NodeName != "" {
		e.t.Fatalf("pod %s was bound to %s after a FailedScheduling event (%s)", pod, p.Spec.NodeName, msg)
	}
	return msg
}

// label is a node's label value.
func (e *env) label(node, key string) string { return e.nodes[node][key] }

// domains is the set of values of key on the nodes the pods run on.
func (e *env) domains(placed map[string]string, key string) map[string]int {
	out := map[string]int{}
	for _, n := range placed {
		out[e.label(n, key)]++
	}
	return out
}

// describe lists the pods with their nodes and the nodes' values of keys,
// sorted, for messages.
func (e *env) describe(placed map[string]string, keys ...string) string {
	var out []string
	for p, n := range placed {
		var vals []string
		for _, k := range keys {
			vals = append(vals, e.label(n, k))
		}
		out = append(out, fmt.Sprintf("%s→%s(%s)", p, n, strings.Join(vals, "/")))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// explain runs `berth explain` with the test's configuration on a pod.
func (e *env) explain(pod string) string {
	e.t.Helper()
	return berthtest.Explain(e.t, "--config", e.cfg, "-n", e.ns, pod)
}

// nodeLines are the lines of an explanation that name a node of the test,
// with the node's name, for assertions on one node's notes.
func nodeLines(out, node string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), node+":") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return lines
}
