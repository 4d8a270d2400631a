package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
)

// The GPU sharing part: berth's GPUShare plugin places pods on cards, not
// only on nodes. Two nodes of nodegen's gpu profile form a pool: an
// 8-card H100 node for training and a 4-card node relabelled as an L4
// inference node. A trainer takes every H100 card, inference pods take
// shares of L4 cards, a fine-tuning job two whole L4 cards, and one more
// share fits on no card.
//
// The inference pods ask for the L4 model, which only the pool has, so
// that GPUShare's explanation of the pending one is about the pool's
// cards: it names the closest node among all nodes of a model the pod
// accepts, including nodes that other filters (here the pool's node
// selector) rejected.
//
// The pods are created one at a time, each once the previous one is
// bound, so every decision sees the previous ones and the layout is the
// same on every run: the trainer can only go to the H100 node, the shares
// and the fine-tuning job only to the L4 node, and among equally good
// cards GPUShare takes the lowest-indexed one.
const (
	gpuPoolLabel   = "demo.berth.dev/pool"
	gpuPoolValue   = "gpu-share"
	gpuPendingName = "wants-half"
	// The inference node's model and card memory (MiB).
	inferenceModel  = "NVIDIA-L4"
	inferenceMemory = "23034"
	trainingModel   = "NVIDIA-H100-80GB-HBM3"
)

var gpuShareNodeOpts = nodegen.Options{Count: 2, Profile: nodegen.ProfileGPU, Prefix: "gpu-share-", Zones: 1}

// gpuSharePod is one pod of the GPU sharing part.
type gpuSharePod struct {
	name  string
	cards int64             // whole cards (nvidia.com/gpu)
	ann   map[string]string // berth.io/gpu-* annotations
}

var gpuSharePods = []gpuSharePod{
	{name: "llm-train", cards: 8, ann: map[string]string{gpushare.AnnotationModel: trainingModel}},
	{name: "infer-a", ann: map[string]string{gpushare.AnnotationMilli: "600", gpushare.AnnotationMemory: "10Gi", gpushare.AnnotationModel: inferenceModel}},
	{name: "infer-b", ann: map[string]string{gpushare.AnnotationMilli: "700", gpushare.AnnotationMemory: "16Gi", gpushare.AnnotationModel: inferenceModel}},
	{name: "embed-a", ann: map[string]string{gpushare.AnnotationMilli: "250", gpushare.AnnotationMemory: "4Gi", gpushare.AnnotationModel: inferenceModel}},
	{name: "embed-b", ann: map[string]string{gpushare.AnnotationMilli: "150", gpushare.AnnotationModel: inferenceModel}},
	{name: "finetune", cards: 2},
	{name: gpuPendingName, ann: map[string]string{gpushare.AnnotationMilli: "500", gpushare.AnnotationModel: inferenceModel}},
}

// describe renders what the pod asks for, as its spec says it.
func (p gpuSharePod) describe() string {
	var parts []string
	if p.cards > 0 {
		parts = append(parts, fmt.Sprintf("%s: %d", nodegen.ResourceGPU, p.cards))
	}
	for _, k := range []string{gpushare.AnnotationMilli, gpushare.AnnotationMemory, gpushare.AnnotationModel} {
		if v, ok := p.ann[k]; ok {
			parts = append(parts, fmt.Sprintf("%s: %s", k, v))
		}
	}
	return strings.Join(parts, ", ")
}

func (p gpuSharePod) obj() *v1.Pod {
	pod := newPod("1", "4Gi", p.cards)
	pod.Name = p.name
	pod.Annotations = map[string]string{}
	for k, v := range p.ann {
		pod.Annotations[k] = v
	}
	pod.Spec.NodeSelector = map[string]string{gpuPoolLabel: gpuPoolValue}
	pod.Spec.Tolerations = []v1.Toleration{{Key: gpuTaint.Key, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule}}
	return pod
}

