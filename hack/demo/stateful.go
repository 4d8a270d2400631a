package main

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/component-helpers/storage/volume"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/plugins/volumebinding"
)

// The stateful part: a WaitForFirstConsumer StorageClass of devcluster's
// node-local provisioner limited to two zones, a StatefulSet whose
// replicas each get a claim of that class, and one pod whose claim no
// node can hold.
const (
	storageClassName = "local"
	statefulSetName  = "db"
	replicas         = 6
	claimTemplate    = "data"
	claimSize        = "10Gi"
	hugeName         = "huge" // the pod and its claim
	hugeSize         = "5Ti"
	// capacityNamespace holds the provisioner's CSIStorageCapacity objects.
	capacityNamespace = "kube-system"
)

// storageZones are the zones the StorageClass allows (nodegen names its
// zones zone-a, zone-b, zone-c).
var storageZones = []string{"zone-a", "zone-b"}

// statefulResult is what the stateful part found.
type statefulResult struct {
	class *storagev1.StorageClass
	pods  []*v1.Pod // the replicas, by ordinal; unbound ones have no node
	huge  *v1.Pod
	pvcs  map[string]*v1.PersistentVolumeClaim
	pvs   map[string]*v1.PersistentVolume
}

func storageClass() *storagev1.StorageClass {
	return &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: storageClassName},
		Provisioner:       testenv.LocalProvisioner,
		ReclaimPolicy:     ptr.To(v1.PersistentVolumeReclaimDelete),
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
		AllowedTopologies: []v1.TopologySelectorTerm{{MatchLabelExpressions: []v1.TopologySelectorLabelRequirement{
			{Key: v1.LabelTopologyZone, Values: storageZones},
		}}},
	}
}

func claimSpec(size string) v1.PersistentVolumeClaimSpec {
	return v1.PersistentVolumeClaimSpec{
		AccessModes:      []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
		StorageClassName: ptr.To(storageClassName),
		Resources:        v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse(size)}},
	}
}

// statefulPod returns the spec of a small berth pod mounting claim volume
// "data" (the volume itself is added by the caller or the StatefulSet).
func statefulPod() v1.PodSpec {
	spec := newPod("500m", "1Gi", 0).Spec
	spec.Containers[0].VolumeMounts = []v1.VolumeMount{{Name: claimTemplate, MountPath: "/data"}}
	return spec
}

// runStateful creates the StorageClass, waits until the provisioner has
// published its capacity on every node of the class's zones, creates the
// StatefulSet and the pod with the oversized claim, and waits until berth
// has bound every replica (which includes having its claim provisioned
// and bound) and marked the other pod unschedulable for lack of storage.
// It returns what it found (nil only if nothing could be read) and an
// error on timeout, interrupt or if berth exits.
func runStateful(ctx context.Context, u *ui, client kubernetes.Interface, nodes []v1.Node, b *berth, timeout time.Duration) (*statefulResult, error) {
	u.step("Stateful workload: StatefulSet %q (%d replicas, %s claims) and pod %q (%s claim)", statefulSetName, replicas, claimSize, hugeName, hugeSize)
	sc := storageClass()
	u.plain("    StorageClass %-6s provisioner %s, %s, allowedTopologies zone in (%s)",
		sc.Name, sc.Provisioner, *sc.VolumeBindingMode, strings.Join(storageZones, ", "))
	u.plain("    %-19s %d replicas, podManagementPolicy Parallel, volumeClaimTemplate %q %s", "StatefulSet "+statefulSetName, replicas, claimTemplate, claimSize)
	u.plain("    %-19s claim %q requests %s, more than any node holds; node affinity zone in (%s)", "Pod "+hugeName, hugeName, hugeSize, strings.Join(storageZones, ", "))

	t := time.Now()
	class, err := client.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create StorageClass %s: %v", sc.Name, err)
	}
	// The provisioner publishes one CSIStorageCapacity per node the class
	// reaches; berth only sends a claim to nodes with room, so wait for
	// them before creating the claims.
	want := 0
	for i := range nodes {
		if slices.Contains(storageZones, nodes[i].Labels[v1.LabelTopologyZone]) {
			want++
		}
	}
	for {
		l, err := client.StorageV1().CSIStorageCapacities(capacityNamespace).List(ctx, metav1.ListOptions{})
		have := 0
		if err == nil {
			for _, c := range l.Items {
				if c.StorageClassName == storageClassName {
					have++
				}
			}
		}
		if have >= want {
			u.done("The provisioner published a CSIStorageCapacity for each of the %d nodes in %s after %s",
				want, strings.Join(storageZones, " and "), since(t))
			break
		}
		u.progress("%4.1fs  %d/%d CSIStorageCapacity objects published", time.Since(t).Seconds(), have, want)
		if time.Since(t) > timeout {
			u.abort()
			return nil, fmt.Errorf("the provisioner published %d of %d CSIStorageCapacity objects for class %s within %s", have, want, storageClassName, timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}

	labels := map[string]string{"app": statefulSetName}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: statefulSetName},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To[int32](replicas),
			ServiceName:         statefulSetName,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			Template:            v1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: statefulPod()},
			VolumeClaimTemplates: []v1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: claimTemplate},
				Spec:       claimSpec(claimSize),
			}},
		},
	}
	if _, err := client.AppsV1().StatefulSets(namespace).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create StatefulSet %s: %v", sts.Name, err)
	}
	hugeClaim := &v1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: hugeName}, Spec: claimSpec(hugeSize)}
	if _, err := client.CoreV1().PersistentVolumeClaims(namespace).Create(ctx, hugeClaim, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create claim %s: %v", hugeName, err)
	}
	huge := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: hugeName, Namespace: namespace}, Spec: statefulPod()}
	huge.Spec.Volumes = []v1.Volume{{Name: claimTemplate, VolumeSource: v1.VolumeSource{
		PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: hugeName},
	}}}
	// Kept to the class's zones, so every node it could use is turned
	// down by VolumeBinding for lack of storage alone.
	huge.Spec.Affinity = requireNodeLabel(v1.LabelTopologyZone, storageZones...)
	if _, err := client.CoreV1().Pods(namespace).Create(ctx, huge, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create pod %s: %v", hugeName, err)
	}
	u.done("Created the StorageClass, the StatefulSet and the pod; kube-controller-manager creates the replicas and their claims")

	res, err := waitStateful(ctx, u, client, class, b, timeout)
	if res != nil {
		res.class = class
	}
	return res, err
}

