package conformance

import (
	"fmt"
	"math/rand/v2"
	"slices"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

// Storage scenarios: drivers, classes and well-known names the generated
// objects share, so that claims, volumes, capacities and attach limits meet.
const (
	// capDriver usually has a CSIDriver with storageCapacity: true, so
	// provisioning checks CSIStorageCapacity objects.
	capDriver = "capacity.csi.example.com"
	// plainDriver usually has a CSIDriver without storageCapacity.
	plainDriver = "plain.csi.example.com"
	// bareDriver rarely has a CSIDriver object.
	bareDriver = "bare.csi.example.com"
	// The CSI drivers that in-tree GCE PD and AWS EBS volumes migrate to.
	gcePDDriver = "pd.csi.storage.gke.io"
	ebsDriver   = "ebs.csi.aws.com"

	noProvisioner    = "kubernetes.io/no-provisioner"
	gcePDProvisioner = "kubernetes.io/gce-pd"

	betaZoneKey   = "failure-domain.beta.kubernetes.io/zone"
	betaRegionKey = "failure-domain.beta.kubernetes.io/region"
	// gkeZoneKey is the topology key of GCE PD volumes translated to CSI.
	gkeZoneKey         = "topology.gke.io/zone"
	migratedPluginsKey = "storage.alpha.kubernetes.io/migrated-plugins"
	bindCompletedKey   = "pv.kubernetes.io/bind-completed"
	selectedNodeKey    = "volume.kubernetes.io/selected-node"
)

var (
	csiDrivers = []string{capDriver, plainDriver, bareDriver, gcePDDriver, ebsDriver}
	// classProvisioners lists the StorageClasses a case may have; "gone" is
	// never created, so claims and volumes naming it hit the missing-class
	// paths.
	classProvisioners = []struct{ name, provisioner string }{
		{"fast", capDriver},
		{"standard", plainDriver},
		{"bare", bareDriver},
		{"local", noProvisioner},
		{"gce", gcePDProvisioner},
		{"csi-gce", gcePDDriver},
	}
	classNames      = []string{"fast", "fast", "standard", "bare", "local", "local", "gce", "csi-gce", "gone", ""}
	claimClassNames = []string{"fast", "fast", "fast", "fast", "standard", "bare", "local", "local", "gce", "csi-gce", "gone", ""}
	sizes           = []string{"1Gi", "2Gi", "5Gi", "10Gi", "20Gi", "100Gi"}
	// Small pools, so that pods share in-line disks and conflict.
	gceDisks  = []string{"disk-0", "disk-1", "disk-2"}
	ebsVols   = []string{"vol-0a", "vol-0b"}
	rbdMons   = []string{"10.0.1.1:6789", "10.0.1.2:6789", "10.0.1.3:6789"}
	iscsiIQNs = []string{"iqn.2001-04.com.example:storage-0", "iqn.2001-04.com.example:storage-1"}
)

// storageGen adds a storage scenario to a generated case. It draws from its
// own random stream, so a case keeps the nodes and pods it had before
// storage was generated, and only adds labels, volumes and API objects.
type storageGen struct {
	*gen
	classes map[string]*storagev1.StorageClass
	pvs     []*v1.PersistentVolume
	claims  map[string][]*v1.PersistentVolumeClaim // by namespace
	// extra are the ephemeral claims, created with their pods.
	extra []*v1.PersistentVolumeClaim
	objs  []runtime.Object
}

// addStorage gives c, with probability p, a storage scenario:
// StorageClasses, CSIDrivers, CSINodes, CSIStorageCapacities,
// PersistentVolumes, claims (bound, unbound, lost, pre-bound, being deleted,
// ephemeral) and VolumeAttachments, and volumes on some bound and pending
// pods.
func addStorage(c *Case, base *gen, p float64) {
	s := &storageGen{
		gen:     &gen{r: rand.New(rand.NewPCG(c.Seed^0xa0761d6478bd642f, c.Seed+0xe7037ed1a0b428db)), nodes: base.nodes, images: base.images, seq: base.seq},
		classes: map[string]*storagev1.StorageClass{},
		claims:  map[string][]*v1.PersistentVolumeClaim{},
	}
	if !s.chance(p) {
		return
	}
	for _, n := range c.Cluster.Nodes {
		s.nodeLabels(n)
	}
	s.drivers()
	s.storageClasses()
	for _, n := range c.Cluster.Nodes {
		if s.chance(0.8) {
			s.objs = append(s.objs, s.csiNode(n))
		}
	}
	s.capacities()
	for i := range s.r.IntN(9) {
		s.pvs = append(s.pvs, s.pv(i))
	}
	for i := range 1 + s.r.IntN(12) {
		pvc := s.claim(i)
		s.claims[pvc.Namespace] = append(s.claims[pvc.Namespace], pvc)
	}
	s.prebind()
	for _, pod := range c.Cluster.Pods {
		if s.chance(0.35) {
			s.podVolumes(pod, true)
		}
	}
	for _, pod := range c.Pending {
		if s.chance(0.65) {
			s.podVolumes(pod, false)
			if s.chance(0.45) {
				simplify(pod)
			}
		}
	}
	s.attachments()
	for _, pv := range s.pvs {
		s.objs = append(s.objs, pv)
	}
	for _, ns := range namespaces {
		for _, pvc := range s.claims[ns.name] {
			s.objs = append(s.objs, pvc)
		}
	}
	for _, pvc := range s.extra {
		s.objs = append(s.objs, pvc)
	}
	c.Cluster.Objects = s.objs
}

// nodeLabels adds the legacy (beta) zone and region labels to some nodes,
// sometimes disagreeing with the GA ones, and the GCE PD CSI topology label.
func (s *storageGen) nodeLabels(n *v1.Node) {
	if s.chance(0.2) {
		z, ok := n.Labels[zoneKey]
		if !ok || s.chance(0.3) {
			z = pick(s.gen, zones...)
		}
		n.Labels[betaZoneKey] = z
	}
	if s.chance(0.1) {
		n.Labels[betaRegionKey] = pick(s.gen, "r1", "r2")
	}
	if z, ok := n.Labels[zoneKey]; ok && s.chance(0.15) {
		n.Labels[gkeZoneKey] = z
	}
}

func (s *storageGen) drivers() {
	present := map[string]float64{capDriver: 0.85, plainDriver: 0.8, bareDriver: 0.15, gcePDDriver: 0.5, ebsDriver: 0.5}
	for _, name := range csiDrivers {
		if !s.chance(present[name]) {
			continue
		}
		d := &storagev1.CSIDriver{ObjectMeta: metav1.ObjectMeta{Name: name, UID: s.uid()}}
		switch {
		case name == capDriver && s.chance(0.9), s.chance(0.1):
			d.Spec.StorageCapacity = ptr.To(true)
		case s.chance(0.5):
			d.Spec.StorageCapacity = ptr.To(false)
		}
		if s.chance(0.3) {
			d.Spec.AttachRequired = ptr.To(s.chance(0.7))
		}
		switch {
		case s.chance(0.3):
			d.Spec.PreventPodSchedulingIfMissing = ptr.To(true)
		case s.chance(0.1):
			d.Spec.PreventPodSchedulingIfMissing = ptr.To(false)
		}
		s.objs = append(s.objs, d)
	}
}

func (s *storageGen) storageClasses() {
	for _, cp := range classProvisioners {
		if !s.chance(0.85) {
			continue
		}
		sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: cp.name, UID: s.uid()}, Provisioner: cp.provisioner}
		switch {
		case s.chance(0.75), cp.name == "fast" && s.chance(0.5):
			sc.VolumeBindingMode = ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)
		case s.chance(0.8):
			sc.VolumeBindingMode = ptr.To(storagev1.VolumeBindingImmediate)
		}
		if s.chance(0.3) {
			// One term, or a zone term OR-ed with a hostname term (terms
			// must differ).
			zone := v1.TopologySelectorTerm{MatchLabelExpressions: []v1.TopologySelectorLabelRequirement{{Key: pick(s.gen, zoneKey, zoneKey, zoneKey, betaZoneKey), Values: s.someZones()}}}
			host := v1.TopologySelectorTerm{MatchLabelExpressions: []v1.TopologySelectorLabelRequirement{{Key: hostnameKey, Values: s.someHosts()}}}
			switch {
			case s.chance(0.55):
				sc.AllowedTopologies = []v1.TopologySelectorTerm{zone}
			case s.chance(0.6):
				sc.AllowedTopologies = []v1.TopologySelectorTerm{host}
			default:
				sc.AllowedTopologies = []v1.TopologySelectorTerm{zone, host}
			}
		}
		s.classes[cp.name] = sc
		s.objs = append(s.objs, sc)
	}
}

