package volumebinding

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clientgotesting "k8s.io/client-go/testing"
	"k8s.io/component-helpers/storage/volume"
	"k8s.io/klog/v2"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

const ns = "default"

var (
	nodeA = st.MakeNode().Name("node-a").Label(v1.LabelHostname, "node-a").Label(v1.LabelTopologyZone, "zone-a").Obj()
	nodeB = st.MakeNode().Name("node-b").Label(v1.LabelHostname, "node-b").Label(v1.LabelTopologyZone, "zone-b").Obj()
	nodeC = st.MakeNode().Name("node-c").Label(v1.LabelHostname, "node-c").Label(v1.LabelTopologyZone, "zone-c").Obj()
	nodes = []*v1.Node{nodeA, nodeB, nodeC}

	wffc      = st.MakeStorageClass("wffc").Provisioner(volume.NotSupportedProvisioner).WaitForFirstConsumer().Obj()
	immediate = st.MakeStorageClass("immediate").Provisioner("csi.example.com").Immediate().Obj()
	dynamic   = st.MakeStorageClass("dynamic").Provisioner("csi.example.com").WaitForFirstConsumer().Obj()
	twoZones  = st.MakeStorageClass("two-zones").Provisioner("csi.example.com").WaitForFirstConsumer().
			AllowedTopology(v1.LabelTopologyZone, "zone-a", "zone-b").Obj()
	local = st.MakeStorageClass("local").Provisioner("local.example.com").WaitForFirstConsumer().Obj()
)

func boundPVC(name, pv string) *v1.PersistentVolumeClaim {
	return st.MakePVC(name, ns).Class("wffc").VolumeName(pv).Bound("1Gi").Annotation(volume.AnnBindCompleted, "yes").Obj()
}

func pvOn(name, class, size, host string) *v1.PersistentVolume {
	return st.MakePV(name).Class(class).Capacity(size).AccessModes(v1.ReadWriteOnce).
		NodeAffinityIn(v1.LabelHostname, host).Phase(v1.VolumeAvailable).Obj()
}

func claim(name, class, size string) *v1.PersistentVolumeClaim {
	return st.MakePVC(name, ns).Class(class).Request(size).AccessModes(v1.ReadWriteOnce).Obj()
}

// capacityOn publishes capacity of the class on one node, as a node-local
// CSI driver does.
func capacityOn(class, host, size string) *storagev1.CSIStorageCapacity {
	return st.MakeCSIStorageCapacity(class+"-"+host, "kube-system", class).TopologyLabel(v1.LabelHostname, host).Capacity(size).Obj()
}

type env struct {
	pl     *VolumeBinding
	h      *st.Handle
	client *fake.Clientset
	infos  []*framework.NodeInfo
}