// isReplica reports whether pod name is replica of the demo StatefulSet
// and returns its ordinal.
func isReplica(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, statefulSetName+"-")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil && i >= 0 && i < replicas
}

// waitStateful polls until every replica is bound and the huge pod is
// marked unschedulable for lack of storage, then reads the claims and PVs.
func waitStateful(ctx context.Context, u *ui, client kubernetes.Interface, class *storagev1.StorageClass, b *berth, timeout time.Duration) (*statefulResult, error) {
	start := time.Now()
	deadline := time.After(timeout)
	var last *statefulResult
	for {
		pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
		if err == nil {
			res := &statefulResult{pods: make([]*v1.Pod, replicas)}
			bound := 0
			for i := range pods.Items {
				p := &pods.Items[i]
				if p.Name == hugeName {
					res.huge = p
				} else if n, ok := isReplica(p.Name); ok {
					res.pods[n] = p
					if p.Spec.NodeName != "" {
						bound++
					}
				}
			}
			last = res
			// The reason names the lack of storage once berth has seen the
			// claim (its informers may deliver the pod first).
			hugeDone := res.huge != nil && isUnschedulable(res.huge) &&
				strings.Contains(scheduledCondition(res.huge).Message, volumebinding.ReasonNotEnoughSpace)
			if bound == replicas && hugeDone {
				u.done("All %d replicas bound with their claims provisioned, and %q marked unschedulable, after %s", bound, hugeName, since(start))
				break
			}
			marked := 0
			if hugeDone {
				marked = 1
			}
			u.progress("%4.1fs  bound %d/%d replicas, %d/1 unschedulable pod marked", time.Since(start).Seconds(), bound, replicas, marked)
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-b.exited:
			u.abort()
			return last, fmt.Errorf("berth exited unexpectedly (%v); last lines of %s:\n%s", b.waitErr, b.logPath, indent(testenv.TailFile(b.logPath, 15)))
		case <-deadline:
			u.abort()
			u.info("Timed out after %s; the summary below shows what was scheduled.", timeout)
			err := fmt.Errorf("the stateful pods were not all scheduled within %s (see the summary above and berth's log %s)", timeout, b.logPath)
			if last != nil {
				readVolumes(ctx, client, last)
			}
			return last, err
		case <-time.After(250 * time.Millisecond):
			continue
		}
	}
	readVolumes(ctx, client, last)
	return last, nil
}

// readVolumes fills in the namespace's claims and the PVs bound to them.
func readVolumes(ctx context.Context, client kubernetes.Interface, res *statefulResult) {
	res.pvcs, res.pvs = map[string]*v1.PersistentVolumeClaim{}, map[string]*v1.PersistentVolume{}
	if l, err := client.CoreV1().PersistentVolumeClaims(namespace).List(ctx, metav1.ListOptions{}); err == nil {
		for i := range l.Items {
			res.pvcs[l.Items[i].Name] = &l.Items[i]
		}
	}
	if l, err := client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{}); err == nil {
		for i := range l.Items {
			res.pvs[l.Items[i].Name] = &l.Items[i]
		}
	}
}