// someZones returns one or two distinct zones, sorted.
func (s *storageGen) someZones() []string {
	out := []string{pick(s.gen, zones...)}
	if z := pick(s.gen, zones...); s.chance(0.4) && z != out[0] {
		out = append(out, z)
	}
	slices.Sort(out)
	return out
}

// hostOf is a hostname label value for node n: its label, or (if it has
// none, or sometimes) its name, which may differ from the label.
func (s *storageGen) hostOf(n *v1.Node) string {
	if h, ok := n.Labels[hostnameKey]; ok && !s.chance(0.1) {
		return h
	}
	return n.Name
}

// someHosts returns one or two hostname values of the case's nodes, or of
// a node that does not exist.
func (s *storageGen) someHosts() []string {
	h := "node-missing"
	if len(s.nodes) > 0 && s.chance(0.9) {
		h = s.hostOf(pick(s.gen, s.nodes...))
	}
	out := []string{h}
	if len(s.nodes) > 1 && s.chance(0.3) {
		if h2 := s.hostOf(pick(s.gen, s.nodes...)); h2 != h {
			out = append(out, h2)
		}
	}
	slices.Sort(out)
	return out
}

func (s *storageGen) csiNode(n *v1.Node) *storagev1.CSINode {
	cn := &storagev1.CSINode{ObjectMeta: metav1.ObjectMeta{Name: n.Name, UID: s.uid()}}
	for _, d := range csiDrivers {
		if !s.chance(0.55) {
			continue
		}
		drv := storagev1.CSINodeDriver{Name: d, NodeID: n.Name}
		if s.chance(0.5) {
			drv.TopologyKeys = []string{zoneKey}
		}
		if s.chance(0.75) {
			drv.Allocatable = &storagev1.VolumeNodeResources{Count: ptr.To(pick[int32](s.gen, 0, 1, 1, 2, 2, 3, 4, 8))}
		}
		cn.Spec.Drivers = append(cn.Spec.Drivers, drv)
	}
	if s.chance(0.5) {
		cn.Annotations = map[string]string{migratedPluginsKey: pick(s.gen,
			"kubernetes.io/gce-pd", "kubernetes.io/aws-ebs", "kubernetes.io/aws-ebs,kubernetes.io/gce-pd", "kubernetes.io/cinder,kubernetes.io/gce-pd", "")}
	}
	return cn
}