func newEnv(t *testing.T, objs ...runtime.Object) *env {
	t.Helper()
	for _, n := range nodes {
		objs = append(objs, n)
	}
	snap := st.NewSnapshot(nil, nodes)
	h := st.NewHandle(snap, objs...)
	p, err := New(context.Background(), nil, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := h.SyncInformers(ctx); err != nil {
		t.Fatal(err)
	}
	pl := p.(*VolumeBinding)
	pl.pollInterval = 5 * time.Millisecond
	pl.bindTimeout = 20 * time.Second
	return &env{pl: pl, h: h, client: h.Client.(*fake.Clientset), infos: snap.List()}
}

// filter runs PreFilter then Filter on every node and returns the verdict
// per node (PreFilter's status for all when it did not succeed).
func (e *env) filter(t *testing.T, pod *v1.Pod) (*framework.CycleState, map[string]*framework.Status) {
	t.Helper()
	state := framework.NewCycleState()
	out := map[string]*framework.Status{}
	_, st := e.pl.PreFilter(context.Background(), state, pod, e.infos)
	for _, ni := range e.infos {
		if !st.IsSuccess() {
			out[ni.Node().Name] = st
			continue
		}
		out[ni.Node().Name] = e.pl.Filter(context.Background(), state, pod, ni)
	}
	return state, out
}

func feasible(verdicts map[string]*framework.Status) []string {
	var out []string
	for _, n := range nodes {
		if verdicts[n.Name].IsSuccess() {
			out = append(out, n.Name)
		}
	}
	return out
}

func TestPreFilter(t *testing.T) {
	mk := func() *st.PodWrapper { return st.MakePod().Name("p").Namespace(ns).UID("p-uid") }
	otherPod := st.MakePod().Name("other").Namespace(ns).UID("other-uid").Obj()
	tests := []struct {
		name     string
		pod      *v1.Pod
		objs     []runtime.Object
		code     framework.Code
		reason   string
		skipped  bool
		feasible []string
	}{
		{name: "no claims", pod: st.MakePod().Name("p").Namespace(ns).Obj(), code: framework.Skip, skipped: true},
		{name: "missing claim", pod: mk().PVC("data").Obj(), code: framework.UnschedulableAndUnresolvable,
			reason: `persistentvolumeclaim "data" not found`},
		{name: "ephemeral claim not created yet", pod: mk().EphemeralVolume("scratch", "dynamic").Obj(), code: framework.UnschedulableAndUnresolvable,
			reason: `waiting for ephemeral volume controller to create the persistentvolumeclaim "p-scratch"`},
		{name: "ephemeral claim of another pod", pod: mk().EphemeralVolume("scratch", "dynamic").Obj(),
			objs: []runtime.Object{dynamic, st.MakePVC("p-scratch", ns).Class("dynamic").OwnedBy(otherPod).Obj()},
			code: framework.UnschedulableAndUnresolvable, reason: `PVC default/p-scratch was not created for pod default/p (pod is not owner)`},
		{name: "lost claim", pod: mk().PVC("data").Obj(),
			objs: []runtime.Object{st.MakePVC("data", ns).VolumeName("gone").Phase(v1.ClaimLost).Obj()},
			code: framework.UnschedulableAndUnresolvable, reason: `persistentvolumeclaim "data" bound to non-existent persistentvolume "gone"`},
		{name: "terminating claim", pod: mk().PVC("data").Obj(),
			objs: []runtime.Object{func() runtime.Object {
				c := claim("data", "wffc", "1Gi")
				now := metav1.Now()
				c.DeletionTimestamp = &now
				c.Finalizers = []string{"kubernetes.io/pvc-protection"}
				return c
			}()},
			code: framework.UnschedulableAndUnresolvable, reason: `persistentvolumeclaim "data" is being deleted`},
		{name: "unbound immediate claim", pod: mk().PVC("data").Obj(),
			objs: []runtime.Object{immediate, claim("data", "immediate", "1Gi")},
			code: framework.UnschedulableAndUnresolvable, reason: ReasonUnboundImmediate},
		{name: "claim without class is immediate", pod: mk().PVC("data").Obj(),
			objs: []runtime.Object{st.MakePVC("data", ns).Request("1Gi").Obj()},
			code: framework.UnschedulableAndUnresolvable, reason: ReasonUnboundImmediate},
		{name: "owned ephemeral claim provisions", pod: mk().EphemeralVolume("scratch", "dynamic").Obj(),
			objs: []runtime.Object{dynamic, st.MakePVC("p-scratch", ns).Class("dynamic").Request("1Gi").OwnedBy(mk().Obj()).Obj()},
			code: framework.Success, feasible: []string{"node-a", "node-b", "node-c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.objs...)
			state, verdicts := e.filter(t, tt.pod)
			got := verdicts["node-a"]
			if tt.code == framework.Success {
				if got := feasible(verdicts); strings.Join(got, ",") != strings.Join(tt.feasible, ",") {
					t.Fatalf("feasible = %v, want %v (verdicts %v)", got, tt.feasible, verdicts)
				}
				return
			}
			if got.Code() != tt.code {
				t.Fatalf("code = %v, want %v (%v)", got.Code(), tt.code, got)
			}
			if tt.reason != "" && (len(got.Reasons()) != 1 || got.Reasons()[0] != tt.reason) {
				t.Fatalf("reasons = %q, want %q", got.Reasons(), tt.reason)
			}
			if tt.skipped {
				if s := e.pl.PreScore(context.Background(), state, tt.pod, e.infos); !s.IsSkip() {
					t.Errorf("PreScore = %v, want Skip for a pod without claims", s)
				}
			}
		})
	}
}

func TestFilter(t *testing.T) {
	pod := func(claims ...string) *v1.Pod {
		p := st.MakePod().Name("p").Namespace(ns).UID("p-uid")
		for _, c := range claims {
			p.PVC(c)
		}
		return p.Obj()
	}
	tests := []struct {
		name     string
		pod      *v1.Pod
		objs     []runtime.Object
		feasible []string
		reasons  []string // of node-c, when it is rejected
	}{
		{name: "bound claim follows its PV's node affinity", pod: pod("data"),
			objs:     []runtime.Object{wffc, boundPVC("data", "pv-a"), pvOn("pv-a", "wffc", "1Gi", "node-a")},
			feasible: []string{"node-a"}, reasons: []string{ReasonNodeConflict}},
		{name: "bound claim whose PV is gone", pod: pod("data"),
			objs:     []runtime.Object{wffc, boundPVC("data", "gone")},
			feasible: nil, reasons: []string{ReasonPVNotExist}},
		{name: "bound claim without the bind-completed annotation is not bound yet", pod: pod("data"),
			objs: []runtime.Object{immediate, st.MakePVC("data", ns).Class("immediate").VolumeName("pv-a").Obj(), pvOn("pv-a", "immediate", "1Gi", "node-a")},
			// Immediate and not fully bound: rejected in PreFilter.
			feasible: nil, reasons: []string{ReasonUnboundImmediate}},
		{name: "static PVs admit only their nodes", pod: pod("data"),
			objs:     []runtime.Object{wffc, claim("data", "wffc", "1Gi"), pvOn("pv-a", "wffc", "5Gi", "node-a"), pvOn("pv-b", "wffc", "5Gi", "node-b")},
			feasible: []string{"node-a", "node-b"}, reasons: []string{ReasonBindConflict}},
		{name: "too small, wrong class, wrong access mode or claimed PVs do not match", pod: pod("data"),
			objs: []runtime.Object{wffc, local, claim("data", "wffc", "2Gi"),
				pvOn("small", "wffc", "1Gi", "node-a"),
				pvOn("other-class", "local", "5Gi", "node-b"),
				st.MakePV("rox").Class("wffc").Capacity("5Gi").AccessModes(v1.ReadOnlyMany).NodeAffinityIn(v1.LabelHostname, "node-c").Obj(),
				func() *v1.PersistentVolume {
					pv := pvOn("taken", "wffc", "5Gi", "node-c")
					pv.Spec.ClaimRef = &v1.ObjectReference{Namespace: ns, Name: "someone-else", UID: "x"}
					return pv
				}(),
			},
			feasible: nil, reasons: []string{ReasonBindConflict}},
		{name: "two claims cannot share one PV", pod: pod("one", "two"),
			objs:     []runtime.Object{wffc, claim("one", "wffc", "1Gi"), claim("two", "wffc", "1Gi"), pvOn("pv-a", "wffc", "5Gi", "node-a"), pvOn("pv-b1", "wffc", "5Gi", "node-b"), pvOn("pv-b2", "wffc", "5Gi", "node-b")},
			feasible: []string{"node-b"}, reasons: []string{ReasonBindConflict}},
		{name: "a PV pre-bound to the claim decides alone", pod: pod("data"),
			objs: []runtime.Object{wffc, claim("data", "wffc", "1Gi"),
				func() *v1.PersistentVolume {
					pv := pvOn("reserved", "wffc", "5Gi", "node-a")
					pv.Spec.ClaimRef = &v1.ObjectReference{Namespace: ns, Name: "data", UID: st.MakePVC("data", ns).Obj().UID}
					return pv
				}(),
				pvOn("pv-b", "wffc", "5Gi", "node-b"), pvOn("pv-c", "wffc", "5Gi", "node-c")},
			feasible: []string{"node-a"}, reasons: []string{ReasonBindConflict}},
		{name: "zonal and node-local PVs of one class", pod: pod("data"),
			objs: []runtime.Object{wffc, claim("data", "wffc", "1Gi"),
				st.MakePV("zonal").Class("wffc").Capacity("5Gi").AccessModes(v1.ReadWriteOnce).NodeAffinityIn(v1.LabelTopologyZone, "zone-b").Phase(v1.VolumeAvailable).Obj(),
				pvOn("pv-a", "wffc", "5Gi", "node-a")},
			feasible: []string{"node-a", "node-b"}, reasons: []string{ReasonBindConflict}},
		{name: "provisioning without capacity tracking fits everywhere", pod: pod("data"),
			objs:     []runtime.Object{dynamic, claim("data", "dynamic", "1Gi")},
			feasible: []string{"node-a", "node-b", "node-c"}},
		{name: "allowedTopologies restricts provisioning", pod: pod("data"),
			objs:     []runtime.Object{twoZones, claim("data", "two-zones", "1Gi")},
			feasible: []string{"node-a", "node-b"}, reasons: []string{ReasonBindConflict}},
		{name: "tracked capacity must hold the claim", pod: pod("data"),
			objs: []runtime.Object{local, claim("data", "local", "10Gi"),
				st.MakeCSIDriver("local.example.com").StorageCapacity(true).Obj(),
				capacityOn("local", "node-a", "100Gi"), capacityOn("local", "node-b", "5Gi")},
			feasible: []string{"node-a"}, reasons: []string{ReasonNotEnoughSpace}},
		{name: "maximumVolumeSize wins over capacity", pod: pod("data"),
			objs: []runtime.Object{local, claim("data", "local", "10Gi"),
				st.MakeCSIDriver("local.example.com").StorageCapacity(true).Obj(),
				st.MakeCSIStorageCapacity("a", "kube-system", "local").TopologyLabel(v1.LabelHostname, "node-a").Capacity("100Gi").MaximumVolumeSize("5Gi").Obj(),
				st.MakeCSIStorageCapacity("zone-b", "kube-system", "local").TopologyLabel(v1.LabelTopologyZone, "zone-b").Capacity("100Gi").Obj()},
			feasible: []string{"node-b"}, reasons: []string{ReasonNotEnoughSpace}},
		{name: "capacity is not checked when the driver does not track it", pod: pod("data"),
			objs: []runtime.Object{local, claim("data", "local", "10Gi"),
				st.MakeCSIDriver("local.example.com").StorageCapacity(false).Obj(), capacityOn("local", "node-a", "1Gi")},
			feasible: []string{"node-a", "node-b", "node-c"}},
		{name: "a claim already sent to provisioning pins the pod", pod: pod("data"),
			objs: []runtime.Object{dynamic,
				st.MakePVC("data", ns).Class("dynamic").Request("1Gi").Annotation(volume.AnnSelectedNode, "node-b").Obj()},
			feasible: []string{"node-b"}, reasons: []string{ReasonBindConflict}},
		{name: "no-provisioner class without a PV", pod: pod("data"),
			objs:     []runtime.Object{wffc, claim("data", "wffc", "1Gi")},
			feasible: nil, reasons: []string{ReasonBindConflict}},
		{name: "bound and unbound reasons add up", pod: pod("bound", "data"),
			objs: []runtime.Object{wffc, twoZones, boundPVC("bound", "pv-a"), pvOn("pv-a", "wffc", "1Gi", "node-a"),
				claim("data", "two-zones", "1Gi")},
			feasible: []string{"node-a"}, reasons: []string{ReasonNodeConflict, ReasonBindConflict}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.objs...)
			_, verdicts := e.filter(t, tt.pod)
			if got := feasible(verdicts); strings.Join(got, ",") != strings.Join(tt.feasible, ",") {
				t.Fatalf("feasible = %v, want %v (verdicts %v)", got, tt.feasible, verdicts)
			}
			if c := verdicts["node-c"]; tt.reasons != nil {
				if strings.Join(c.Reasons(), ";") != strings.Join(tt.reasons, ";") {
					t.Errorf("node-c reasons = %q, want %q", c.Reasons(), tt.reasons)
				}
				if c.Code() != framework.UnschedulableAndUnresolvable {
					t.Errorf("node-c code = %v, want UnschedulableAndUnresolvable", c.Code())
				}
			}
		})
	}
}

