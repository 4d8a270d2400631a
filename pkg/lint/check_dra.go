package lint

import (
	"context"
	"fmt"

	resourcev1 "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/dynamic-resource-allocation/cel"
)

// celCache compiles the CEL selectors of device classes and requests once
// per process; the cache is safe for concurrent use.
var celCache = cel.NewCache(64, cel.Features{})

// checkDRA resolves the pod's resource claims (ResourceClaims and
// ResourceClaimTemplates of the manifests) and, against a cluster,
// reports device classes that do not exist (BL060) and counts no node's
// devices can meet (BL061).
func checkDRA(w *Workload, e *env, r *reporter) {
	if e.cluster == nil || e.cluster.DeviceClasses == nil {
		return
	}
	ns := e.namespace(w.Object.Ref.Namespace)
	for i, pc := range w.Pod.Spec.ResourceClaims {
		var spec *resourcev1.ResourceClaimSpec
		switch {
		case pc.ResourceClaimName != nil:
			if c, ok := e.claims[ns+"/"+*pc.ResourceClaimName]; ok {
				spec = &c.Spec
			}
		case pc.ResourceClaimTemplateName != nil:
			if t, ok := e.claimTemplates[ns+"/"+*pc.ResourceClaimTemplateName]; ok {
				spec = &t.Spec.Spec
			}
		}
		if spec == nil {
			continue
		}
		p := w.SpecPath.Child("resourceClaims").Index(i)
		for j, req := range spec.Devices.Requests {
			checkDeviceRequest(req, p, j, e, r)
		}
	}
}

func checkDeviceRequest(req resourcev1.DeviceRequest, p *field.Path, j int, e *env, r *reporter) {
	type alt struct {
		class     string
		selectors []resourcev1.DeviceSelector
		count     int64
	}
	var alts []alt
	if x := req.Exactly; x != nil {
		n := x.Count
		if x.AllocationMode == resourcev1.DeviceAllocationModeAll || n < 1 {
			n = 1
		}
		alts = append(alts, alt{x.DeviceClassName, x.Selectors, n})
	}
	for _, s := range req.FirstAvailable {
		n := s.Count
		if s.AllocationMode == resourcev1.DeviceAllocationModeAll || n < 1 {
			n = 1
		}
		alts = append(alts, alt{s.DeviceClassName, s.Selectors, n})
	}
	best := int64(-1)
	for _, a := range alts {
		dc, ok := e.deviceClass(a.class)
		if !ok {
			r.add(RuleDRADeviceClassMissing, p, fmt.Sprintf("request %q asks for DeviceClass %q, which does not exist", req.Name, a.class), "")
			return
		}
		if e.cluster.ResourceSlices == nil {
			continue
		}
		most, known := mostDevicesOnANode(e.cluster, dc, a.selectors)
		if !known {
			return
		}
		if most >= a.count {
			return
		}
		best = max(best, most)
	}
	if len(alts) == 0 || best < 0 || e.cluster.ResourceSlices == nil {
		return
	}
	r.add(RuleDRACountUnsatisfiable, p, fmt.Sprintf("request %q asks for %d device(s) of class %q but no node offers more than %d", req.Name, alts[0].count, alts[0].class, best), "")
}

// mostDevicesOnANode counts, per node, the devices of the ResourceSlices
// that both the class's and the request's selectors accept, and returns
// the largest count. Slices for all nodes or a node selector count on
// every node. known is false when a selector cannot be evaluated.
func mostDevicesOnANode(c *Cluster, dc *resourcev1.DeviceClass, sel []resourcev1.DeviceSelector) (most int64, known bool) {
	shared := int64(0)
	perNode := map[string]int64{}
	for _, s := range c.ResourceSlices {
		for i := range s.Spec.Devices {
			ok, err := deviceMatches(s.Spec.Driver, &s.Spec.Devices[i], dc.Spec.Selectors, sel)
			if err != nil {
				return 0, false
			}
			if !ok {
				continue
			}
			if s.Spec.NodeName != nil {
				perNode[*s.Spec.NodeName]++
			} else {
				shared++
			}
		}
	}
	most = shared
	for _, n := range perNode {
		most = max(most, n+shared)
	}
	return most, true
}

func deviceMatches(driver string, d *resourcev1.Device, lists ...[]resourcev1.DeviceSelector) (bool, error) {
	in := cel.Device{Driver: driver, Attributes: d.Attributes, Capacity: d.Capacity}
	for _, list := range lists {
		for _, s := range list {
			if s.CEL == nil {
				continue
			}
			res := celCache.GetOrCompile(s.CEL.Expression)
			if res.Error != nil {
				return false, res.Error
			}
			ok, _, err := res.DeviceMatches(context.Background(), in)
			if err != nil {
				return false, err
			}
			if !ok {
				return false, nil
			}
		}
	}
	return true, nil
}
