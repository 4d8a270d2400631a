package dradriver

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	dracel "k8s.io/dynamic-resource-allocation/cel"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/testenv"
)

func node(labels map[string]string) *v1.Node {
	return &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: labels}}
}

func TestNodeGPUs(t *testing.T) {
	gi80, gi40 := resource.MustParse("80Gi"), resource.MustParse("40Gi")
	tests := []struct {
		name    string
		labels  map[string]string
		want    GPUs
		wantOK  bool
		wantErr string
	}{
		{name: "no label", labels: map[string]string{"nvidia.com/gpu.count": "8"}},
		{name: "defaults", labels: map[string]string{CountLabel: "8"}, want: GPUs{Count: 8, Model: DefaultModel, Memory: gi80}, wantOK: true},
		{name: "model and memory", labels: map[string]string{CountLabel: "4", ModelLabel: "a100", MemoryLabel: "40Gi"},
			want: GPUs{Count: 4, Model: "a100", Memory: gi40}, wantOK: true},
		{name: "zero cards", labels: map[string]string{CountLabel: "0"}},
		{name: "not a number", labels: map[string]string{CountLabel: "eight"}, wantErr: `label gpu.devcluster.berth.io/count="eight" is not a card count from 0 to 128`},
		{name: "negative", labels: map[string]string{CountLabel: "-1"}, wantErr: "is not a card count"},
		{name: "too many for one slice", labels: map[string]string{CountLabel: "129"}, wantErr: "is not a card count"},
		{name: "most cards", labels: map[string]string{CountLabel: "128"}, want: GPUs{Count: 128, Model: DefaultModel, Memory: gi80}, wantOK: true},
		{name: "bad memory keeps the default", labels: map[string]string{CountLabel: "2", MemoryLabel: "lots"},
			want: GPUs{Count: 2, Model: DefaultModel, Memory: gi80}, wantOK: true, wantErr: `label gpu.devcluster.berth.io/memory="lots" is not a positive quantity; using 80Gi`},
		{name: "zero memory keeps the default", labels: map[string]string{CountLabel: "2", MemoryLabel: "0"},
			want: GPUs{Count: 2, Model: DefaultModel, Memory: gi80}, wantOK: true, wantErr: "not a positive quantity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := NodeGPUs(node(tt.labels))
			if ok != tt.wantOK || !got.Equal(tt.want) {
				t.Errorf("NodeGPUs = %+v, %v; want %+v, %v", got, ok, tt.want, tt.wantOK)
			}
			if (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestGPUsEqual(t *testing.T) {
	a := GPUs{Count: 8, Model: "h100", Memory: resource.MustParse("80Gi")}
	same := GPUs{Count: 8, Model: "h100", Memory: resource.MustParse("81920Mi")}
	if !a.Equal(same) {
		t.Error("80Gi and 81920Mi differ")
	}
	for _, other := range []GPUs{
		{Count: 4, Model: "h100", Memory: a.Memory},
		{Count: 8, Model: "a100", Memory: a.Memory},
		{Count: 8, Model: "h100", Memory: resource.MustParse("40Gi")},
	} {
		if a.Equal(other) {
			t.Errorf("%+v equals %+v", a, other)
		}
	}
}

func TestDevices(t *testing.T) {
	devices := Devices(GPUs{Count: 8, Model: "h100", Memory: resource.MustParse("80Gi")})
	if len(devices) != 8 {
		t.Fatalf("%d devices, want 8", len(devices))
	}
	want5 := resourceapi.Device{
		Name: "gpu-5",
		Attributes: map[resourceapi.QualifiedName]resourceapi.DeviceAttribute{
			"model":        {StringValue: ptr.To("h100")},
			"index":        {IntValue: ptr.To[int64](5)},
			"nvlinkDomain": {IntValue: ptr.To[int64](1)},
		},
		Capacity: map[resourceapi.QualifiedName]resourceapi.DeviceCapacity{
			"memory": {Value: resource.MustParse("80Gi")},
		},
	}
	if diff := cmp.Diff(want5, devices[5]); diff != "" {
		t.Errorf("gpu-5 (-want +got):\n%s", diff)
	}
	for i, d := range devices {
		if d.Name != fmt.Sprintf("gpu-%d", i) || *d.Attributes[AttributeIndex].IntValue != int64(i) ||
			*d.Attributes[AttributeNVLinkDomain].IntValue != int64(i/4) {
			t.Errorf("device %d: %s index %d domain %d", i, d.Name, *d.Attributes[AttributeIndex].IntValue, *d.Attributes[AttributeNVLinkDomain].IntValue)
		}
		if errs := validation.IsDNS1123Label(d.Name); len(errs) > 0 {
			t.Errorf("device name %s: %v", d.Name, errs)
		}
	}
}

func TestResources(t *testing.T) {
	r := Resources("node-00007", GPUs{Count: 2, Model: "m", Memory: resource.MustParse("1Gi")}, 3)
	if len(r.Pools) != 1 {
		t.Fatalf("pools %v", r.Pools)
	}
	p, ok := r.Pools["node-00007"]
	if !ok || p.Generation != 3 || len(p.Slices) != 1 || len(p.Slices[0].Devices) != 2 || p.NodeSelector != nil || p.AllNodes {
		t.Errorf("pool %+v", p)
	}
}

// TestSelectors compiles the DeviceClass selector and the selectors the
// package documentation shows with the CEL environment of the scheduler's
// allocator, and evaluates them against published devices.
func TestSelectors(t *testing.T) {
	class := DeviceClass()
	if class.Name != DeviceClassName || len(class.Spec.Selectors) != 1 || class.Spec.Selectors[0].CEL == nil {
		t.Fatalf("DeviceClass %+v", class)
	}
	card := Devices(GPUs{Count: 6, Model: "h100", Memory: resource.MustParse("80Gi")})[5]
	tests := []struct {
		expr   string
		driver string
		want   bool
	}{
		{class.Spec.Selectors[0].CEL.Expression, DriverName, true},
		{class.Spec.Selectors[0].CEL.Expression, "other.example.com", false},
		{`device.attributes["gpu.devcluster.berth.io"].model == "h100"`, DriverName, true},
		{`device.attributes["gpu.devcluster.berth.io"].nvlinkDomain == 1 && device.attributes["gpu.devcluster.berth.io"].index == 5`, DriverName, true},
		{`device.capacity["gpu.devcluster.berth.io"].memory.compareTo(quantity("40Gi")) >= 0`, DriverName, true},
		{`device.capacity["gpu.devcluster.berth.io"].memory.compareTo(quantity("100Gi")) >= 0`, DriverName, false},
	}
	compiler := dracel.GetCompiler(dracel.Features{})
	for _, tt := range tests {
		res := compiler.CompileCELExpression(tt.expr, dracel.Options{})
		if res.Error != nil {
			t.Errorf("%s: %v", tt.expr, res.Error)
			continue
		}
		got, _, err := res.DeviceMatches(context.Background(), dracel.Device{Driver: tt.driver, Attributes: card.Attributes, Capacity: card.Capacity})
		if err != nil || got != tt.want {
			t.Errorf("%s on a %s device = %v, %v; want %v", tt.expr, tt.driver, got, err, tt.want)
		}
	}
}

// TestTestenvConstants keeps the copies in the main module, which cannot
// import this one, in step.
func TestTestenvConstants(t *testing.T) {
	for _, c := range []struct{ name, got, want string }{
		{"GPUDriver", testenv.GPUDriver, DriverName},
		{"GPUDeviceClass", testenv.GPUDeviceClass, DeviceClassName},
		{"GPUCountLabel", testenv.GPUCountLabel, CountLabel},
		{"GPUModelLabel", testenv.GPUModelLabel, ModelLabel},
		{"GPUMemoryLabel", testenv.GPUMemoryLabel, MemoryLabel},
		{"GPUAttributeModel", testenv.GPUAttributeModel, string(AttributeModel)},
		{"GPUAttributeIndex", testenv.GPUAttributeIndex, string(AttributeIndex)},
		{"GPUAttributeNVLinkDomain", testenv.GPUAttributeNVLinkDomain, string(AttributeNVLinkDomain)},
		{"GPUCapacityMemory", testenv.GPUCapacityMemory, string(CapacityMemory)},
		{"GPUDeviceNamePrefix", testenv.GPUDeviceNamePrefix, DeviceNamePrefix},
	} {
		if c.got != c.want {
			t.Errorf("testenv.%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}