func TestSmallestStaticPVWins(t *testing.T) {
	e := newEnv(t, wffc, claim("data", "wffc", "3Gi"),
		pvOn("big", "wffc", "100Gi", "node-a"), pvOn("fits", "wffc", "4Gi", "node-a"), pvOn("small", "wffc", "2Gi", "node-a"))
	pod := st.MakePod().Name("p").Namespace(ns).PVC("data").Obj()
	state, verdicts := e.filter(t, pod)
	if !verdicts["node-a"].IsSuccess() {
		t.Fatalf("node-a: %v", verdicts["node-a"])
	}
	s, _ := framework.ReadState[*stateData](state, stateKey)
	plan, _ := s.plan("node-a")
	if len(plan.static) != 1 || plan.static[0].pv.Name != "fits" {
		t.Fatalf("plan = %+v, want PV fits", plan.static)
	}
}

func TestScore(t *testing.T) {
	pod := st.MakePod().Name("p").Namespace(ns).PVC("data").Obj()
	t.Run("provisioning prefers the emptier node", func(t *testing.T) {
		e := newEnv(t, local, claim("data", "local", "10Gi"),
			st.MakeCSIDriver("local.example.com").StorageCapacity(true).Obj(),
			capacityOn("local", "node-a", "100Gi"), capacityOn("local", "node-b", "20Gi"), capacityOn("local", "node-c", "40Gi"))
		state, _ := e.filter(t, pod)
		if s := e.pl.PreScore(context.Background(), state, pod, e.infos); !s.IsSuccess() {
			t.Fatal(s)
		}
		want := map[string]int64{"node-a": 90, "node-b": 50, "node-c": 75}
		for _, ni := range e.infos {
			got, s := e.pl.Score(context.Background(), state, pod, ni)
			if !s.IsSuccess() || got != want[ni.Node().Name] {
				t.Errorf("%s: score %d (%v), want %d", ni.Node().Name, got, s, want[ni.Node().Name])
			}
		}
	})
	t.Run("static binding scores the PV's fill", func(t *testing.T) {
		e := newEnv(t, wffc, claim("data", "wffc", "4Gi"), pvOn("pv-a", "wffc", "5Gi", "node-a"), pvOn("pv-b", "wffc", "40Gi", "node-b"))
		state, _ := e.filter(t, pod)
		want := map[string]int64{"node-a": 20, "node-b": 90, "node-c": 0}
		for _, ni := range e.infos {
			if got, _ := e.pl.Score(context.Background(), state, pod, ni); got != want[ni.Node().Name] {
				t.Errorf("%s: score %d, want %d", ni.Node().Name, got, want[ni.Node().Name])
			}
		}
	})
}