// capacities publishes CSIStorageCapacity for the CSI classes, per zone or
// per host (as a driver does, one object per topology segment: if two
// matched a node, kube-scheduler would score with whichever its lister
// returned first), with capacities and maximum volume sizes around the
// claims' sizes.
func (s *storageGen) capacities() {
	i := 0
	add := func(class string, topo *metav1.LabelSelector) {
		c := &storagev1.CSIStorageCapacity{
			ObjectMeta:       metav1.ObjectMeta{Name: fmt.Sprintf("cap-%d", i), Namespace: "kube-system", UID: s.uid()},
			StorageClassName: class,
			NodeTopology:     topo,
		}
		i++
		// Never a maximum volume size without a capacity: kube-scheduler
		// v1.37's VolumeBinding Score dereferences the capacity of the
		// object whose maximum volume size let the claim fit.
		if s.chance(0.95) {
			c.Capacity = ptr.To(qty(pick(s.gen, "0", "1Gi", "5Gi", "10Gi", "10Gi", "50Gi", "200Gi")))
			if s.chance(0.25) {
				c.MaximumVolumeSize = ptr.To(qty(pick(s.gen, "1Gi", "5Gi", "20Gi")))
			}
		}
		s.objs = append(s.objs, c)
	}
	for _, class := range []string{"fast", "standard", "bare", "csi-gce", "gone"} {
		if !s.chance(0.6) && (class != "fast" || !s.chance(0.6)) {
			continue
		}
		switch {
		case s.chance(0.75):
			for _, z := range zones {
				if s.chance(0.7) {
					add(class, &metav1.LabelSelector{MatchLabels: map[string]string{zoneKey: z}})
				}
			}
		case s.chance(0.8):
			for _, n := range s.nodes {
				if s.chance(0.6) {
					add(class, &metav1.LabelSelector{MatchLabels: map[string]string{hostnameKey: s.hostOf(n)}})
				}
			}
		default:
			add(class, &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: zoneKey, Operator: metav1.LabelSelectorOpIn, Values: s.someZones()}}})
		}
		if s.chance(0.05) {
			add(class, nil) // matches no node
		}
	}
}

