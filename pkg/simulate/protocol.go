package simulate

import (
	"fmt"
	"math/rand"
)

// The protocol's defaults, the paper's main setting.
const (
	// DefaultSeed seeds the arrival order (and random tie-breaks).
	DefaultSeed int64 = 42
	// DefaultTune scales the GPU demand to 130% of the capacity.
	DefaultTune = 1.3
)

// Arrivals returns the order in which the pods arrive, as the paper's
// simulator builds it, so that berth's numbers compare with the paper's
// seed for seed:
//
//  1. the pods sorted by name, then shuffled (rand.Shuffle) by a
//     math/rand source seeded with seed;
//  2. tuned with the same source to tune × capacityMilli of GPU demand
//     (see Tune); tune <= 0 keeps the trace as it is.
//
// One quirk is reproduced on purpose: the paper's simulator draws one
// rand.Int() between seeding and shuffling (an argument of a debug log
// line, evaluated whether or not the line is printed), so the shuffle
// starts one draw into the sequence. Without it the order, and every
// number after it, would differ from the paper's for the same seed.
func Arrivals(pods []PodRecord, capacityMilli, seed int64, tune float64) []PodRecord {
	sorted := sortedByName(pods)
	r := rand.New(rand.NewSource(seed))
	r.Int()
	order := append([]PodRecord(nil), sorted...)
	r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	return Tune(order, sorted, capacityMilli, tune, r)
}

// Tune scales the GPU demand of order to tune × capacityMilli the way the
// paper does, drawing from r after the shuffle.
//
// When the demand falls short it appends clones of pods drawn uniformly
// (r.Intn) from original, the trace in name order, named
// "<name>-tuned-<i>", and stops at the first draw that would overshoot the
// target. The overshoot test adds the clone's per-card share (GPUMilli),
// not its demand over all cards: a quirk of the paper's simulator kept so
// that the same seed gives the same pods, which lets a multi-card clone
// overshoot by up to its other cards. When the demand exceeds the target
// it removes pods drawn uniformly from order until it does not.
//
// tune <= 0, a cluster without GPUs and a trace without GPU pods leave
// order unchanged (the paper refuses the last two). order itself is not
// modified.
func Tune(order, original []PodRecord, capacityMilli int64, tune float64, r *rand.Rand) []PodRecord {
	demand := demandOf(order)
	if tune <= 0 || capacityMilli <= 0 || demand <= 0 || demandOf(original) <= 0 {
		return order
	}
	target := tune * float64(capacityMilli)
	switch {
	case float64(demand) > target:
		order = append([]PodRecord(nil), order...)
		for float64(demand) > target && len(order) > 0 {
			idx := r.Intn(len(order))
			demand -= order[idx].GPUDemandMilli()
			order = append(order[:idx], order[idx+1:]...)
		}
	case float64(demand) < target:
		for i := 0; ; i++ {
			c := original[r.Intn(len(original))]
			if float64(demand+c.GPUMilli) > target {
				break
			}
			c.Name = fmt.Sprintf("%s-tuned-%d", c.Name, i)
			demand += c.GPUDemandMilli()
			order = append(order, c)
		}
	}
	return order
}