func TestArgs(t *testing.T) {
	if _, err := New(context.Background(), &configv1VolumeBindingArgsNegative, st.NewHandle(nil)); err == nil || !strings.Contains(err.Error(), "bindTimeoutSeconds") {
		t.Errorf("negative timeout: err = %v, want a bindTimeoutSeconds error", err)
	}
}

// reserve runs the cycle's Reserve for node.
func (e *env) reserve(t *testing.T, state *framework.CycleState, pod *v1.Pod, node string) {
	t.Helper()
	if s := e.pl.Reserve(context.Background(), state, pod, node); !s.IsSuccess() {
		t.Fatalf("Reserve: %v", s)
	}
}

func TestReserveKeepsTheNextPodOffTheChosenPV(t *testing.T) {
	e := newEnv(t, wffc, claim("one", "wffc", "1Gi"), claim("two", "wffc", "1Gi"), pvOn("pv-a", "wffc", "5Gi", "node-a"))
	first := st.MakePod().Name("first").Namespace(ns).PVC("one").Obj()
	second := st.MakePod().Name("second").Namespace(ns).PVC("two").Obj()
	state, verdicts := e.filter(t, first)
	if !verdicts["node-a"].IsSuccess() {
		t.Fatal(verdicts["node-a"])
	}
	e.reserve(t, state, first, "node-a")
	if _, v := e.filter(t, second); v["node-a"].IsSuccess() {
		t.Fatal("second pod matched the PV reserved for the first")
	}
	e.pl.Unreserve(context.Background(), state, first, "node-a")
	if _, v := e.filter(t, second); !v["node-a"].IsSuccess() {
		t.Fatalf("after Unreserve the PV should be free again: %v", v["node-a"])
	}
}

