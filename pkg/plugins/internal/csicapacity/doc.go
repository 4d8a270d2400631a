// Package csicapacity indexes CSIStorageCapacity objects for the storage
// plugins (VolumeBinding's capacity check and scoring, StorageLocality's
// local-capacity signal), so that "which capacity objects can this node
// reach for this class" costs a map lookup instead of a scan of every
// object: node-local drivers publish one object per node and class, so a
// cluster of 5,000 nodes has 5,000 objects per class.
package csicapacity
