package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// pendingOf returns the names of the pods of the unschedulable sets that
// are still pending, in workload order.
func pendingOf(sets []*workload, pods *v1.PodList) []string {
	bound := map[string]bool{}
	for _, p := range pods.Items {
		bound[p.Name] = p.Spec.NodeName != ""
	}
	var out []string
	for _, w := range sets {
		if !w.unschedulable {
			continue
		}
		for _, p := range w.pods {
			if !bound[p.Name] {
				out = append(out, p.Name)
			}
		}
	}
	return out
}

// explainPending runs `berth explain` (the same binary the demo runs as the
// scheduler, against the same cluster) for each named pod and prints its
// answer, so the demo shows why they are pending and what would make them
// fit.
func explainPending(ctx context.Context, u *ui, bin, kubeconfig string, names []string) error {
	for _, name := range names {
		u.step("berth explain pod/%s -n %s", name, namespace)
		cmd := exec.CommandContext(ctx, bin, "explain", "pod/"+name, "-n", namespace, "--kubeconfig", kubeconfig)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("berth explain pod/%s: %v: %s", name, err, strings.TrimSpace(errb.String()))
		}
		for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
			if line == "" {
				u.plain("")
				continue
			}
			u.plain("    %s", line)
		}
	}
	return nil
}
