// Package volumezone provides VolumeZone, which keeps a pod off nodes that
// are outside the zone or region of a PersistentVolume the pod uses.
//
// PreFilter resolves each of the pod's PersistentVolumeClaim volumes to its
// bound PersistentVolume and collects the volume's topology labels
// (topology.kubernetes.io/zone and /region, and their deprecated
// failure-domain.beta.kubernetes.io forms; a value may list several zones
// separated by "__"). Filter then requires a node that carries any of those
// labels to carry each of the volume's keys with one of its values; nodes
// with no topology label at all pass, as in a single-zone cluster.
//
// Claims that are not bound yet are skipped when their StorageClass
// delays binding (WaitForFirstConsumer: VolumeBinding picks the volume
// later) and rejected otherwise. Missing claims, classes or volumes reject
// the pod with the API's not-found message. The codes and reasons are
// kube-scheduler v1.37's. Generic ephemeral volumes are not considered,
// as upstream does not consider them either.
//
// The plugin reads claims, volumes and classes from the shared informers,
// not from the snapshot: they are not per-node state.
package volumezone
