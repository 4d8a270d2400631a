// Package conformance checks that berth's plugins reach the same verdicts as
// kube-scheduler v1.37's on the same cluster state.
//
// It runs both sides in-process, plugin by plugin: the oracle is upstream's
// own plugins (k8s.io/kubernetes/pkg/scheduler/framework/plugins) built from
// upstream's defaulted configuration over upstream's snapshot; the other side
// is berth's plugins from plugins.NewInTreeRegistry with berth's defaulted
// args over berth's snapshot. For every (pending pod, node) it compares the
// PreFilter and Filter verdicts (code and reasons as a set), and for every
// score plugin the normalised score of each feasible node.
//
// Clusters and pods come from a seeded generator (Generate) that covers the
// fields these plugins read and keeps every object valid: each generated
// object goes through the API server's defaulting and validation (Admit).
// A disagreement is shrunk to a minimal cluster and printed as YAML.
//
// # Storage
//
// VolumeBinding (Filter and Score: StorageCapacityScoring is beta and on by
// default in v1.37, with the default shape), VolumeZone, VolumeRestrictions
// and NodeVolumeLimits read API objects through informers, not the
// snapshot. Every load of a case therefore gets, for each side, a fresh fake
// clientset holding the namespaces, nodes, bound pods and the case's storage
// objects (Cluster.Objects), and a fresh informer factory over it, started
// after the plugins are built (they register their informers in New) and
// stopped when the case is done. kube-scheduler's side gets the CSI manager
// scheduler.New wires (nodevolumelimits.NewCSIManager over CSINodes).
//
// Three cases in four get a storage scenario, drawn from a random stream of
// its own so that a seed's nodes and pods are the same with or without it
// (addStorage in generate_storage.go):
//
//   - node labels: the beta zone/region labels on some nodes, sometimes
//     disagreeing with the GA ones; topology.gke.io/zone on some.
//   - CSIDrivers for five drivers (one with storageCapacity, one without,
//     one usually absent, and the CSI drivers GCE PD and AWS EBS migrate
//     to), sometimes attachRequired or preventPodSchedulingIfMissing.
//   - StorageClasses (each sometimes missing, and a class "gone" that never
//     exists): CSI provisioners, kubernetes.io/no-provisioner and the in-tree
//     kubernetes.io/gce-pd; Immediate or WaitForFirstConsumer; sometimes
//     allowedTopologies on zone and/or hostname.
//   - CSINodes on most nodes: a subset of the drivers with per-driver
//     allocatable counts (0 to 8, or none) and sometimes the migrated-plugins
//     annotation.
//   - CSIStorageCapacities per zone or per host (one object per topology
//     segment, as a driver publishes them), capacities from 0 to 200Gi,
//     sometimes a maximum volume size, sometimes no topology.
//   - PersistentVolumes: CSI, local (with hostname node affinity), hostPath,
//     in-line-migratable GCE PD and AWS EBS; sizes, access modes including
//     ReadWriteOncePod, Filesystem or Block, node affinity on hostname or
//     zone (GA or beta key), zone/region labels (multi-zone "a__b" values
//     too), tier labels for claim selectors, a volume attributes class;
//     Available, Bound, Released, Pending or Failed; sometimes being deleted.
//   - PersistentVolumeClaims: bound (both ways, bind-completed, sometimes not
//     yet complete), bound to a volume that is gone or Lost, naming a volume
//     the controller has not bound, unbound (class, sometimes also the beta
//     storage-class annotation, size, access modes, volume mode, selector,
//     selected-node annotation), being deleted; some available volumes
//     pre-bound to unbound claims.
//   - pods: a third of the bound pods and two thirds of the pending pods get
//     one to three volumes: the namespace's claims (or a missing one), a
//     claim of the pod's own (pending pods; usually provisionable, what
//     VolumeBinding scores), generic ephemeral volumes (the claim owned by
//     the pod, owned by another pod, or not yet created), in-line GCE PD,
//     AWS EBS, RBD and iSCSI disks from small pools (conflicts), in-line CSI
//     volumes, emptyDir. Some pending pods with volumes drop their other
//     constraints, so that storage decides where they fit and scores are
//     compared.
//   - VolumeAttachments on some nodes, of the case's CSI volumes or of a
//     volume that is gone.
//
// FormatCoverage lists, per plugin, the verdicts each side gave and in how
// many cases; TestStorageScenarios runs kube-scheduler's storage plugins
// against themselves and requires every upstream reason to be reached.
//
// Two upstream behaviours depend on map or lister order, and the harness
// allows for them: NodeVolumeLimits names whichever missing CSI driver its
// map iteration meets first (any "driver is not installed" reason matches
// another, Verdict.equalFor), and VolumeBinding scores with the first
// CSIStorageCapacity its lister returns and binds the first of equally small
// volumes (the generator never makes two capacities of a class match one
// node, and volume sizes differ). VolumeBinding's Score panics on a matching
// capacity with a maximum volume size and no capacity, and on a provisioned
// claim whose class only the beta annotation names; the generator makes
// neither. A panic on either side becomes a "Panic" verdict, a
// disagreement, rather than the end of the run.
//
// # DRA
//
// Half the cases get a DRA scenario for DynamicResources (addDRA in
// generate_dra.go), drawn last from a random stream of its own:
// DeviceClasses with CEL selectors and config; ResourceSlices per node
// (GPUs, partitionable GPUs with shared counters, shareable NICs with
// consumable capacity, device taints, binding conditions, outdated,
// incomplete and invalid pools), network-attached and per-device pools and
// a DeviceTaintRule; ResourceClaims with exact, all and prioritized-list
// requests, selectors, tolerations, constraints, admin access and capacity
// requests, some allocated and reserved by bound pods, some being deleted;
// templates and the claims made from them for pending pods. The oracle gets
// the DRA manager scheduler.New builds (oracle_dra.go); berth's plugins are
// waited for if they implement framework.SyncedPlugin (synced.go). TestDRAScenarios
// requires every outcome and reason of kube-scheduler's plugin.
//
// # Node features
//
// Half the cases get a node-features scenario for NodeDeclaredFeatures
// (addFeatures in generate_features.go), from a random stream of its own
// drawn after every other generator: some nodes declare features, names the
// component-helpers library knows and names it does not, and some pending
// pods get restart rules that need RestartAllContainersOnContainerExits or
// near misses that need nothing. TestFeatureScenarios requires both verdicts.
//
// # Gang scheduling
//
// A second family (gang*.go) runs whole schedulers: kube-scheduler's own
// Scheduler with the GenericWorkload gate on against berth's engine, on
// generated scheduling.k8s.io/v1beta1 PodGroups, and compares whether each
// group is placed and, without a topology constraint, how many members;
// see GangHarness and docs/conformance.md.
//
// Adding a plugin to the comparison is one row in Plugins; a row whose plugin
// berth's registry does not (yet) have is skipped.
package conformance
