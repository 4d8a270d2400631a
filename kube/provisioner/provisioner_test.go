package provisioner

import (
	"context"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"

	"github.com/berthsched/berth/internal/testenv"
)

func node(name, zone, capacity string) *v1.Node {
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		v1.LabelHostname: name, v1.LabelTopologyZone: zone,
	}}}
	if capacity != "" {
		n.Annotations = map[string]string{CapacityAnnotation: capacity}
	}
	return n
}

func class(name string, mode storagev1.VolumeBindingMode, zones ...string) *storagev1.StorageClass {
	c := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: name},
		Provisioner:       Name,
		VolumeBindingMode: &mode,
		ReclaimPolicy:     ptr.To(v1.PersistentVolumeReclaimRetain),
		MountOptions:      []string{"noatime"},
	}
	if len(zones) > 0 {
		c.AllowedTopologies = []v1.TopologySelectorTerm{{MatchLabelExpressions: []v1.TopologySelectorLabelRequirement{
			{Key: v1.LabelTopologyZone, Values: zones},
		}}}
	}
	return c
}

func claim(name, size string) *v1.PersistentVolumeClaim {
	return &v1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
		Spec: v1.PersistentVolumeClaimSpec{
			AccessModes: []v1.PersistentVolumeAccessMode{v1.ReadWriteOncePod},
			VolumeMode:  ptr.To(v1.PersistentVolumeBlock),
			Resources:   v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse(size)}},
		},
	}
}

// offline returns a provisioner whose node lister serves nodes, for
// calling Provision without informers.
func offline(t *testing.T, o Options, nodes ...*v1.Node) *Provisioner {
	t.Helper()
	p, err := New(fake.NewClientset(), o)
	if err != nil {
		t.Fatal(err)
	}
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, n := range nodes {
		if err := idx.Add(n); err != nil {
			t.Fatal(err)
		}
	}
	p.nodes = corelisters.NewNodeLister(idx)
	return p
}

func TestNameMatchesTestenv(t *testing.T) {
	if testenv.LocalProvisioner != Name || testenv.LocalCapacityAnnotation != CapacityAnnotation {
		t.Fatalf("internal/testenv constants %q/%q differ from %q/%q", testenv.LocalProvisioner, testenv.LocalCapacityAnnotation, Name, CapacityAnnotation)
	}
}