// completeBinding plays the PV controller: it binds claims to PVs that
// point at them, and provisions a PV on the selected node for claims sent
// to provisioning.
func completeBinding(ctx context.Context, c *fake.Clientset) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pvcs, _ := c.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
		pvs, _ := c.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
		for i := range pvcs.Items {
			pvc := pvcs.Items[i]
			if fullyBound(&pvc) {
				continue
			}
			pvName := ""
			for _, pv := range pvs.Items {
				if pv.Spec.ClaimRef != nil && pv.Spec.ClaimRef.Name == pvc.Name {
					pvName = pv.Name
				}
			}
			if node := pvc.Annotations[volume.AnnSelectedNode]; pvName == "" && node != "" {
				pv := pvOn("prov-"+pvc.Name, *pvc.Spec.StorageClassName, "1Gi", node)
				pv.Spec.ClaimRef = &v1.ObjectReference{Namespace: ns, Name: pvc.Name, UID: pvc.UID}
				if _, err := c.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err == nil {
					pvName = pv.Name
				}
			}
			if pvName == "" {
				continue
			}
			pvc.Spec.VolumeName = pvName
			metav1.SetMetaDataAnnotation(&pvc.ObjectMeta, volume.AnnBindCompleted, "yes")
			pvc.ResourceVersion = fmt.Sprint(time.Now().UnixNano())
			_, _ = c.CoreV1().PersistentVolumeClaims(ns).Update(ctx, &pvc, metav1.UpdateOptions{})
		}
	}
}

