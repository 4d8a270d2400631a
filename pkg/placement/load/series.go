package load

import (
	"math"
	"time"
)

// Series is a regularly sampled metric, typically a node's utilisation as
// a fraction of its capacity (0..1 is typical; values above 1 are allowed,
// for overcommitted resources). It is the input of Stats and FitForecast,
// kept free of any metrics client so that the forecasting math can be
// tested on synthetic data.
//
// Values[i] was observed at Start + i*Step. NaN marks a gap (a missed
// scrape); the forecasting code treats ±Inf like NaN.
type Series struct {
	// Start is the time of Values[0].
	Start time.Time
	// Step is the sampling interval; it should be positive.
	Step time.Duration
	// Values are the samples, oldest first.
	Values []float64
}

// End returns the time of the last point (Start when the series is
// empty), the origin from which FitForecast looks ahead.
func (s Series) End() time.Time {
	if len(s.Values) == 0 {
		return s.Start
	}
	return s.Start.Add(time.Duration(len(s.Values)-1) * s.Step)
}

// Len returns the number of points, gaps included.
func (s Series) Len() int { return len(s.Values) }

// Stats returns the mean and the population standard deviation of the
// non-NaN (and finite) values of the last window of the series, the summary a scorer
// uses when it does not forecast. The last window is the points observed
// strictly after End()-window; the whole series counts when window <= 0,
// when window is longer than the series, or when Step is not positive.
// n is how many points counted; when n is 0, mean and std are 0.
func (s Series) Stats(window time.Duration) (mean, std float64, n int) {
	vals := s.Values
	if window > 0 && s.Step > 0 {
		// Points i with Start+i*Step > End-window: the last
		// ceil(window/Step) points.
		k := int(window / s.Step)
		if window%s.Step != 0 {
			k++
		}
		if k < len(vals) {
			vals = vals[len(vals)-k:]
		}
	}
	var sum float64
	for _, v := range vals {
		if isObservation(v) {
			sum += v
			n++
		}
	}
	if n == 0 {
		return 0, 0, 0
	}
	mean = sum / float64(n)
	// Second pass on the deviations: no cancellation as with E[x²]-E[x]².
	var ss float64
	for _, v := range vals {
		if isObservation(v) {
			d := v - mean
			ss += d * d
		}
	}
	return mean, math.Sqrt(ss / float64(n)), n
}

// isObservation reports whether v is an observation rather than a gap.
func isObservation(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// filled returns the values with gaps filled by carrying the previous
// observation forward, leading gaps dropped, and how many non-gap points
// there were. The result is a fresh slice (nil when there is no
// observation); its last element corresponds to the series' last point.
func (s Series) filled() (xs []float64, observed int) {
	first := -1
	for i, v := range s.Values {
		if isObservation(v) {
			first = i
			break
		}
	}
	if first < 0 {
		return nil, 0
	}
	xs = make([]float64, len(s.Values)-first)
	prev := s.Values[first]
	for i, v := range s.Values[first:] {
		if isObservation(v) {
			prev = v
			observed++
		}
		xs[i] = prev
	}
	return xs, observed
}