func (s *storageGen) accessModes() []v1.PersistentVolumeAccessMode {
	if s.chance(0.15) {
		return []v1.PersistentVolumeAccessMode{v1.ReadWriteOncePod}
	}
	modes := []v1.PersistentVolumeAccessMode{pick(s.gen, v1.ReadWriteOnce, v1.ReadWriteOnce, v1.ReadOnlyMany, v1.ReadWriteMany)}
	if m := pick(s.gen, v1.ReadWriteOnce, v1.ReadOnlyMany, v1.ReadWriteMany); s.chance(0.3) && m != modes[0] {
		modes = append(modes, m)
	}
	return modes
}

func (s *storageGen) pv(i int) *v1.PersistentVolume {
	pv := &v1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pv-%d", i), UID: s.uid(), Labels: map[string]string{}}}
	class := pick(s.gen, classNames...)
	pv.Spec.StorageClassName = class
	// Sizes differ by i MiB: kube-scheduler binds a claim to the smallest
	// fitting volume, the first its lister returns among equals.
	size := qty(pick(s.gen, sizes...))
	size.Add(mebi(int64(i)))
	pv.Spec.Capacity = v1.ResourceList{v1.ResourceStorage: size}
	pv.Spec.AccessModes = s.accessModes()
	if s.chance(0.12) {
		pv.Spec.VolumeMode = ptr.To(v1.PersistentVolumeBlock)
	}
	provisioner := ""
	for _, cp := range classProvisioners {
		if cp.name == class {
			provisioner = cp.provisioner
		}
	}
	switch {
	case provisioner == noProvisioner && len(s.nodes) > 0 || s.chance(0.05) && len(s.nodes) > 0:
		// Local volumes must have node affinity, to one host.
		pv.Spec.Local = &v1.LocalVolumeSource{Path: fmt.Sprintf("/mnt/disk-%d", i)}
		pv.Spec.NodeAffinity = &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
			MatchExpressions: []v1.NodeSelectorRequirement{{Key: hostnameKey, Operator: v1.NodeSelectorOpIn, Values: []string{s.hostOf(pick(s.gen, s.nodes...))}}},
		}}}}
	case provisioner == gcePDProvisioner || s.chance(0.1):
		pv.Spec.GCEPersistentDisk = &v1.GCEPersistentDiskVolumeSource{PDName: pick(s.gen, append(gceDisks, fmt.Sprintf("pd-%d", i))...), ReadOnly: s.chance(0.2)}
	case s.chance(0.06):
		pv.Spec.AWSElasticBlockStore = &v1.AWSElasticBlockStoreVolumeSource{VolumeID: pick(s.gen, append(ebsVols, fmt.Sprintf("vol-%d", i))...)}
	case s.chance(0.05):
		pv.Spec.HostPath = &v1.HostPathVolumeSource{Path: fmt.Sprintf("/data/pv-%d", i)}
	default:
		driver := provisioner
		if driver == "" || driver == gcePDProvisioner || s.chance(0.1) {
			driver = pick(s.gen, csiDrivers...)
		}
		pv.Spec.CSI = &v1.CSIPersistentVolumeSource{Driver: driver, VolumeHandle: fmt.Sprintf("handle-%d", i)}
	}
	if pv.Spec.NodeAffinity == nil && s.chance(0.4) {
		pv.Spec.NodeAffinity = &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{}}
		for range 1 + s.r.IntN(2) {
			var t v1.NodeSelectorTerm
			switch {
			case s.chance(0.35):
				t.MatchExpressions = []v1.NodeSelectorRequirement{{Key: hostnameKey, Operator: v1.NodeSelectorOpIn, Values: s.someHosts()}}
			case s.chance(0.2):
				t.MatchExpressions = []v1.NodeSelectorRequirement{{Key: betaZoneKey, Operator: v1.NodeSelectorOpIn, Values: s.someZones()}}
			case s.chance(0.15):
				// Other operators: not in a zone, or on a label some nodes
				// lack.
				t.MatchExpressions = []v1.NodeSelectorRequirement{pick(s.gen,
					v1.NodeSelectorRequirement{Key: zoneKey, Operator: v1.NodeSelectorOpNotIn, Values: s.someZones()},
					v1.NodeSelectorRequirement{Key: gkeZoneKey, Operator: v1.NodeSelectorOpExists},
					v1.NodeSelectorRequirement{Key: betaZoneKey, Operator: v1.NodeSelectorOpDoesNotExist})}
			default:
				t.MatchExpressions = []v1.NodeSelectorRequirement{{Key: zoneKey, Operator: v1.NodeSelectorOpIn, Values: s.someZones()}}
				if s.chance(0.2) {
					t.MatchExpressions = append(t.MatchExpressions, v1.NodeSelectorRequirement{Key: regionKey, Operator: v1.NodeSelectorOpIn, Values: []string{pick(s.gen, "r1", "r2")}})
				}
			}
			pv.Spec.NodeAffinity.Required.NodeSelectorTerms = append(pv.Spec.NodeAffinity.Required.NodeSelectorTerms, t)
		}
	}
	// Zone and region labels, as the PV label admission controller used to
	// add them; VolumeZone reads these, multi-zone values split on "__".
	if s.chance(0.45) {
		z := s.someZones()
		v := z[0]
		if len(z) > 1 {
			v = z[0] + "__" + z[1]
		}
		if s.chance(0.05) {
			v = "" // not a zone list: VolumeZone ignores the label
		}
		pv.Labels[pick(s.gen, zoneKey, zoneKey, betaZoneKey)] = v
	}
	if s.chance(0.15) {
		pv.Labels[pick(s.gen, regionKey, betaRegionKey)] = pick(s.gen, "r1", "r2")
	}
	if s.chance(0.4) {
		pv.Labels["tier"] = pick(s.gen, "gold", "silver")
	}
	if s.chance(0.05) {
		// The beta annotation, which takes precedence over the field.
		pv.Annotations = map[string]string{v1.BetaStorageClassAnnotation: pick(s.gen, classNames...)}
	}
	if pv.Spec.CSI != nil && s.chance(0.05) {
		pv.Spec.VolumeAttributesClassName = ptr.To("gold-vac")
	}
	pv.Status.Phase = v1.VolumeAvailable
	switch {
	case s.chance(0.06):
		pv.Status.Phase = v1.VolumeReleased
		pv.Spec.ClaimRef = &v1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: "default", Name: "claim-old", UID: s.uid()}
	case s.chance(0.04):
		pv.Status.Phase = v1.VolumePending
	case s.chance(0.03):
		pv.Status.Phase = v1.VolumeFailed
	}
	if s.chance(0.04) {
		pv.DeletionTimestamp = ptr.To(metav1.Unix(1700000000, 0))
		pv.Finalizers = []string{"kubernetes.io/pv-protection"}
	}
	return pv
}