func TestPreBind(t *testing.T) {
	pod := st.MakePod().Name("p").Namespace(ns).PVC("static").PVC("dyn").Obj()
	objs := []runtime.Object{pod, wffc, dynamic, claim("static", "wffc", "1Gi"), claim("dyn", "dynamic", "1Gi"), pvOn("pv-a", "wffc", "5Gi", "node-a")}

	t.Run("writes the plan and waits for the controller", func(t *testing.T) {
		e := newEnv(t, objs...)
		state, v := e.filter(t, pod)
		if !v["node-a"].IsSuccess() {
			t.Fatal(v["node-a"])
		}
		e.reserve(t, state, pod, "node-a")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go completeBinding(ctx, e.client)
		if s := e.pl.PreBind(ctx, state, pod, "node-a"); !s.IsSuccess() {
			t.Fatalf("PreBind: %v", s)
		}
		pv, _ := e.client.CoreV1().PersistentVolumes().Get(ctx, "pv-a", metav1.GetOptions{})
		if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.Name != "static" || pv.Annotations[BoundAtAnnotation] == "" {
			t.Errorf("pv-a claimRef %v annotations %v: want bound to static and stamped", pv.Spec.ClaimRef, pv.Annotations)
		}
		for _, name := range []string{"static", "dyn"} {
			pvc, _ := e.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
			if _, err := time.Parse(time.RFC3339, pvc.Annotations[BoundAtAnnotation]); err != nil {
				t.Errorf("claim %s: %s = %q: %v", name, BoundAtAnnotation, pvc.Annotations[BoundAtAnnotation], err)
			}
		}
		dyn, _ := e.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "dyn", metav1.GetOptions{})
		if dyn.Annotations[volume.AnnSelectedNode] != "node-a" {
			t.Errorf("dyn selected-node = %q, want node-a", dyn.Annotations[volume.AnnSelectedNode])
		}
	})

	t.Run("an API failure fails PreBind and Unreserve frees the PV", func(t *testing.T) {
		e := newEnv(t, objs...)
		e.client.PrependReactor("update", "persistentvolumes", func(clientgotesting.Action) (bool, runtime.Object, error) {
			return true, nil, errors.New("etcd is on fire")
		})
		state, _ := e.filter(t, pod)
		e.reserve(t, state, pod, "node-a")
		s := e.pl.PreBind(context.Background(), state, pod, "node-a")
		if s.IsSuccess() || !strings.Contains(s.Message(), "etcd is on fire") {
			t.Fatalf("PreBind = %v, want the API error", s)
		}
		e.pl.Unreserve(context.Background(), state, pod, "node-a")
		pv, _ := e.pl.pvs.Get("pv-a")
		if pv.Spec.ClaimRef != nil {
			t.Errorf("after Unreserve pv-a still carries claimRef %v", pv.Spec.ClaimRef)
		}
		pvc, _ := e.pl.pvcs.Get(ns + "/dyn")
		if _, ok := pvc.Annotations[volume.AnnSelectedNode]; ok {
			t.Errorf("after Unreserve claim dyn still has a selected node")
		}
	})

	t.Run("times out when nobody binds", func(t *testing.T) {
		e := newEnv(t, objs...)
		e.pl.bindTimeout = 50 * time.Millisecond
		state, _ := e.filter(t, pod)
		e.reserve(t, state, pod, "node-a")
		s := e.pl.PreBind(context.Background(), state, pod, "node-a")
		if s.IsSuccess() || !strings.Contains(s.Message(), "timed out") {
			t.Fatalf("PreBind = %v, want a timeout", s)
		}
	})

	t.Run("gives up when the provisioner hands the claim back", func(t *testing.T) {
		e := newEnv(t, objs...)
		pod := st.MakePod().Name("p").Namespace(ns).PVC("dyn").Obj()
		state, _ := e.filter(t, pod)
		e.reserve(t, state, pod, "node-a")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			// The provisioner cannot provision on node-a: it removes the
			// selected-node annotation so the scheduler picks again.
			for ctx.Err() == nil {
				time.Sleep(5 * time.Millisecond)
				pvc, err := e.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "dyn", metav1.GetOptions{})
				if err == nil && pvc.Annotations[volume.AnnSelectedNode] != "" {
					delete(pvc.Annotations, volume.AnnSelectedNode)
					if _, err := e.client.CoreV1().PersistentVolumeClaims(ns).Update(ctx, pvc, metav1.UpdateOptions{}); err == nil {
						return
					}
				}
			}
		}()
		s := e.pl.PreBind(ctx, state, pod, "node-a")
		if s.IsSuccess() || !strings.Contains(s.Message(), "provisioning failed") {
			t.Fatalf("PreBind = %v, want a provisioning failure", s)
		}
	})

	t.Run("nothing to do when every claim is bound", func(t *testing.T) {
		e := newEnv(t, wffc, boundPVC("data", "pv-a"), pvOn("pv-a", "wffc", "1Gi", "node-a"))
		p := st.MakePod().Name("p").Namespace(ns).PVC("data").Obj()
		state, _ := e.filter(t, p)
		e.reserve(t, state, p, "node-a")
		if s := e.pl.PreBind(context.Background(), state, p, "node-a"); !s.IsSuccess() {
			t.Fatal(s)
		}
		if n := len(e.client.Actions()); n != 0 {
			for _, a := range e.client.Actions() {
				if a.GetVerb() != "list" && a.GetVerb() != "watch" {
					t.Errorf("unexpected API call %s %s", a.GetVerb(), a.GetResource().Resource)
				}
			}
		}
	})
}