func TestProvisionSelectedNode(t *testing.T) {
	p := offline(t, Options{}, node("n1", "zone-a", "5Gi"), node("n2", "zone-b", ""))
	ctx := context.Background()
	sc := class("wffc", storagev1.VolumeBindingWaitForFirstConsumer)

	pv, state, err := p.Provision(ctx, controller.ProvisionOptions{StorageClass: sc, PVName: "pv-1", PVC: claim("c1", "3Gi"), SelectedNodeName: "n1"})
	if err != nil || state != controller.ProvisioningFinished {
		t.Fatalf("provision: %v %v", state, err)
	}
	if got := pinnedHost(pv); got != "n1" {
		t.Errorf("pinned to %q, want n1 (affinity %+v)", got, pv.Spec.NodeAffinity)
	}
	if pv.Spec.Local == nil || pv.Spec.Local.Path != BasePath+"/pv-1" {
		t.Errorf("source %+v, want local %s/pv-1", pv.Spec.PersistentVolumeSource, BasePath)
	}
	if q := pv.Spec.Capacity[v1.ResourceStorage]; q.Cmp(resource.MustParse("3Gi")) != 0 {
		t.Errorf("capacity %s", q.String())
	}
	if pv.Spec.PersistentVolumeReclaimPolicy != v1.PersistentVolumeReclaimRetain ||
		len(pv.Spec.AccessModes) != 1 || pv.Spec.AccessModes[0] != v1.ReadWriteOncePod ||
		ptr.Deref(pv.Spec.VolumeMode, "") != v1.PersistentVolumeBlock ||
		len(pv.Spec.MountOptions) != 1 {
		t.Errorf("spec not taken from claim and class: %+v", pv.Spec)
	}

	// The reservation counts before the PV reaches any informer: 2Gi left.
	_, state, err = p.Provision(ctx, controller.ProvisionOptions{StorageClass: sc, PVName: "pv-2", PVC: claim("c2", "3Gi"), SelectedNodeName: "n1"})
	if state != controller.ProvisioningReschedule || err == nil || !strings.Contains(err.Error(), "node n1 has 2Gi of local storage free, the claim requests 3Gi") {
		t.Fatalf("over capacity: %v %v", state, err)
	}
	// A retry of the same claim does not count twice.
	if _, _, err := p.Provision(ctx, controller.ProvisionOptions{StorageClass: sc, PVName: "pv-1", PVC: claim("c1", "3Gi"), SelectedNodeName: "n1"}); err != nil {
		t.Fatalf("retry: %v", err)
	}
	// Delete releases the reservation.
	if err := p.Delete(ctx, pv); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Provision(ctx, controller.ProvisionOptions{StorageClass: sc, PVName: "pv-2", PVC: claim("c2", "5Gi"), SelectedNodeName: "n1"}); err != nil {
		t.Fatalf("after delete: %v", err)
	}
	// n2 has the default 100Gi.
	if _, _, err := p.Provision(ctx, controller.ProvisionOptions{StorageClass: sc, PVName: "pv-3", PVC: claim("c3", "100Gi"), SelectedNodeName: "n2"}); err != nil {
		t.Fatalf("default capacity: %v", err)
	}

	for name, tc := range map[string]struct {
		sc   *storagev1.StorageClass
		node string
		want string
	}{
		"missing node":     {sc, "gone", "selected node gone"},
		"outside topology": {class("zonal", storagev1.VolumeBindingWaitForFirstConsumer, "zone-b"), "n1", "outside the allowed topologies"},
	} {
		_, state, err := p.Provision(ctx, controller.ProvisionOptions{StorageClass: tc.sc, PVName: "pv-x", PVC: claim("x", "1Gi"), SelectedNodeName: tc.node})
		if state != controller.ProvisioningReschedule || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v %v, want reschedule with %q", name, state, err, tc.want)
		}
	}
	c := claim("nosize", "1Gi")
	c.Spec.Resources.Requests = nil
	if _, state, err := p.Provision(ctx, controller.ProvisionOptions{StorageClass: sc, PVName: "pv-y", PVC: c, SelectedNodeName: "n2"}); state != controller.ProvisioningFinished || err == nil {
		t.Errorf("claim without request: %v %v", state, err)
	}
}

func TestProvisionImmediate(t *testing.T) {
	p := offline(t, Options{}, node("n1", "zone-a", ""), node("n2", "zone-b", "1Gi"))
	ctx := context.Background()

	pv, _, err := p.Provision(ctx, controller.ProvisionOptions{StorageClass: class("any", storagev1.VolumeBindingImmediate), PVName: "pv-any", PVC: claim("c", "1Gi")})
	if err != nil {
		t.Fatal(err)
	}
	if pv.Spec.NodeAffinity != nil || pv.Spec.HostPath == nil {
		t.Errorf("class without topology: want hostPath without affinity, got %+v", pv.Spec)
	}

	// zone-c has no node: volumes only land in zone-a or zone-b.
	zonal := class("zonal", storagev1.VolumeBindingImmediate, "zone-a", "zone-b", "zone-c")
	seen := map[string]int{}
	for i := range 40 {
		pv, _, err := p.Provision(ctx, controller.ProvisionOptions{StorageClass: zonal, PVName: "pv-" + string(rune('a'+i%26)) + string(rune('a'+i/26)), PVC: claim("c", "1Gi")})
		if err != nil {
			t.Fatal(err)
		}
		zone := pv.Labels[v1.LabelTopologyZone]
		terms := pv.Spec.NodeAffinity.Required.NodeSelectorTerms
		if len(terms) != 1 || terms[0].MatchExpressions[0].Values[0] != zone || pv.Spec.Local == nil {
			t.Fatalf("zonal volume %+v labels %v", pv.Spec, pv.Labels)
		}
		if pinnedHost(pv) != "" {
			t.Fatalf("zonal volume counted against a node")
		}
		seen[zone]++
	}
	if seen["zone-c"] > 0 || seen["zone-a"] == 0 || seen["zone-b"] == 0 {
		t.Errorf("zones chosen %v; want zone-a and zone-b only", seen)
	}

	// A class naming hostnames pins volumes to nodes and checks capacity:
	// n2 (1Gi) is full after one volume, so the next goes to n1.
	byHost := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "hosts"}, Provisioner: Name,
		AllowedTopologies: []v1.TopologySelectorTerm{{MatchLabelExpressions: []v1.TopologySelectorLabelRequirement{{Key: v1.LabelHostname, Values: []string{"n2"}}}}}}
	if pv, _, err := p.Provision(ctx, controller.ProvisionOptions{StorageClass: byHost, PVName: "h1", PVC: claim("c", "1Gi")}); err != nil || pinnedHost(pv) != "n2" {
		t.Fatalf("host class: %v", err)
	}
	if _, state, err := p.Provision(ctx, controller.ProvisionOptions{StorageClass: byHost, PVName: "h2", PVC: claim("c", "1Gi")}); err == nil || state != controller.ProvisioningFinished {
		t.Fatalf("full host: %v %v", state, err)
	}
}

