package lint

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	v1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/lint"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }

// berth runs bin/berth with args and returns its stdout and exit code.
func berth(t *testing.T, args ...string) ([]byte, int) {
	t.Helper()
	bin, err := testenv.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "berth"), args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out, ee.ExitCode()
	case err != nil:
		t.Fatalf("berth %v: %v", args, err)
	}
	return out, 0
}

const clusterManifest = `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  storageClassName: lint-zone-z
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: big}
spec:
  replicas: 2
  selector: {matchLabels: {app: big}}
  template:
    metadata: {labels: {app: big}}
    spec:
      priorityClassName: lint-missing
      nodeSelector: {topology.kubernetes.io/zone: zone-a}
      tolerations:
      - {key: dedicated, operator: Equal, value: nobody, effect: NoSchedule}
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: example.com/rack, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app: big}}}
      volumes:
      - {name: data, persistentVolumeClaim: {claimName: data}}
      containers:
      - name: c
        image: x
        resources: {requests: {cpu: "512"}}
---
apiVersion: v1
kind: Pod
metadata: {name: nowhere}
spec:
  nodeSelector: {disktype: floppy}
  containers: [{name: c, image: x}]
---
apiVersion: v1
kind: Pod
metadata: {name: fine}
spec:
  priorityClassName: lint-high
  containers: [{name: c, image: x, resources: {requests: {cpu: 100m}}}]
`

// TestLintCluster: berth lint --cluster reads the devcluster's nodes,
// storage classes and priority classes and reports the cluster rules,
// and only those the objects deserve.
func TestLintCluster(t *testing.T) {
	env := testenv.Current()
	ctx := context.Background()
	c := env.Client
	if _, err := nodegen.Create(ctx, c, nodegen.Options{Count: 3, Prefix: "lint-", Zones: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
		ObjectMeta:  metav1.ObjectMeta{Name: "lint-zone-z"},
		Provisioner: "example.com/csi",
		AllowedTopologies: []v1.TopologySelectorTerm{{MatchLabelExpressions: []v1.TopologySelectorLabelRequirement{
			{Key: v1.LabelTopologyZone, Values: []string{"zone-z"}}}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SchedulingV1().PriorityClasses().Create(ctx, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "lint-high"}, Value: 1000}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "app.yaml")
	if err := os.WriteFile(file, []byte(clusterManifest), 0o644); err != nil {
		t.Fatal(err)
	}

	// Offline, none of the cluster rules speak.
	out, code := berth(t, "lint", "-o", "json", file)
	var rep lint.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if code != 0 || len(rep.Findings) != 0 {
		t.Errorf("offline: exit %d, findings %+v", code, rep.Findings)
	}

	out, code = berth(t, "lint", "--cluster", "--kubeconfig", env.Kubeconfig, "-o", "json", file)
	rep = lint.Report{}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var got []string
	for _, f := range rep.Findings {
		got = append(got, f.Object.Name+" "+f.Rule+" "+f.Field)
	}
	sort.Strings(got)
	want := []string{
		"big BL012 spec.template.spec.tolerations[0]",
		"big BL020 spec.template.spec.topologySpreadConstraints[0].topologyKey",
		"big BL031 spec.template.spec.containers",
		"big BL070 spec.template.spec.volumes[0].persistentVolumeClaim.claimName",
		"big BL081 spec.template.spec.priorityClassName",
		"nowhere BL032 spec.nodeSelector",
	}
	if len(got) != len(want) {
		t.Fatalf("findings:\n%v\nwant:\n%v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("finding %d = %q, want %q", i, got[i], want[i])
		}
	}
	if code != 2 {
		t.Errorf("exit code %d, want 2 (errors)", code)
	}
}