func TestQueueingHints(t *testing.T) {
	pod := st.MakePod().Name("p").Namespace(ns).PVC("data").EphemeralVolume("scratch", "dynamic").Obj()
	cases := []struct {
		name     string
		fn       framework.QueueingHintFn
		old, new interface{}
		want     framework.QueueingHint
	}{
		{"own claim added", isSchedulableAfterClaimChange, nil, claim("data", "wffc", "1Gi"), framework.Queue},
		{"own ephemeral claim added", isSchedulableAfterClaimChange, nil, claim("p-scratch", "dynamic", "1Gi"), framework.Queue},
		{"other claim", isSchedulableAfterClaimChange, nil, claim("other", "wffc", "1Gi"), framework.QueueSkip},
		{"claim in another namespace", isSchedulableAfterClaimChange, nil, st.MakePVC("data", "elsewhere").Obj(), framework.QueueSkip},
		{"class added", isSchedulableAfterClassChange, nil, wffc, framework.Queue},
		{"class topology changed", isSchedulableAfterClassChange, dynamic, twoZones, framework.Queue},
		{"class unchanged topology", isSchedulableAfterClassChange, dynamic, dynamic.DeepCopy(), framework.QueueSkip},
		{"capacity grew", isSchedulableAfterCapacityChange, capacityOn("local", "a", "1Gi"), capacityOn("local", "a", "2Gi"), framework.Queue},
		{"capacity shrank", isSchedulableAfterCapacityChange, capacityOn("local", "a", "2Gi"), capacityOn("local", "a", "1Gi"), framework.QueueSkip},
		{"capacity added", isSchedulableAfterCapacityChange, nil, capacityOn("local", "a", "1Gi"), framework.Queue},
	}
	for _, c := range cases {
		got, err := c.fn(klogDiscard, pod, c.old, c.new)
		if err != nil || got != c.want {
			t.Errorf("%s: got %v, %v; want %v", c.name, got, err, c.want)
		}
	}
}