// runGPUShare creates the pool and its pods, prints the cards as the
// pods' assignment annotations describe them and why the last pod is
// pending, and runs berth explain on it.
func runGPUShare(ctx context.Context, u *ui, client kubernetes.Interface, bin, kubeconfig string, timeout time.Duration) error {
	u.step("GPU sharing: GPUShare places pods on cards, whole or in shares")
	if _, err := nodegen.Create(ctx, client, gpuShareNodeOpts); err != nil {
		return fmt.Errorf("create GPU sharing nodes: %v", err)
	}
	var names, descs []string
	for i := range gpuShareNodeOpts.Count {
		names = append(names, nodegen.NodeName(gpuShareNodeOpts, i))
	}
	if err := taint(ctx, client, names, gpuTaint, map[string]string{gpuPoolLabel: gpuPoolValue}); err != nil {
		return err
	}
	// The 4-card node becomes the L4 inference node.
	relabel := map[string]string{gpushare.DefaultModelLabel: inferenceModel, gpushare.DefaultMemoryLabel: inferenceMemory}
	if err := taint(ctx, client, names[:1], gpuTaint, relabel); err != nil {
		return err
	}
	nodes := map[string]*v1.Node{}
	for _, name := range names {
		n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		nodes[name] = n
		gpus := n.Status.Allocatable[nodegen.ResourceGPU]
		descs = append(descs, fmt.Sprintf("%s (%d × %s, %s MiB each)", name, gpus.Value(), n.Labels[gpushare.DefaultModelLabel], n.Labels[gpushare.DefaultMemoryLabel]))
	}
	u.done("Created %s; tainted %s=%s:NoSchedule, labelled %s=%s", strings.Join(descs, " and "), gpuTaint.Key, gpuTaint.Value, gpuPoolLabel, gpuPoolValue)
	u.plain("    Each pod tolerates the taint and selects %s=%s:", gpuPoolLabel, gpuPoolValue)
	for _, p := range gpuSharePods {
		u.plain("    Pod %-12s %s", p.name, p.describe())
	}

	t := time.Now()
	for _, p := range gpuSharePods {
		if _, err := client.CoreV1().Pods(namespace).Create(ctx, p.obj(), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create pod %s: %v", p.name, err)
		}
		for {
			pod, err := client.CoreV1().Pods(namespace).Get(ctx, p.name, metav1.GetOptions{})
			if err == nil && p.name == gpuPendingName && pod.Spec.NodeName != "" {
				return fmt.Errorf("pod %s was bound to %s; no card should have had room for it", p.name, pod.Spec.NodeName)
			}
			if err == nil && (pod.Spec.NodeName != "" || (p.name == gpuPendingName && isUnschedulable(pod))) {
				break
			}
			if time.Since(t) > time.Second {
				u.progress("%4.1fs  waiting for %s", time.Since(t).Seconds(), p.name)
			}
			if time.Since(t) > timeout {
				u.abort()
				return fmt.Errorf("pod %s was not scheduled within %s", p.name, timeout)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	u.done("Created them one at a time: %d bound and %s reported unschedulable, in %s", len(gpuSharePods)-1, gpuPendingName, since(t))

	pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	if err := printGPUCards(names, nodes, pods.Items); err != nil {
		return err
	}
	return explainPending(ctx, u, bin, kubeconfig, []string{gpuPendingName})
}

// gpuCard is one card's row: what the assignments put on it.
type gpuCard struct {
	milli, memMiB int64
	pods          []string
	whole         string // the pod holding the whole card
}

// printGPUCards prints, per node and card, the share used, the card
// memory granted and the pods, read from the berth.io/gpu-assignment
// annotations, and the pending pod's FailedScheduling message. Cards a
// pod holds whole are shown as one row per pod.
func printGPUCards(names []string, nodes map[string]*v1.Node, pods []v1.Pod) error {
	cards := map[string][]gpuCard{}
	for _, name := range names {
		q := nodes[name].Status.Allocatable[nodegen.ResourceGPU]
		cards[name] = make([]gpuCard, q.Value())
	}
	// In the order they were placed.
	order := map[string]int{}
	for i, p := range gpuSharePods {
		order[p.name] = i
	}
	sort.SliceStable(pods, func(i, j int) bool { return order[pods[i].Name] < order[pods[j].Name] })
	var pending *v1.Pod
	for i := range pods {
		p := &pods[i]
		if p.Name == gpuPendingName {
			pending = p
		}
		if cards[p.Spec.NodeName] == nil {
			continue
		}
		a, err := gpushare.ParseAssignment(p.Annotations[gpushare.AnnotationAssignment])
		if err != nil {
			return fmt.Errorf("pod %s on %s: %v", p.Name, p.Spec.NodeName, err)
		}
		for _, idx := range a.Cards {
			c := &cards[p.Spec.NodeName][idx]
			if a.Milli >= 1000 {
				c.whole = p.Name
				continue
			}
			c.milli += a.Milli
			c.memMiB += a.MemoryMiB
			c.pods = append(c.pods, fmt.Sprintf("%s (%d)", p.Name, a.Milli))
		}
	}

	fmt.Println()
	fmt.Printf("  Cards, from the %s annotation berth writes on each pod before binding it:\n", gpushare.AnnotationAssignment)
	fmt.Printf("  %-16s %-5s %-22s %-6s %-14s %s\n", "NODE", "CARD", "MODEL", "MILLI", "MEMORY MiB", "PODS")
	for _, name := range names {
		model := nodes[name].Labels[gpushare.DefaultModelLabel]
		memory := nodes[name].Labels[gpushare.DefaultMemoryLabel]
		cs := cards[name]
		for i := 0; i < len(cs); {
			c := cs[i]
			if c.whole != "" {
				j := i
				for j+1 < len(cs) && cs[j+1].whole == c.whole {
					j++
				}
				idx := strconv.Itoa(i)
				if j > i {
					idx = fmt.Sprintf("%d-%d", i, j)
				}
				fmt.Printf("  %-16s %-5s %-22s %-6s %-14s %s (whole cards)\n", name, idx, model, "1000", "all", c.whole)
				i = j + 1
				continue
			}
			pods := strings.Join(c.pods, ", ")
			if pods == "" {
				pods = "(free)"
			}
			fmt.Printf("  %-16s %-5d %-22s %-6d %-14s %s\n", name, i, model, c.milli, fmt.Sprintf("%d/%s", c.memMiB, memory), pods)
			i++
		}
	}
	if pending != nil {
		if c := scheduledCondition(pending); c != nil && pending.Spec.NodeName == "" {
			fmt.Printf("  %s pending: %s\n", pending.Name, c.Message)
		}
	}
	fmt.Println()
	return nil
}