// freePV returns an unclaimed available volume, or nil.
func (s *storageGen) freePV() *v1.PersistentVolume {
	var free []*v1.PersistentVolume
	for _, pv := range s.pvs {
		if pv.Spec.ClaimRef == nil && pv.Status.Phase == v1.VolumeAvailable {
			free = append(free, pv)
		}
	}
	if len(free) == 0 {
		return nil
	}
	return pick(s.gen, free...)
}

// bind binds pvc to pv both ways, as the PV controller does.
func bind(pvc *v1.PersistentVolumeClaim, pv *v1.PersistentVolume) {
	pvc.Spec.VolumeName = pv.Name
	pvc.Spec.StorageClassName = ptr.To(pv.Spec.StorageClassName)
	pvc.Spec.AccessModes = slices.Clone(pv.Spec.AccessModes)
	pvc.Spec.VolumeMode = pv.Spec.VolumeMode
	pvc.Annotations[bindCompletedKey] = "yes"
	pvc.Status.Phase = v1.ClaimBound
	pvc.Status.AccessModes = slices.Clone(pv.Spec.AccessModes)
	pvc.Status.Capacity = pv.Spec.Capacity.DeepCopy()
	if r := pvc.Spec.Resources.Requests[v1.ResourceStorage]; r.Cmp(pv.Spec.Capacity[v1.ResourceStorage]) > 0 {
		pvc.Spec.Resources.Requests[v1.ResourceStorage] = pv.Spec.Capacity[v1.ResourceStorage].DeepCopy()
	}
	pv.Spec.ClaimRef = &v1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID}
	pv.Status.Phase = v1.VolumeBound
}

