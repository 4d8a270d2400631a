package conformance

import (
	"context"
	"strings"
	"testing"
)

// storageRows are the storage plugins' rows of Plugins.
func storageRows() []Plugin {
	var out []Plugin
	for _, p := range Plugins {
		switch p.Name {
		case "VolumeBinding", "VolumeZone", "VolumeRestrictions", "NodeVolumeLimits":
			out = append(out, p)
		}
	}
	return out
}

// storageReasons are, per storage plugin, the verdicts (as FormatCoverage
// prints them, matched as substrings) that the generated cases must make
// kube-scheduler give, so that berth's plugin is compared on each.
var storageReasons = map[string][]string{
	"VolumeRestrictions": {
		"Unschedulable: node(s) had no available disk",
		"Unschedulable: node(s) unavailable due to PersistentVolumeClaim with ReadWriteOncePod access mode already in-use by another pod",
		`UnschedulableAndUnresolvable: persistentvolumeclaim "…" not found`,
	},
	"NodeVolumeLimits": {
		"Unschedulable: node(s) exceed max volume count",
		"Unschedulable: " + capDriver + " CSI driver is not installed on the node",
		"Unschedulable: " + gcePDDriver + " CSI driver is not installed on the node",
		`UnschedulableAndUnresolvable: looking up PVC …/…: persistentvolumeclaim "…" not found`,
		"Error: PVC …/… was not created for pod …/… (pod is not owner)",
	},
	"VolumeBinding": {
		"UnschedulableAndUnresolvable: node(s) didn't find available persistent volumes to bind",
		"UnschedulableAndUnresolvable: node(s) didn't match PersistentVolume's node affinity",
		"UnschedulableAndUnresolvable: node(s) did not have enough free storage",
		"UnschedulableAndUnresolvable: node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)",
		"UnschedulableAndUnresolvable: pod has unbound immediate PersistentVolumeClaims",
		`UnschedulableAndUnresolvable: persistentvolumeclaim "…" not found`,
		`UnschedulableAndUnresolvable: persistentvolumeclaim "…" is being deleted`,
		`UnschedulableAndUnresolvable: persistentvolumeclaim "…" bound to non-existent persistentvolume "…"`,
		`UnschedulableAndUnresolvable: waiting for ephemeral volume controller to create the persistentvolumeclaim "…"`,
		"UnschedulableAndUnresolvable: PVC …/… was not created for pod …/… (pod is not owner)",
	},
	"VolumeZone": {
		"UnschedulableAndUnresolvable: node(s) had no available volume zone",
		"UnschedulableAndUnresolvable: PersistentVolume had no name",
		"UnschedulableAndUnresolvable: PersistentVolumeClaim had no pv name and storageClass name",
		`UnschedulableAndUnresolvable: persistentvolume "…" not found`,
		`UnschedulableAndUnresolvable: persistentvolumeclaim "…" not found`,
		`UnschedulableAndUnresolvable: storageclass.storage.k8s.io "…" not found`,
	},
}

// TestStorageScenarios runs kube-scheduler's storage plugins against a
// second copy of themselves over the generated storage scenarios. They must
// agree (the harness and the generated state are deterministic), and
// between them the cases must reach every verdict in storageReasons and
// non-zero VolumeBinding scores; whether or not berth has the plugins yet.
func TestStorageScenarios(t *testing.T) {
	h := newSelfHarness(t, storageRows())
	ctx := context.Background()
	for s := *firstSeed; s < *firstSeed+uint64(*seeds); s++ {
		checkSelf(t, h, ctx, Generate(s, DefaultGenOptions))
	}
	var b strings.Builder
	h.FormatCoverage(&b)
	t.Logf("kube-scheduler's storage verdicts:\n%s", b.String())
	for plugin, want := range storageReasons {
		st := h.Stats[plugin]
		for _, w := range want {
			n := 0
			for k, c := range st.Reasons {
				if strings.Contains(k, w) {
					n += c
				}
			}
			if n == 0 {
				t.Errorf("%s: no case got %q", plugin, w)
			}
		}
	}
	if vb := h.Stats["VolumeBinding"]; vb.NonZero == 0 {
		t.Errorf("VolumeBinding: no case had a non-zero score (%d scored)", vb.Scored)
	}
}
