package gang

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/explain"
)

// TestExplainGroup: on two nodes of 7.8 CPUs, a group of three 5-CPU
// members fits one member per node. Each member fits alone, so berth
// keeps all three pending and `berth explain` must say why: the group
// section counts 2 of 3 fitting, names where those would go, and the
// member that has no node; the text output says the pod fits alone but
// waits for its group.
func TestExplainGroup(t *testing.T) {
	const test = "explain"
	installCRDs(t)
	createNodes(t, test, nodegen.ProfileBasic, 0, 1)
	ns := newTestNamespace(t, "gang-"+test)
	startBerth(t, "berth-"+test)

	j := &gangJob{api: apiSchedulerPlugins, name: "wide", pods: 3, req: cpuReq("5")}
	if err := j.createGroup(ns); err != nil {
		t.Fatal(err)
	}
	if err := createPodsInOrder(j.allPods(ns, test), 1); err != nil {
		t.Fatal(err)
	}
	// berth has tried the group (its members got FailedScheduling) and
	// bound none of them.
	c := testenv.Current().Client
	berthtest.WaitFor(t, 30*time.Second, "a FailedScheduling event on a member", func() (bool, string) {
		evs, err := c.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{FieldSelector: "reason=FailedScheduling"})
		if err != nil {
			return false, err.Error()
		}
		return len(evs.Items) > 0, "no event yet"
	})
	pods, err := c.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := berthtest.BoundCount(pods.Items); n != 0 {
		t.Fatalf("%d members bound; the group does not fit whole", n)
	}

	binDir, err := testenv.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(binDir, "berth")
	out, err := exec.Command(bin, "explain", j.podName(0), "-n", ns, "-o", "json", "--kubeconfig", testenv.Current().Kubeconfig).Output()
	if err != nil {
		t.Fatalf("berth explain: %v\n%s", err, out)
	}
	var e explain.Explanation
	if err := json.Unmarshal(out, &e); err != nil {
		t.Fatalf("decoding %s: %v", out, err)
	}
	g := e.Group
	if g == nil {
		t.Fatalf("no group section in %s", out)
	}
	if !e.Schedulable || g.Schedulable || g.MinMember != 3 || g.Pending != 3 || g.Fit != 2 || g.API != "scheduling.x-k8s.io" {
		t.Errorf("schedulable alone %v; group %+v: want the member to fit alone and its group (min 3, 3 pending) with 2 fitting", e.Schedulable, *g)
	}
	if len(g.Members) != 3 || g.Members[0].Node == "" || g.Members[1].Node == "" || g.Members[0].Node == g.Members[1].Node {
		t.Fatalf("members %+v: the first two fit, one per node", g.Members)
	}
	if m := g.Members[2]; m.Node != "" || !strings.Contains(m.Reason, "Insufficient cpu") {
		t.Errorf("third member %+v: want no node, for lack of CPU", m)
	}

	text, err := exec.Command(bin, "explain", j.podName(0), "-n", ns, "--kubeconfig", testenv.Current().Kubeconfig).Output()
	if err != nil {
		t.Fatalf("berth explain: %v\n%s", err, text)
	}
	for _, want := range []string{"Fits alone:", "its pod group does not fit whole", "2 of 3 needed members fit together", "member 3 of 3 (" + j.podName(2) + ") has no node"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("explain text lacks %q:\n%s", want, text)
		}
	}
	t.Logf("berth explain:\n%s", text)
}
