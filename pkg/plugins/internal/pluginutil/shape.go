package pluginutil

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/pkg/framework"
)

const (
	// MaxShapeUtilization bounds a shape point's utilization: [0, 100].
	MaxShapeUtilization int32 = 100
	// MaxShapeScore bounds a shape point's score: [0, 10]. Scores are scaled
	// by framework.MaxNodeScore/MaxShapeScore when the shape is evaluated.
	MaxShapeScore int32 = 10
)

// ShapePoint is one point of a piecewise-linear scoring shape, with the
// score already scaled to 0..framework.MaxNodeScore.
type ShapePoint struct{ Utilization, Score int64 }

// Shape is a piecewise-linear function of utilisation (0..100), the form
// kube-scheduler's RequestedToCapacityRatio and VolumeBinding args use.
type Shape []ShapePoint

// NewShape scales the args' points (scores 0..MaxShapeScore) to node
// scores.
func NewShape(points []configv1.UtilizationShapePoint) Shape {
	scale := framework.MaxNodeScore / int64(MaxShapeScore)
	out := make(Shape, len(points))
	for i, p := range points {
		out[i] = ShapePoint{Utilization: int64(p.Utilization), Score: int64(p.Score) * scale}
	}
	return out
}

// At evaluates the shape at utilisation u: flat before the first point and
// after the last, linear (integer arithmetic, as upstream) in between.
func (s Shape) At(u int64) int64 {
	if len(s) == 0 {
		return 0
	}
	for i, p := range s {
		if u <= p.Utilization {
			if i == 0 {
				return p.Score
			}
			prev := s[i-1]
			return prev.Score + (p.Score-prev.Score)*(u-prev.Utilization)/(p.Utilization-prev.Utilization)
		}
	}
	return s[len(s)-1].Score
}

// ValidateShape checks a shape: at least one point, utilizations strictly
// increasing (reported once, at the first offender), and every point within
// range.
func ValidateShape(shape []configv1.UtilizationShapePoint, path *field.Path) field.ErrorList {
	if len(shape) == 0 {
		return field.ErrorList{field.Required(path, "at least one point must be specified")}
	}
	var errs field.ErrorList
	for i := 1; i < len(shape); i++ {
		if shape[i-1].Utilization >= shape[i].Utilization {
			errs = append(errs, field.Invalid(path.Index(i).Child("utilization"), shape[i].Utilization, "values must be sorted in increasing order"))
			break
		}
	}
	for i, p := range shape {
		if p.Utilization < 0 || p.Utilization > MaxShapeUtilization {
			errs = append(errs, field.Invalid(path.Index(i).Child("utilization"), p.Utilization,
				fmt.Sprintf("not in valid range [0, %d]", MaxShapeUtilization)))
		}
		if p.Score < 0 || p.Score > MaxShapeScore {
			errs = append(errs, field.Invalid(path.Index(i).Child("score"), p.Score,
				fmt.Sprintf("not in valid range [0, %d]", MaxShapeScore)))
		}
	}
	return errs
}