func TestSegmentsAndNames(t *testing.T) {
	terms := []v1.TopologySelectorTerm{
		{MatchLabelExpressions: []v1.TopologySelectorLabelRequirement{
			{Key: "region", Values: []string{"r1", "r2"}}, {Key: "zone", Values: []string{"a", "b", "c"}},
		}},
		{MatchLabelExpressions: []v1.TopologySelectorLabelRequirement{{Key: "zone", Values: []string{"z"}}}},
	}
	segs := segments(terms)
	if len(segs) != 7 {
		t.Fatalf("got %d segments, want 2*3+1", len(segs))
	}
	if l := segs[4].labels(); l["region"] != "r2" || l["zone"] != "b" {
		t.Errorf("segment 4 = %v", l)
	}
	big := []v1.TopologySelectorTerm{{MatchLabelExpressions: []v1.TopologySelectorLabelRequirement{
		{Key: "a", Values: make([]string, 100)}, {Key: "b", Values: make([]string, 100)},
	}}}
	if n := len(segments(big)); n != maxSegments {
		t.Errorf("segments not bounded: %d", n)
	}

	names := map[string]bool{}
	for _, pair := range [][2]string{
		{"a.b", "c"}, {"a", "b.c"}, {"local", "Node_With.Upper"}, {strings.Repeat("c", 253), strings.Repeat("h", 63)}, {"-", "."},
	} {
		n := capacityName(pair[0], pair[1])
		if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
			t.Errorf("capacityName(%q, %q) = %q: %v", pair[0], pair[1], n, errs)
		}
		if names[n] {
			t.Errorf("duplicate name %q", n)
		}
		names[n] = true
	}
}

func countWrites(client *fake.Clientset, resource string) (n int) {
	for _, a := range client.Actions() {
		if a.GetResource().Resource == resource && (a.GetVerb() == "create" || a.GetVerb() == "update" || a.GetVerb() == "delete") {
			n++
		}
	}
	return n
}