// claimSpec is an unbound claim's spec: class, size, access modes, volume
// mode and sometimes a selector or a volume attributes class.
func (s *storageGen) claimSpec() v1.PersistentVolumeClaimSpec {
	spec := v1.PersistentVolumeClaimSpec{
		AccessModes: s.accessModes(),
		Resources:   v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: qty(pick(s.gen, "1Gi", "2Gi", "5Gi", "10Gi", "50Gi"))}},
	}
	if !s.chance(0.08) {
		spec.StorageClassName = ptr.To(pick(s.gen, claimClassNames...))
	}
	if s.chance(0.1) {
		spec.VolumeMode = ptr.To(v1.PersistentVolumeBlock)
	}
	if s.chance(0.12) {
		spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": pick(s.gen, "gold", "silver")}}
	}
	if s.chance(0.04) {
		spec.VolumeAttributesClassName = ptr.To("gold-vac")
	}
	return spec
}

func (s *storageGen) claim(i int) *v1.PersistentVolumeClaim {
	pvc := &v1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{
		Name: fmt.Sprintf("claim-%d", i), Namespace: pick(s.gen, namespaces...).name, UID: s.uid(), Annotations: map[string]string{},
	}}
	pvc.Spec = s.claimSpec()
	if s.chance(0.05) {
		// The beta annotation, which takes precedence over the field.
		// Never without the field: kube-scheduler v1.37's VolumeBinding
		// Score groups provisioned claims by *spec.storageClassName.
		pvc.Annotations[v1.BetaStorageClassAnnotation] = pick(s.gen, claimClassNames...)
		if pvc.Spec.StorageClassName == nil {
			pvc.Spec.StorageClassName = ptr.To(pick(s.gen, claimClassNames...))
		}
	}
	pvc.Status.Phase = v1.ClaimPending
	switch r := s.r.Float64(); {
	case r < 0.35:
		if pv := s.freePV(); pv != nil {
			bind(pvc, pv)
			if s.chance(0.05) {
				// Bound by the PV controller, not yet marked complete.
				delete(pvc.Annotations, bindCompletedKey)
			}
		}
	case r < 0.40:
		// Bound to a volume that is gone, or lost it.
		pvc.Spec.VolumeName = "pv-gone"
		pvc.Annotations[bindCompletedKey] = "yes"
		pvc.Status.Phase = pick(s.gen, v1.ClaimBound, v1.ClaimLost)
	case r < 0.45 && len(s.pvs) > 0:
		// The user named a volume; the controller has not bound it.
		pvc.Spec.VolumeName = pick(s.gen, s.pvs...).Name
	default:
		if s.chance(0.1) && len(s.nodes) > 0 {
			n := pick(s.gen, s.nodes...).Name
			if s.chance(0.2) {
				n = "node-missing"
			}
			pvc.Annotations[selectedNodeKey] = n
		}
	}
	if s.chance(0.04) {
		pvc.DeletionTimestamp = ptr.To(metav1.Unix(1700000000, 0))
		pvc.Finalizers = []string{"kubernetes.io/pvc-protection"}
	}
	return pvc
}

