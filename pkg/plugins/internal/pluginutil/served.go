package pluginutil

import (
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/berthsched/berth/pkg/framework"
)

// Served asks the API server's discovery whether it serves gvr, for
// plugins that read another project's CRD through
// Handle.DynamicInformerFactory: an informer over a resource the server
// does not serve would never sync. It returns "" when gvr can be read,
// otherwise why not (no dynamic client, no API client, not served — with
// remedy, what the operator can do about it, in parentheses). It fails
// only when the server cannot be asked.
func Served(h framework.Handle, gvr schema.GroupVersionResource, remedy string) (string, error) {
	if h.DynamicInformerFactory() == nil {
		return "no dynamic client", nil
	}
	cs := h.ClientSet()
	if cs == nil {
		return "no API client", nil
	}
	list, err := cs.Discovery().ServerResourcesForGroupVersion(gvr.GroupVersion().String())
	if apierrors.IsNotFound(err) {
		return fmt.Sprintf("the API server does not serve %s (%s)", gvr.GroupVersion(), remedy), nil
	}
	if err != nil {
		return "", fmt.Errorf("asking the API server whether it serves %s: %w", gvr.GroupVersion(), err)
	}
	for _, r := range list.APIResources {
		if r.Name == gvr.Resource {
			return "", nil
		}
	}
	return fmt.Sprintf("the API server serves %s but not its %s", gvr.GroupVersion(), gvr.Resource), nil
}