// TestPublishCapacity runs the whole provisioner on a fake clientset and
// checks the CSIDriver and the CSIStorageCapacity objects it maintains.
func TestPublishCapacity(t *testing.T) {
	wffc := class("wffc", storagev1.VolumeBindingWaitForFirstConsumer)
	zonal := class("zonal", storagev1.VolumeBindingWaitForFirstConsumer, "zone-b")
	other := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "other"}, Provisioner: "example.com/other"}
	provisioned := func(name, host, size string) *v1.PersistentVolume {
		return &v1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{AnnProvisionedBy: Name}},
			Spec: v1.PersistentVolumeSpec{
				Capacity:     v1.ResourceList{v1.ResourceStorage: resource.MustParse(size)},
				NodeAffinity: hostAffinity(host),
			},
		}
	}
	foreign := provisioned("foreign", "n1", "50Gi")
	foreign.Annotations[AnnProvisionedBy] = "example.com/other"
	stale := &storagev1.CSIStorageCapacity{
		ObjectMeta:       metav1.ObjectMeta{Name: "stale", Namespace: "storage", Labels: map[string]string{ManagedByLabel: Name}},
		StorageClassName: "deleted-class",
		NodeTopology:     &metav1.LabelSelector{MatchLabels: map[string]string{v1.LabelHostname: "n1"}},
	}
	client := fake.NewClientset(
		node("n1", "zone-a", ""), node("n2", "zone-b", "20Gi"), node("n3", "zone-b", "bogus"),
		wffc, zonal, other, provisioned("pv-1", "n1", "30Gi"), provisioned("pv-2", "n2", "5Gi"), foreign, stale,
	)
	capacity := resource.MustParse("100Gi")
	p, err := New(client, Options{Namespace: "storage", NodeCapacity: &capacity, ResyncPeriod: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); p.Wait() }()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}

	driver, err := client.StorageV1().CSIDrivers().Get(ctx, Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !ptr.Deref(driver.Spec.StorageCapacity, false) || ptr.Deref(driver.Spec.AttachRequired, true) || ptr.Deref(driver.Spec.PodInfoOnMount, true) {
		t.Errorf("CSIDriver spec %+v", driver.Spec)
	}

	expect := func(want map[capacityKey]string) {
		t.Helper()
		var got map[capacityKey]string
		err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
			list, err := client.StorageV1().CSIStorageCapacities("storage").List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err
			}
			got = map[capacityKey]string{}
			for _, c := range list.Items {
				k, _ := keyOf(&c)
				if c.Name != capacityName(k.class, k.host) || c.Labels[ManagedByLabel] != Name {
					return false, nil
				}
				got[k] = c.Capacity.String()
			}
			if len(got) != len(want) {
				return false, nil
			}
			for k, v := range want {
				if got[k] != v {
					return false, nil
				}
			}
			return true, nil
		})
		if err != nil {
			t.Fatalf("capacities %v, want %v", got, want)
		}
	}
	expect(map[capacityKey]string{
		{"wffc", "n1"}: "70Gi", {"wffc", "n2"}: "15Gi", {"wffc", "n3"}: "100Gi",
		{"zonal", "n2"}: "15Gi", {"zonal", "n3"}: "100Gi",
	})

	// Steady state: resyncs write nothing (once the reconciles triggered
	// by the initial creates have run).
	time.Sleep(2 * publishDelay)
	before := countWrites(client, "csistoragecapacities")
	time.Sleep(3 * p.o.ResyncPeriod)
	if after := countWrites(client, "csistoragecapacities"); after != before {
		t.Errorf("%d capacity writes without any change", after-before)
	}

	// A new volume, a capacity annotation, a node moving zone, a deleted
	// class: only the affected objects change.
	before = countWrites(client, "csistoragecapacities")
	if _, err := client.CoreV1().PersistentVolumes().Create(ctx, provisioned("pv-3", "n2", "15Gi"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	n1 := node("n1", "zone-b", "80Gi")
	if _, err := client.CoreV1().Nodes().Update(ctx, n1, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.StorageV1().StorageClasses().Delete(ctx, "wffc", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expect(map[capacityKey]string{{"zonal", "n1"}: "50Gi", {"zonal", "n2"}: "0", {"zonal", "n3"}: "100Gi"})
	// Coalesced: 3 deletes of wffc objects, a create for zonal/n1, an
	// update of zonal/n2. If the events straddle reconciles, the wffc
	// objects of n1 and n2 are updated before their deletion.
	if writes := countWrites(client, "csistoragecapacities") - before; writes < 5 || writes > 8 {
		t.Errorf("%d capacity writes for 5 changes", writes)
	}

	// Deleted PVs give their capacity back.
	if err := client.CoreV1().PersistentVolumes().Delete(ctx, "pv-3", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expect(map[capacityKey]string{{"zonal", "n1"}: "50Gi", {"zonal", "n2"}: "15Gi", {"zonal", "n3"}: "100Gi"})

	// Objects someone else deletes come back.
	client.ClearActions()
	if err := client.StorageV1().CSIStorageCapacities("storage").Delete(ctx, capacityName("zonal", "n3"), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expect(map[capacityKey]string{{"zonal", "n1"}: "50Gi", {"zonal", "n2"}: "15Gi", {"zonal", "n3"}: "100Gi"})
}