// prebind points some available volumes at unbound claims (claimRef set by
// the user or by a scheduler that assumed the binding).
func (s *storageGen) prebind() {
	for _, ns := range namespaces {
		for _, pvc := range s.claims[ns.name] {
			if pvc.Spec.VolumeName != "" || !s.chance(0.1) {
				continue
			}
			if pv := s.freePV(); pv != nil {
				pv.Spec.ClaimRef = &v1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: pvc.Namespace, Name: pvc.Name}
				if s.chance(0.5) {
					pv.Spec.ClaimRef.UID = pvc.UID
				}
			}
		}
	}
}

// podVolumes gives p one to three volumes: a claim of its own (pending
// pods), claims of its namespace (or a missing one), generic ephemeral volumes (with the claim created and owned
// by p, owned by another pod, or not yet created), in-line disks that
// conflict between pods, in-line CSI volumes and volumes no plugin reads.
func (s *storageGen) podVolumes(p *v1.Pod, bound bool) {
	used := map[string]bool{}
	for i := range 1 + s.r.IntN(3) {
		vol := v1.Volume{Name: fmt.Sprintf("vol-%d", i)}
		switch r := s.r.Float64(); {
		case !bound && s.chance(0.35):
			// A claim of its own, as a StatefulSet's volumeClaimTemplates
			// make: unbound, usually to be provisioned or statically bound
			// on the chosen node (what VolumeBinding scores).
			pvc := &v1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{
				Name: fmt.Sprintf("%s-data-%d", p.Name, i), Namespace: p.Namespace, UID: s.uid(), Annotations: map[string]string{},
			}}
			pvc.Spec = v1.PersistentVolumeClaimSpec{
				AccessModes:      []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
				Resources:        v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: qty(pick(s.gen, "1Gi", "2Gi", "5Gi"))}},
				StorageClassName: ptr.To(pick(s.gen, "fast", "fast", "fast", "local", "standard")),
			}
			pvc.Status.Phase = v1.ClaimPending
			s.extra = append(s.extra, pvc)
			vol.PersistentVolumeClaim = &v1.PersistentVolumeClaimVolumeSource{ClaimName: pvc.Name}
		case r < 0.45:
			name := "claim-missing"
			if cs := s.claims[p.Namespace]; len(cs) > 0 && !s.chance(0.05) {
				name = pick(s.gen, cs...).Name
			}
			if used[name] {
				continue
			}
			used[name] = true
			vol.PersistentVolumeClaim = &v1.PersistentVolumeClaimVolumeSource{ClaimName: name, ReadOnly: s.chance(0.1)}
		case r < 0.6:
			spec := s.claimSpec()
			spec.Selector = nil // not allowed in an ephemeral volume's template
			vol.Ephemeral = &v1.EphemeralVolumeSource{VolumeClaimTemplate: &v1.PersistentVolumeClaimTemplate{Spec: spec}}
			if s.chance(0.8) {
				s.ephemeralClaim(p, vol.Name, spec, bound)
			}
		case r < 0.82:
			s.inlineDisk(&vol)
		case r < 0.92:
			vol.CSI = &v1.CSIVolumeSource{Driver: pick(s.gen, csiDrivers...)}
		default:
			vol.EmptyDir = &v1.EmptyDirVolumeSource{}
		}
		p.Spec.Volumes = append(p.Spec.Volumes, vol)
	}
}

