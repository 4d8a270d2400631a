package whatif

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadWorkloads(t *testing.T) {
	ws, err := ReadWorkloads(writeFile(t, `# a comment-only document is skipped
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: x}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: data}
spec:
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: c, image: x}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 0 * * *"
  jobTemplate:
    spec:
      parallelism: 4
      template:
        spec: {restartPolicy: Never, containers: [{name: c, image: x}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, w := range ws {
		for _, p := range w.Pods {
			names = append(names, p.Namespace+"/"+p.Name)
		}
	}
	want := "default/web-00000 default/web-00001 default/web-00002 data/db-0 data/db-1 default/nightly-00000 default/nightly-00001 default/nightly-00002 default/nightly-00003"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("pods = %s\nwant   %s", got, want)
	}
	if ws[0].Pods[0].Labels["app"] != "web" {
		t.Errorf("template labels not kept: %v", ws[0].Pods[0].Labels)
	}

	for name, in := range map[string]string{
		"daemonset": "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent}\nspec: {selector: {}, template: {spec: {containers: []}}}\n",
		"service":   "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n",
		"garbage":   "kind: [\n",
		"empty":     "# nothing\n",
	} {
		if _, err := ReadWorkloads(writeFile(t, in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestReadNode(t *testing.T) {
	n, err := ReadNode(writeFile(t, "apiVersion: v1\nkind: Node\nmetadata: {name: big, labels: {topology.kubernetes.io/zone: zone-d}}\nstatus: {capacity: {cpu: \"16\", memory: 64Gi, pods: \"110\"}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if n.Name != "big" || n.Status.Capacity.Cpu().Value() != 16 {
		t.Errorf("node = %+v", n)
	}
	if _, err := ReadNode(writeFile(t, "apiVersion: v1\nkind: Node\nmetadata: {name: empty}\n")); err == nil || !strings.Contains(err.Error(), "could hold nothing") {
		t.Errorf("a node without capacity: %v", err)
	}
}
