package imagelocality

import (
	"context"
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/berthsched/berth/pkg/framework"
)

// Name is the plugin's name in the registry and in configurations.
const Name = "ImageLocality"

// The score range covers image sizes between the two thresholds (the bulk
// of images in public registries, as kube-scheduler reasons): the sum below
// minThreshold scores 0, and maxContainerThreshold per image scores 100.
const (
	mb                    int64 = 1024 * 1024
	minThreshold          int64 = 23 * mb
	maxContainerThreshold int64 = 1000 * mb
)

// ImageLocality scores nodes by the pod's images already present there.
type ImageLocality struct {
	handle framework.Handle
}

var (
	_ framework.ScorePlugin    = (*ImageLocality)(nil)
	_ framework.PreScorePlugin = (*ImageLocality)(nil)
)

// preScoreKey is where PreScore leaves the pod's normalised image names.
const preScoreKey framework.StateKey = Name + "/images"

// podImages is the pod's image references, normalised once per cycle so
// that scoring a node does no string building.
type podImages []string

// Clone implements framework.StateData; the list is never modified.
func (p podImages) Clone() framework.StateData { return p }

// PreScore normalises the pod's image names once for all nodes.
func (pl *ImageLocality) PreScore(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	state.Write(preScoreKey, podImages(imagesOf(pod)))
	return nil
}

// imagesOf lists the pod's normalised image references: init containers,
// containers and image volumes, each occurrence counted.
func imagesOf(pod *v1.Pod) []string {
	var out []string
	for _, c := range pod.Spec.InitContainers {
		out = append(out, normalizedImageName(c.Image))
	}
	for _, c := range pod.Spec.Containers {
		out = append(out, normalizedImageName(c.Image))
	}
	for _, vol := range pod.Spec.Volumes {
		if vol.Image != nil {
			out = append(out, normalizedImageName(vol.Image.Reference))
		}
	}
	return out
}

// New builds the plugin. It takes no arguments and needs the handle's
// snapshot to know the number of nodes.
func New(_ context.Context, args runtime.Object, h framework.Handle) (framework.Plugin, error) {
	if args != nil {
		return nil, fmt.Errorf("plugin %s takes no args, got %T", Name, args)
	}
	if h == nil {
		return nil, fmt.Errorf("plugin %s needs a framework handle", Name)
	}
	return &ImageLocality{handle: h}, nil
}

// Name returns the plugin's name.
func (*ImageLocality) Name() string { return Name }

// Score returns a value in [0, MaxNodeScore] directly; no normalisation.
func (pl *ImageLocality) Score(_ context.Context, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) (int64, *framework.Status) {
	totalNodes := len(pl.handle.SnapshotSharedLister().NodeInfos().List())
	var images []string
	if d, err := state.Read(preScoreKey); err == nil {
		images = d.(podImages)
	} else {
		images = imagesOf(pod) // PreScore disabled in this profile
	}
	var sum int64
	for _, img := range images {
		if s, ok := nodeInfo.ImageStates[img]; ok {
			sum += scaledImageScore(s, totalNodes)
		}
	}
	return calculatePriority(sum, len(images)), nil
}

// ScoreExtensions returns nil: scores are already in range.
func (*ImageLocality) ScoreExtensions() framework.ScoreExtensions { return nil }

// calculatePriority clamps the summed image score into
// [minThreshold, imageCount*maxContainerThreshold] and maps that range
// linearly onto [0, MaxNodeScore].
func calculatePriority(sum int64, imageCount int) int64 {
	maxThreshold := maxContainerThreshold * int64(imageCount)
	if sum < minThreshold {
		sum = minThreshold
	} else if sum > maxThreshold {
		sum = maxThreshold
	}
	return framework.MaxNodeScore * (sum - minThreshold) / (maxThreshold - minThreshold)
}

// scaledImageScore is the image's size times the fraction of nodes holding
// it, so a rare image counts little and nodes do not "heat up" by pulling
// everything towards the one node that happens to have it.
func scaledImageScore(s *framework.ImageStateSummary, totalNodes int) int64 {
	spread := float64(s.NumNodes) / float64(totalNodes)
	return int64(float64(s.Size) * spread)
}

// normalizedImageName appends the implicit ":latest" tag when the name has
// no tag (no ':' after the last '/'), matching how the node reports image
// names. A digest reference ("@sha256:...") has a ':' after the last '/'
// and is left alone. Registry aliases (docker.io/library/x vs x) are not
// reconciled, as in kube-scheduler.
func normalizedImageName(name string) string {
	if strings.LastIndex(name, ":") <= strings.LastIndex(name, "/") {
		return name + ":latest"
	}
	return name
}
