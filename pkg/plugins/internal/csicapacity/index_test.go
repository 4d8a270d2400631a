package csicapacity

import (
	"context"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func capacity(name, class string, topology map[string]string, size string) *storagev1.CSIStorageCapacity {
	q := resource.MustParse(size)
	return &storagev1.CSIStorageCapacity{
		ObjectMeta:       metav1.ObjectMeta{Name: name, Namespace: "kube-system"},
		StorageClassName: class,
		NodeTopology:     &metav1.LabelSelector{MatchLabels: topology},
		Capacity:         &q,
	}
}

func names(s Snapshot, class string, node *v1.Node) []string {
	var out []string
	for c := range s.Reachable(class, node) {
		out = append(out, c.Name)
	}
	return out
}

func TestIndex(t *testing.T) {
	client := fake.NewClientset(
		capacity("b-host", "local", map[string]string{v1.LabelHostname: "n1"}, "10Gi"),
		capacity("a-host", "local", map[string]string{v1.LabelHostname: "n1"}, "20Gi"),
		capacity("other-host", "local", map[string]string{v1.LabelHostname: "n2"}, "20Gi"),
		capacity("zone", "local", map[string]string{v1.LabelTopologyZone: "z1"}, "5Gi"),
		capacity("other-class", "fast", map[string]string{v1.LabelHostname: "n1"}, "5Gi"),
		&storagev1.CSIStorageCapacity{ObjectMeta: metav1.ObjectMeta{Name: "no-topology", Namespace: "kube-system"}, StorageClassName: "local"},
	)
	f := informers.NewSharedInformerFactory(client, 0)
	inf := f.Storage().V1().CSIStorageCapacities()
	idx, err := NewIndex(inf.Informer(), inf.Lister())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())

	n1 := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{v1.LabelHostname: "n1", v1.LabelTopologyZone: "z1"}}}
	got := names(idx.Current(), "local", n1)
	if want := []string{"a-host", "b-host", "zone"}; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("reachable from n1 = %v, want %v (hostname-filed in name order, then matched ones)", got, want)
	}
	if got := names(idx.Current(), "local", &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "x"}}); len(got) != 0 {
		t.Errorf("a node without labels reaches %v", got)
	}

	// A change marks the index dirty; the next Current sees it.
	if _, err := client.StorageV1().CSIStorageCapacities("kube-system").Create(ctx,
		capacity("0-new", "local", map[string]string{v1.LabelHostname: "n1"}, "1Gi"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		got := names(idx.Current(), "local", n1)
		return len(got) == 4 && got[0] == "0-new", nil
	}); err != nil {
		t.Errorf("the new object never showed up: %v", names(idx.Current(), "local", n1))
	}
}

func TestVolumeLimit(t *testing.T) {
	c := capacity("c", "local", nil, "10Gi")
	if VolumeLimit(c) != 10<<30 {
		t.Errorf("capacity only: %d", VolumeLimit(c))
	}
	max := resource.MustParse("1Gi")
	c.MaximumVolumeSize = &max
	if VolumeLimit(c) != 1<<30 {
		t.Errorf("maximumVolumeSize wins: %d", VolumeLimit(c))
	}
	if VolumeLimit(&storagev1.CSIStorageCapacity{}) != -1 {
		t.Error("no sizes must admit nothing")
	}
}
