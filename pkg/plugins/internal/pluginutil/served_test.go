package pluginutil

import (
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic/dynamicinformer"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/berthsched/berth/internal/st"
)

func TestServed(t *testing.T) {
	gvr := schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
	withDynamic := func(h *st.Handle) *st.Handle {
		h.Dynamic = dynamicinformer.NewDynamicSharedInformerFactory(dynamicfake.NewSimpleDynamicClient(runtime.NewScheme()), 0)
		return h
	}
	tests := []struct {
		name      string
		handle    func() *st.Handle
		want      string
		wantError bool
	}{
		{name: "no dynamic client", handle: func() *st.Handle { return st.NewHandle(nil) }, want: "no dynamic client"},
		{name: "no API client", handle: func() *st.Handle {
			h := withDynamic(st.NewHandle(nil))
			h.Client = nil
			return h
		}, want: "no API client"},
		{name: "group not served", handle: func() *st.Handle { return withDynamic(st.NewHandle(nil)) },
			want: "the API server does not serve example.com/v1 (install it)"},
		{name: "resource not served", handle: func() *st.Handle {
			h := withDynamic(st.NewHandle(nil))
			h.Client.(*fake.Clientset).Resources = []*metav1.APIResourceList{{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{{Name: "gadgets"}}}}
			return h
		}, want: "the API server serves example.com/v1 but not its widgets"},
		{name: "served", handle: func() *st.Handle {
			h := withDynamic(st.NewHandle(nil))
			h.Client.(*fake.Clientset).Resources = []*metav1.APIResourceList{{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{{Name: "widgets"}}}}
			return h
		}},
		{name: "discovery fails", handle: func() *st.Handle {
			h := withDynamic(st.NewHandle(nil))
			h.Client.(*fake.Clientset).PrependReactor("get", "resource", func(clienttesting.Action) (bool, runtime.Object, error) {
				return true, nil, errors.New("boom")
			})
			return h
		}, wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Served(tt.handle(), gvr, "install it")
			if (err != nil) != tt.wantError {
				t.Fatalf("err = %v, want error %v", err, tt.wantError)
			}
			if got != tt.want {
				t.Errorf("Served = %q, want %q", got, tt.want)
			}
		})
	}
}