// printStateful prints, per replica, its node and zone, its claim, the PV
// the claim is bound to and berth's bound-at stamp on the claim; the
// replicas per zone, naming the zones without one; and why the huge pod
// is pending.
func printStateful(res *statefulResult, nodes []v1.Node) {
	nodeByName := make(map[string]*v1.Node, len(nodes))
	allZones := map[string]bool{}
	for i := range nodes {
		nodeByName[nodes[i].Name] = &nodes[i]
		allZones[nodes[i].Labels[v1.LabelTopologyZone]] = true
	}
	allowed := classZones(res.class)

	fmt.Printf("\n==> Stateful placement (StatefulSet %s, StorageClass %s)\n", statefulSetName, storageClassName)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "    POD\tNODE\tZONE\tCLAIM\tPV\t"+volumebinding.BoundAtAnnotation+"\t")
	perZone := map[string]int{}
	var outside, offNode []string
	for i, p := range res.pods {
		name := fmt.Sprintf("%s-%d", statefulSetName, i)
		claim := fmt.Sprintf("%s-%s", claimTemplate, name)
		node, zone, pvName, stamp := "(pending)", "-", "-", "-"
		if p == nil {
			node = "(not created)"
		} else if p.Spec.NodeName != "" {
			node = p.Spec.NodeName
			if n := nodeByName[node]; n != nil {
				zone = n.Labels[v1.LabelTopologyZone]
				perZone[zone]++
				if len(allowed) > 0 && !slices.Contains(allowed, zone) {
					outside = append(outside, name)
				}
			}
		}
		if pvc := res.pvcs[claim]; pvc != nil {
			if pvc.Spec.VolumeName != "" {
				pvName = pvc.Spec.VolumeName
				if pv, n := res.pvs[pvName], nodeByName[node]; pv != nil && n != nil && volume.CheckNodeAffinity(pv, n.Labels) != nil {
					offNode = append(offNode, pvName)
				}
			} else {
				pvName = "(" + strings.ToLower(string(pvc.Status.Phase)) + ")"
			}
			stamp = cmp.Or(pvc.Annotations[volumebinding.BoundAtAnnotation], "-")
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\t%s\t\n", name, node, zone, claim, pvName, stamp)
	}
	tw.Flush()

	var missing []string
	for _, z := range slices.Sorted(maps.Keys(allZones)) {
		if perZone[z] == 0 && z != "" {
			missing = append(missing, z)
		}
	}
	line := "    replicas per zone: " + counts(perZone)
	if len(missing) > 0 {
		line += fmt.Sprintf("; no replica in %s", strings.Join(missing, ", "))
	}
	if len(allowed) > 0 {
		line += fmt.Sprintf(" (class allows %s)", strings.Join(allowed, ", "))
	}
	fmt.Println(line)
	if len(outside) > 0 {
		fmt.Printf("    UNEXPECTED: %s outside the class's zones\n", strings.Join(outside, ", "))
	}
	switch {
	case len(offNode) > 0:
		fmt.Printf("    UNEXPECTED: PV(s) %s do not admit their pod's node\n", strings.Join(offNode, ", "))
	case len(perZone) > 0:
		fmt.Printf("    each PV is a %s local volume pinned to its pod's node\n", testenv.LocalProvisioner)
	}

	fmt.Printf("\n==> Pending stateful pod\n")
	switch p := res.huge; {
	case p == nil:
		fmt.Printf("    %s: not found\n", hugeName)
	case p.Spec.NodeName != "":
		fmt.Printf("    %s: UNEXPECTED: bound to %s\n", hugeName, p.Spec.NodeName)
	default:
		reason := "not scheduled yet (no PodScheduled condition)"
		if c := scheduledCondition(p); c != nil {
			reason = fmt.Sprintf("%s: %s", c.Reason, c.Message)
		}
		fmt.Printf("    %s (claim %q, %s of class %s)\n      %s\n", hugeName, hugeName, hugeSize, storageClassName, reason)
	}
}

// classZones returns the zone values of a class's allowedTopologies.
func classZones(c *storagev1.StorageClass) []string {
	var zones []string
	if c == nil {
		return nil
	}
	for _, term := range c.AllowedTopologies {
		for _, e := range term.MatchLabelExpressions {
			if e.Key == v1.LabelTopologyZone {
				zones = append(zones, e.Values...)
			}
		}
	}
	slices.Sort(zones)
	return slices.Compact(zones)
}
