package storagelocality

import (
	"context"
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/component-helpers/storage/volume"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/internal/csicapacity"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

// Name is the plugin's name in configuration.
const Name = "StorageLocality"

const stateKey framework.StateKey = Name

// StorageLocality scores nodes for pods with claims (see the package doc).
type StorageLocality struct {
	handle     framework.Handle
	pvcs       corelisters.PersistentVolumeClaimLister
	pvs        corelisters.PersistentVolumeLister
	classes    storagelisters.StorageClassLister
	drivers    storagelisters.CSIDriverLister
	capacities *csicapacity.Index

	mode                     CapacityMode
	zoneW, classW, capacityW int64
}

var (
	_ framework.PreScorePlugin = (*StorageLocality)(nil)
	_ framework.ScorePlugin    = (*StorageLocality)(nil)
)

// New builds the plugin from *Args (nil means the defaults).
func New(_ context.Context, obj runtime.Object, h framework.Handle) (framework.Plugin, error) {
	args, err := pluginutil.DecodeArgs(Name, obj, SetDefaultArgs, ValidateArgs, field.NewPath("args"))
	if err != nil {
		return nil, err
	}
	if h == nil || h.SharedInformerFactory() == nil {
		return nil, fmt.Errorf("plugin %s needs a handle with an informer factory", Name)
	}
	f := h.SharedInformerFactory()
	capInf := f.Storage().V1().CSIStorageCapacities()
	caps, err := csicapacity.NewIndex(capInf.Informer(), capInf.Lister())
	if err != nil {
		return nil, fmt.Errorf("plugin %s: watching CSIStorageCapacities: %w", Name, err)
	}
	return &StorageLocality{
		handle:     h,
		pvcs:       f.Core().V1().PersistentVolumeClaims().Lister(),
		pvs:        f.Core().V1().PersistentVolumes().Lister(),
		classes:    f.Storage().V1().StorageClasses().Lister(),
		drivers:    f.Storage().V1().CSIDrivers().Lister(),
		capacities: caps,
		mode:       args.CapacityMode,
		zoneW:      int64(*args.ZoneWeight),
		classW:     int64(*args.ClassWeight),
		capacityW:  int64(*args.CapacityWeight),
	}, nil
}

// Name implements framework.Plugin.
func (pl *StorageLocality) Name() string { return Name }

// place is where a bound volume lives: a host (node-local volume), a set
// of zones, or nowhere in particular (both empty).
type place struct {
	host  string
	zones sets.Set[string]
}

// state is the pod's storage picture, computed once in PreScore.
type state struct {
	// bound are the places of the pod's bound volumes that have one.
	bound []place
	// boundByClass are those places by StorageClass.
	boundByClass map[string][]place
	// unboundClasses are the classes of claims still to be bound.
	unboundClasses []string
	// requests sums the storage requests of unbound claims by class, for
	// classes whose driver publishes capacity.
	requests map[string]int64
	// capacities is the CSIStorageCapacity index, when requests is not
	// empty.
	capacities csicapacity.Snapshot
}

func (s *state) Clone() framework.StateData { return s }

// PreScore reads the pod's claims and volumes. Pods without claims skip.
func (pl *StorageLocality) PreScore(ctx context.Context, cs *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	st := &state{boundByClass: map[string][]place{}, requests: map[string]int64{}}
	has := false
	nodeZone := func(host string) string {
		ni, err := pl.handle.SnapshotSharedLister().NodeInfos().Get(host)
		if err != nil || ni.Node() == nil {
			return ""
		}
		return ni.Node().Labels[v1.LabelTopologyZone]
	}
	for i := range pod.Spec.Volumes {
		vol := &pod.Spec.Volumes[i]
		name := framework.PodVolumeClaimName(pod, vol)
		if name == "" {
			continue
		}
		has = true
		pvc, err := pl.pvcs.PersistentVolumeClaims(pod.Namespace).Get(name)
		if err != nil {
			continue // VolumeBinding reports it; nothing to score on
		}
		class := volume.GetPersistentVolumeClaimClass(pvc)
		if pvc.Spec.VolumeName != "" {
			pv, err := pl.pvs.Get(pvc.Spec.VolumeName)
			if err != nil {
				continue
			}
			if p := placeOf(pv, nodeZone); p.host != "" || p.zones.Len() > 0 {
				st.bound = append(st.bound, p)
				st.boundByClass[class] = append(st.boundByClass[class], p)
			}
			continue
		}
		st.unboundClasses = append(st.unboundClasses, class)
		if req, ok := pvc.Spec.Resources.Requests[v1.ResourceStorage]; ok && pl.tracksCapacity(class) {
			st.requests[class] += req.Value()
		}
	}
	if !has {
		return framework.NewStatus(framework.Skip)
	}
	if len(st.requests) > 0 {
		st.capacities = pl.capacities.Current()
	}
	cs.Write(stateKey, st)
	return nil
}

// tracksCapacity reports whether the class's provisioner publishes
// CSIStorageCapacity (its CSIDriver says storageCapacity: true).
func (pl *StorageLocality) tracksCapacity(className string) bool {
	if className == "" {
		return false
	}
	class, err := pl.classes.Get(className)
	if err != nil {
		return false
	}
	d, err := pl.drivers.Get(class.Provisioner)
	return err == nil && csicapacity.Tracked(d)
}

// freeCapacity is the largest capacity any published object of the class
// reachable from the node reports (0 when none does).
func freeCapacity(caps csicapacity.Snapshot, class string, node *v1.Node) int64 {
	var largest int64
	for c := range caps.Reachable(class, node) {
		if c.Capacity != nil && c.Capacity.Value() > largest {
			largest = c.Capacity.Value()
		}
	}
	return largest
}

// placeOf reads a PV's place from its required node affinity (hostname
// or zone terms) or, failing that, its zone labels.
func placeOf(pv *v1.PersistentVolume, zoneOfHost func(string) string) place {
	p := place{zones: sets.New[string]()}
	if na := pv.Spec.NodeAffinity; na != nil && na.Required != nil {
		for _, term := range na.Required.NodeSelectorTerms {
			for _, e := range term.MatchExpressions {
				if e.Operator != v1.NodeSelectorOpIn {
					continue
				}
				switch e.Key {
				case v1.LabelHostname:
					if len(e.Values) == 1 {
						p.host = e.Values[0]
						if z := zoneOfHost(p.host); z != "" {
							p.zones.Insert(z)
						}
					}
				case v1.LabelTopologyZone, v1.LabelFailureDomainBetaZone:
					p.zones.Insert(e.Values...)
				}
			}
		}
	}
	if p.zones.Len() == 0 {
		for _, k := range []string{v1.LabelTopologyZone, v1.LabelFailureDomainBetaZone} {
			if z := pv.Labels[k]; z != "" {
				p.zones.Insert(strings.Split(z, "__")...)
			}
		}
	}
	return p
}

// Score is the weighted mean of the signals that apply to the pod, each
// in 0..MaxNodeScore.
func (pl *StorageLocality) Score(ctx context.Context, cs *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	st, err := framework.ReadState[*state](cs, stateKey)
	if err != nil {
		return 0, framework.AsStatus(err)
	}
	node := ni.Node()
	zone, host := node.Labels[v1.LabelTopologyZone], node.Labels[v1.LabelHostname]
	var sum, weights int64
	add := func(w, score int64) {
		if w > 0 {
			sum += w * score
			weights += w
		}
	}
	if len(st.bound) > 0 {
		in := 0
		for _, p := range st.bound {
			if p.host == host || p.zones.Has(zone) {
				in++
			}
		}
		add(pl.zoneW, framework.MaxNodeScore*int64(in)/int64(len(st.bound)))
	}
	if scores := classScores(st, host, zone); len(scores) > 0 {
		var total int64
		for _, s := range scores {
			total += s
		}
		add(pl.classW, total/int64(len(scores)))
	}
	if len(st.requests) > 0 {
		var total, n int64
		for class, req := range st.requests {
			f := freeCapacity(st.capacities, class, node)
			if f <= 0 || req > f {
				continue // VolumeBinding decides whether it fits at all
			}
			n++
			if pl.mode == Pack {
				total += framework.MaxNodeScore * req / f
			} else {
				total += framework.MaxNodeScore * (f - req) / f
			}
		}
		if n > 0 {
			add(pl.capacityW, total/n)
		}
	}
	if weights == 0 {
		return 0, nil
	}
	return sum / weights, nil
}

// classScores rates the node for each unbound claim whose class the pod
// already has bound volumes of: the best of the bound volumes' places
// (same node MaxNodeScore, same zone half of it).
func classScores(st *state, host, zone string) []int64 {
	var out []int64
	for _, class := range st.unboundClasses {
		places := st.boundByClass[class]
		if len(places) == 0 {
			continue
		}
		best := int64(0)
		for _, p := range places {
			switch {
			case p.host != "" && p.host == host:
				best = framework.MaxNodeScore
			case p.zones.Has(zone) && best < framework.MaxNodeScore/2:
				best = framework.MaxNodeScore / 2
			}
		}
		out = append(out, best)
	}
	return out
}

// ScoreExtensions is nil: scores are already in 0..MaxNodeScore.
func (pl *StorageLocality) ScoreExtensions() framework.ScoreExtensions { return nil }