var (
	klogDiscard                       = klog.Background()
	negativeTimeout                   = int64(-1)
	configv1VolumeBindingArgsNegative = configv1.VolumeBindingArgs{BindTimeoutSeconds: &negativeTimeout}
)

func TestExplainFailureNamesTheClaim(t *testing.T) {
	e := newEnv(t, local, claim("big", "local", "500Gi"), claim("fits", "local", "1Gi"),
		st.MakeCSIDriver("local.example.com").StorageCapacity(true).Obj(),
		capacityOn("local", "node-a", "100Gi"), capacityOn("local", "node-b", "100Gi"))
	pod := st.MakePod().Name("p").Namespace(ns).PVC("fits").PVC("big").Obj()
	state, verdicts := e.filter(t, pod)
	if got := feasible(verdicts); len(got) != 0 {
		t.Fatalf("feasible = %v, want none", got)
	}
	got := e.pl.ExplainFailure(state, pod)
	want := `claim "default/big" requests 500Gi of class "local": no CSIStorageCapacity the node reaches holds it (2 nodes); ` +
		`claim "default/fits" requests 1Gi of class "local": no CSIStorageCapacity the node reaches holds it (1 node)`
	if got != want {
		t.Errorf("ExplainFailure = %q, want %q", got, want)
	}
	// Two reasons for one claim are counted apart.
	e = newEnv(t, twoZones, st.MakeCSIDriver("csi.example.com").StorageCapacity(true).Obj(), claim("big", "two-zones", "500Gi"),
		capacityOn("two-zones", "node-a", "100Gi"), capacityOn("two-zones", "node-b", "100Gi"))
	pod = st.MakePod().Name("p").Namespace(ns).PVC("big").Obj()
	state, _ = e.filter(t, pod)
	want = `claim "default/big" requests 500Gi of class "two-zones": no CSIStorageCapacity the node reaches holds it (2 nodes); ` +
		`claim "default/big" cannot be provisioned outside class "two-zones"'s allowedTopologies (1 node)`
	if got := e.pl.ExplainFailure(state, pod); got != want {
		t.Errorf("ExplainFailure = %q, want %q", got, want)
	}
	if other := st.MakePod().Name("q").Namespace(ns).Obj(); e.pl.ExplainFailure(framework.NewCycleState(), other) != "" {
		t.Error("a pod without VolumeBinding state should get no explanation")
	}
}
