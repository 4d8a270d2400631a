package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The what-if part: `berth snapshot save` writes the demo cluster's state
// to a file, and `berth simulate whatif` answers three questions on it
// with berth's own core, without touching the cluster: what if zone-a
// were drained, what if six more web replicas arrived (and how many of a
// big pod would still fit), and which pods would a packing configuration
// move.
const (
	whatIfWeb = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web-extra, namespace: ` + namespace + `}
spec:
  replicas: 6
  selector: {matchLabels: {app: web-extra}}
  template:
    metadata: {labels: {app: web-extra}}
    spec:
      schedulerName: berth
      containers: [{name: app, image: registry.k8s.io/pause:3.10, resources: {requests: {cpu: "2", memory: 4Gi}}}]
`
	whatIfProbe = `apiVersion: v1
kind: Pod
metadata: {name: big, namespace: ` + namespace + `}
spec:
  schedulerName: berth
  containers: [{name: app, image: registry.k8s.io/pause:3.10, resources: {requests: {cpu: "6", memory: 24Gi}}}]
`
)

// runWhatIf saves a snapshot and prints three what-ifs on it; the
// packing configuration is docs/examples/most-allocated.yaml under repo.
func runWhatIf(ctx context.Context, u *ui, bin, kubeconfig, repo string) error {
	packing := filepath.Join(repo, "docs", "examples", "most-allocated.yaml")
	dir, err := os.MkdirTemp("", "berth-demo-whatif-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	files := map[string]string{"web.yaml": whatIfWeb, "big.yaml": whatIfProbe}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	snap := filepath.Join(dir, "cluster.yaml")
	in := func(name string) string { return filepath.Join(dir, name) }
	steps := []struct {
		title string
		args  []string
	}{
		{"berth snapshot save -o cluster.yaml", []string{"snapshot", "save", "-o", snap, "--kubeconfig", kubeconfig}},
		{"berth simulate whatif --snapshot cluster.yaml --remove-nodes topology.kubernetes.io/zone=zone-a",
			[]string{"simulate", "whatif", "--snapshot", snap, "--remove-nodes", "topology.kubernetes.io/zone=zone-a"}},
		{"berth simulate whatif --snapshot cluster.yaml --add web.yaml --capacity big.yaml",
			[]string{"simulate", "whatif", "--snapshot", snap, "--add", in("web.yaml"), "--capacity", in("big.yaml")}},
		{"berth simulate whatif --snapshot cluster.yaml --mode all --config-after docs/examples/most-allocated.yaml",
			[]string{"simulate", "whatif", "--snapshot", snap, "--mode", "all", "--config-after", packing}},
	}
	for _, s := range steps {
		u.step("%s", s.title)
		cmd := exec.CommandContext(ctx, bin, s.args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("berth %s: %v: %s", strings.Join(s.args, " "), err, strings.TrimSpace(errb.String()))
		}
		text := out.String()
		if s.args[0] == "snapshot" {
			text = errb.String() // the summary line; the snapshot is the file
			text = text[strings.LastIndex(strings.TrimRight(text, "\n"), "\n")+1:]
		}
		for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
			u.plain("    %s", strings.ReplaceAll(strings.ReplaceAll(line, dir+"/", ""), repo+"/", ""))
		}
	}
	return nil
}
