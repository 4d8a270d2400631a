// Package gpu tests berth's GPU placement (the GPUShare plugin over
// pkg/placement/gpu) on devcluster, with berth running as its own process
// (bin/berth) so that it can be killed like a crashed scheduler.
//
// The pods follow berth's GPU contract: whole cards through the
// nvidia.com/gpu resource, a share of one card through the
// berth.io/gpu-milli annotation (with optional berth.io/gpu-memory), and
// the nodes are nodegen's gpu profile (card count in allocatable, model
// and per-card memory in GPU feature discovery's labels). The tests check
// the berth.io/gpu-assignment annotations berth writes before binding
// against what the test asked for: every bound GPU pod has one for its
// node with the right number of cards, no card holds more than 1000
// milli or more memory than it has, whole cards are never shared; that
// shares pack onto a card; that malformed requests stay pending with a
// FailedScheduling event that says what is wrong; and that a berth killed
// in the middle of a burst is replaced by one that rebuilds the cards'
// state from the annotations.
package gpu