// ephemeralClaim creates the claim the ephemeral volume controller makes for
// volume vol of p: named <pod>-<volume>, owned by p (sometimes by another
// pod), and for a bound pod usually bound.
func (s *storageGen) ephemeralClaim(p *v1.Pod, vol string, spec v1.PersistentVolumeClaimSpec, bound bool) {
	owner := p.UID
	if s.chance(0.1) {
		owner = s.uid()
	}
	pvc := &v1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{
		Name: p.Name + "-" + vol, Namespace: p.Namespace, UID: s.uid(), Annotations: map[string]string{},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: p.Name, UID: owner, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
	}, Spec: spec}
	pvc.Status.Phase = v1.ClaimPending
	if bound || s.chance(0.2) {
		if pv := s.freePV(); pv != nil {
			bind(pvc, pv)
		}
	}
	s.extra = append(s.extra, pvc)
}

// inlineDisk sets one of the in-line volume sources VolumeRestrictions
// checks for conflicts (and, once migrated, NodeVolumeLimits counts).
func (s *storageGen) inlineDisk(vol *v1.Volume) {
	switch s.r.IntN(4) {
	case 0:
		vol.GCEPersistentDisk = &v1.GCEPersistentDiskVolumeSource{PDName: pick(s.gen, gceDisks...), ReadOnly: s.chance(0.4)}
	case 1:
		vol.AWSElasticBlockStore = &v1.AWSElasticBlockStoreVolumeSource{VolumeID: pick(s.gen, ebsVols...), ReadOnly: s.chance(0.3)}
	case 2:
		mons := []string{pick(s.gen, rbdMons...)}
		if m := pick(s.gen, rbdMons...); s.chance(0.5) && m != mons[0] {
			mons = append(mons, m)
		}
		vol.RBD = &v1.RBDVolumeSource{CephMonitors: mons, RBDImage: pick(s.gen, "img-0", "img-1"), RBDPool: pick(s.gen, "", "rbd", "pool-b"), ReadOnly: s.chance(0.4)}
	default:
		vol.ISCSI = &v1.ISCSIVolumeSource{TargetPortal: "10.0.2.1:3260", IQN: pick(s.gen, iscsiIQNs...), Lun: pick[int32](s.gen, 0, 1), ReadOnly: s.chance(0.4)}
	}
}

// attachments records VolumeAttachments on some nodes: of the case's CSI
// volumes (sometimes one no pod on the node uses) or of a volume that is
// gone.
func (s *storageGen) attachments() {
	var csiPVs []string
	for _, pv := range s.pvs {
		if pv.Spec.CSI != nil {
			csiPVs = append(csiPVs, pv.Name)
		}
	}
	i := 0
	for _, n := range s.nodes {
		if !s.chance(0.3) {
			continue
		}
		for range 1 + s.r.IntN(3) {
			pvName := "pv-gone"
			attacher := pick(s.gen, csiDrivers...)
			if len(csiPVs) > 0 && s.chance(0.85) {
				pvName = pick(s.gen, csiPVs...)
				for _, pv := range s.pvs {
					if pv.Name == pvName && s.chance(0.85) {
						attacher = pv.Spec.CSI.Driver
					}
				}
			}
			va := &storagev1.VolumeAttachment{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("va-%d", i), UID: s.uid()},
				Spec:       storagev1.VolumeAttachmentSpec{Attacher: attacher, NodeName: n.Name, Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: ptr.To(pvName)}},
				Status:     storagev1.VolumeAttachmentStatus{Attached: s.chance(0.9)},
			}
			i++
			s.objs = append(s.objs, va)
		}
	}
}

// simplify drops a pending pod's other scheduling constraints (node and pod
// affinity, selectors, spreading, host ports, requests) and tolerates every
// taint, so that the storage plugins decide where it fits and VolumeBinding's
// scores get compared on feasible nodes.
func simplify(p *v1.Pod) {
	p.Spec.NodeName = ""
	p.Spec.NodeSelector = nil
	p.Spec.Affinity = nil
	p.Spec.TopologySpreadConstraints = nil
	p.Spec.InitContainers = nil
	p.Spec.Overhead = nil
	p.Spec.RuntimeClassName = nil
	p.Spec.Resources = nil
	p.Spec.Tolerations = []v1.Toleration{{Operator: v1.TolerationOpExists}}
	for i := range p.Spec.Containers {
		p.Spec.Containers[i].Ports = nil
		p.Spec.Containers[i].Resources = v1.ResourceRequirements{}
	}
}
