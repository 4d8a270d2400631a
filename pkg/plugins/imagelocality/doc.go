// Package imagelocality provides ImageLocality, a Score plugin favouring
// nodes that already hold the pod's images, weighted by image size and by
// how widely each image has spread, so that one node holding a popular image
// does not attract every pod that uses it.
package imagelocality
