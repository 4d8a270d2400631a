package defaultbinder

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

var podsResource = schema.GroupResource{Resource: "pods"}

// bindingReactor makes the fake clientset apply a Binding the way the API
// server does: set spec.nodeName on the stored pod, refuse a pod that is
// already bound (Conflict) or whose UID differs. failures are returned,
// in order, before any binding is applied.
func bindingReactor(client *fake.Clientset, failures ...error) *[]*v1.Binding {
	var seen []*v1.Binding
	client.PrependReactor("create", "pods", func(action clienttesting.Action) (bool, runtime.Object, error) {
		create := action.(clienttesting.CreateAction)
		if create.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b := create.GetObject().(*v1.Binding)
		seen = append(seen, b.DeepCopy())
		if len(failures) > 0 {
			err := failures[0]
			failures = failures[1:]
			return true, nil, err
		}
		obj, err := client.Tracker().Get(schema.GroupVersionResource{Version: "v1", Resource: "pods"}, b.Namespace, b.Name)
		if err != nil {
			return true, nil, err
		}
		pod := obj.(*v1.Pod).DeepCopy()
		if b.UID != "" && pod.UID != b.UID {
			return true, nil, apierrors.NewConflict(podsResource, b.Name, errors.New("UID mismatch"))
		}
		if pod.Spec.NodeName != "" {
			// The API server names the subresource in this Conflict's
			// details (a UID mismatch names "pods"); the engine tells the
			// two apart by it.
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "pods/binding"}, b.Name, errors.New("pod is already assigned to node "+pod.Spec.NodeName))
		}
		pod.Spec.NodeName = b.Target.Name
		return true, nil, client.Tracker().Update(schema.GroupVersionResource{Version: "v1", Resource: "pods"}, pod, pod.Namespace)
	})
	return &seen
}

func TestBind(t *testing.T) {
	tests := []struct {
		name         string
		pod          *v1.Pod
		stored       *v1.Pod
		failures     []error
		wantCode     framework.Code
		wantConflict bool
		wantNode     string
		wantAttempts int
	}{
		{
			name:         "binds",
			pod:          st.MakePod().Name("p").Obj(),
			stored:       st.MakePod().Name("p").Obj(),
			wantNode:     "n1",
			wantAttempts: 1,
		},
		{
			name:         "already bound: conflict kept in the status",
			pod:          st.MakePod().Name("p").Obj(),
			stored:       st.MakePod().Name("p").Node("n2").Obj(),
			wantCode:     framework.Error,
			wantConflict: true,
			wantNode:     "n2",
			wantAttempts: 1,
		},
		{
			name:         "recreated pod with another UID: conflict",
			pod:          st.MakePod().Name("p").Obj(),
			stored:       st.MakePod().UID("other").Name("p").Obj(),
			wantCode:     framework.Error,
			wantConflict: true,
			wantAttempts: 1,
		},
		{
			name:         "pod gone: error",
			pod:          st.MakePod().Name("p").Obj(),
			wantCode:     framework.Error,
			wantAttempts: 1,
		},
		{
			name:         "transient error is retried",
			pod:          st.MakePod().Name("p").Obj(),
			stored:       st.MakePod().Name("p").Obj(),
			failures:     []error{apierrors.NewServiceUnavailable("try later")},
			wantNode:     "n1",
			wantAttempts: 2,
		},
		{
			name:         "non-transient error is not retried",
			pod:          st.MakePod().Name("p").Obj(),
			stored:       st.MakePod().Name("p").Obj(),
			failures:     []error{apierrors.NewForbidden(podsResource, "p", errors.New("no"))},
			wantCode:     framework.Error,
			wantAttempts: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var objs []runtime.Object
			if tt.stored != nil {
				objs = append(objs, tt.stored)
			}
			h := st.NewHandle(nil, objs...)
			client := h.Client.(*fake.Clientset)
			seen := bindingReactor(client, tt.failures...)
			pl, err := New(context.Background(), nil, h)
			if err != nil {
				t.Fatal(err)
			}
			status := pl.(framework.BindPlugin).Bind(context.Background(), framework.NewCycleState(), tt.pod, "n1")
			if status.Code() != tt.wantCode {
				t.Fatalf("Bind status = %v, want code %v", status, tt.wantCode)
			}
			if got := apierrors.IsConflict(status.AsError()); got != tt.wantConflict {
				t.Errorf("IsConflict(status) = %v, want %v (status %v)", got, tt.wantConflict, status)
			}
			if len(*seen) != tt.wantAttempts {
				t.Errorf("bind attempts = %d, want %d", len(*seen), tt.wantAttempts)
			}
			want := &v1.Binding{
				ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "p", UID: tt.pod.UID},
				Target:     v1.ObjectReference{Kind: "Node", Name: "n1"},
			}
			if diff := cmp.Diff(want, (*seen)[0]); diff != "" {
				t.Errorf("binding (-want +got):\n%s", diff)
			}
			if tt.stored == nil {
				return
			}
			got, err := client.CoreV1().Pods("default").Get(context.Background(), "p", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got.Spec.NodeName != tt.wantNode {
				t.Errorf("pod nodeName = %q, want %q", got.Spec.NodeName, tt.wantNode)
			}
		})
	}
}

func TestNew(t *testing.T) {
	if _, err := New(context.Background(), &configv1.NodeAffinityArgs{}, st.NewHandle(nil)); err == nil {
		t.Error("New(wrong args) returned no error")
	}
	if _, err := New(context.Background(), nil, nil); err == nil {
		t.Error("New(nil handle) returned no error")
	}
}
