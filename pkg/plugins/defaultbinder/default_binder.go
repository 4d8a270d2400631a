package defaultbinder

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
)

// Name is the plugin's name in the registry and in configurations.
const Name = "DefaultBinder"

// DefaultBinder binds pods through the API server.
type DefaultBinder struct {
	handle framework.Handle
}

var _ framework.BindPlugin = (*DefaultBinder)(nil)

// New builds the plugin. It takes no arguments and needs the handle's
// clientset.
func New(_ context.Context, args runtime.Object, h framework.Handle) (framework.Plugin, error) {
	if args != nil {
		return nil, fmt.Errorf("plugin %s takes no args, got %T", Name, args)
	}
	if h == nil {
		return nil, fmt.Errorf("plugin %s needs a framework handle", Name)
	}
	return &DefaultBinder{handle: h}, nil
}

// Name returns the plugin's name.
func (*DefaultBinder) Name() string { return Name }

// Bind creates the pod's Binding to nodeName. The Binding carries the pod's
// UID, so the API server refuses it if the pod was deleted and recreated
// under the same name meanwhile. Transient failures (internal error,
// service unavailable, connection refused) are retried briefly with
// client-go's default backoff; any other failure, such as a Conflict when
// the pod is already bound, is returned at once. The returned status keeps
// the API error, so callers can test it with apierrors.IsConflict and
// friends on Status.AsError.
func (b *DefaultBinder) Bind(ctx context.Context, _ *framework.CycleState, pod *v1.Pod, nodeName string) *framework.Status {
	logger := klog.FromContext(ctx)
	binding := &v1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     v1.ObjectReference{Kind: "Node", Name: nodeName},
	}
	logger.V(3).Info("Binding pod to node", "pod", klog.KObj(pod), "node", klog.KRef("", nodeName))
	err := retry.OnError(retry.DefaultBackoff, isRetriable, func() error {
		return b.handle.ClientSet().CoreV1().Pods(binding.Namespace).Bind(ctx, binding, metav1.CreateOptions{})
	})
	if err != nil {
		return framework.AsStatus(err)
	}
	return nil
}

// isRetriable reports whether a bind error is likely transient.
func isRetriable(err error) bool {
	return apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err) || utilnet.IsConnectionRefused(err)
}
