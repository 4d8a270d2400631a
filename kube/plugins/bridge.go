package plugins

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"

	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
	"github.com/berthsched/berth/pkg/plugins/loadaware"
	"github.com/berthsched/berth/pkg/plugins/networkaware"
	"github.com/berthsched/berth/pkg/plugins/nodepreference"
	"github.com/berthsched/berth/pkg/plugins/storagelocality"
)

// BerthOnly names berth's plugins that kube-scheduler has no counterpart
// for, which kube-scheduler-berth registers. The others of berth's
// registry implement kube-scheduler's own semantics: kube-scheduler runs
// its own. GangScheduling is not among them: it needs berth's engine
// (its group transaction), which kube-scheduler does not have.
var BerthOnly = []string{gpushare.Name, loadaware.Name, nodepreference.Name, networkaware.Name, storagelocality.Name}

// dynamicSyncTimeout bounds the wait for a plugin's custom-resource
// informers at start-up; a plugin whose CRD informer has not synced by
// then works without those objects until it has.
const dynamicSyncTimeout = time.Minute

// Bridge is what the adapted plugins of one kube-scheduler process share:
// the translated snapshot (one per kube-scheduler snapshot, hence shared
// by the profiles), the lock that creates berth cycle states, and the
// dynamic informer factory berth plugins read custom resources from.
// main builds one and registers its factories.
type Bridge struct {
	mu      sync.Mutex
	listers map[fwk.SharedLister]*lister
	dynamic dynamicinformer.DynamicSharedInformerFactory
	states  sync.Mutex
}

// NewBridge returns an empty bridge.
func NewBridge() *Bridge { return &Bridge{listers: map[fwk.SharedLister]*lister{}} }

// lister returns the translation of kube-scheduler's snapshot lister.
func (b *Bridge) lister(kube fwk.SharedLister) *lister {
	b.mu.Lock()
	defer b.mu.Unlock()
	l, ok := b.listers[kube]
	if !ok {
		l = &lister{kube: kube, nodes: newNodeInfos()}
		b.listers[kube] = l
	}
	return l
}

// dynamicFactory returns the process's dynamic informer factory, built on
// first use from kube-scheduler's kubeconfig; nil without one.
func (b *Bridge) dynamicFactory(h fwk.Handle) (dynamicinformer.DynamicSharedInformerFactory, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dynamic != nil || h.KubeConfig() == nil {
		return b.dynamic, nil
	}
	c, err := dynamic.NewForConfig(h.KubeConfig())
	if err != nil {
		return nil, err
	}
	b.dynamic = dynamicinformer.NewDynamicSharedInformerFactory(c, 0)
	return b.dynamic, nil
}

// Handle returns the berth Handle for a kube-scheduler profile's handle.
func (b *Bridge) Handle(h fwk.Handle) (framework.Handle, error) {
	dyn, err := b.dynamicFactory(h)
	if err != nil {
		return nil, err
	}
	return &handle{kube: h, lister: b.lister(h.SnapshotSharedLister()), dynamic: dyn}, nil
}

// Factory returns the kube-scheduler factory of the berth plugin that r
// registers as name. It decodes the plugin's args (kube-scheduler hands
// out-of-tree plugins their pluginConfig args undecoded) strictly, with
// berth's defaulting and validation, so a misspelt field is reported at
// its path as in berth run; builds the plugin with a berth Handle over
// kube-scheduler's; starts the custom-resource informers it registered;
// and wraps it in a Plugin.
func (b *Bridge) Factory(name string, r framework.Registration) frameworkruntime.PluginFactory {
	return func(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
		args, err := decode(name, obj, r.Args, field.NewPath("profiles").Key(h.ProfileName()).Child("pluginConfig").Key(name).Child("args"))
		if err != nil {
			return nil, err
		}
		bh, err := b.Handle(h)
		if err != nil {
			return nil, fmt.Errorf("plugin %s: %w", name, err)
		}
		pl, err := r.Factory(ctx, args, bh)
		if err != nil {
			return nil, err
		}
		if err := supported(pl); err != nil {
			return nil, err
		}
		if dyn := bh.DynamicInformerFactory(); dyn != nil {
			dyn.Start(ctx.Done())
			syncCtx, cancel := context.WithTimeout(ctx, dynamicSyncTimeout)
			for gvr, ok := range dyn.WaitForCacheSync(syncCtx.Done()) {
				if !ok {
					klog.FromContext(ctx).Info("Custom resource informer not synced yet", "plugin", name, "resource", gvr)
				}
			}
			cancel()
		}
		return newPlugin(pl, b.lister(h.SnapshotSharedLister()).nodes, &b.states), nil
	}
}

// decode turns the args kube-scheduler hands over (nil, or a
// *runtime.Unknown holding the pluginConfig entry's JSON) into the
// plugin's typed args, defaulted and validated.
func decode(name string, obj runtime.Object, spec *framework.ArgsSpec, path *field.Path) (runtime.Object, error) {
	if spec == nil {
		if u, ok := obj.(*runtime.Unknown); ok && len(u.Raw) > 0 && string(u.Raw) != "null" && string(u.Raw) != "{}" {
			return nil, field.ErrorList{field.Invalid(path, name, "this plugin takes no args")}.ToAggregate()
		}
		return nil, nil
	}
	var raw runtime.RawExtension
	switch o := obj.(type) {
	case nil:
	case *runtime.Unknown:
		raw.Raw = o.Raw
	default:
		raw.Object = o
	}
	args, errs := config.DecodePluginArgs(name, raw, spec, path)
	if len(errs) > 0 {
		return nil, fmt.Errorf("invalid %s args: %w", name, errs.ToAggregate())
	}
	return args, nil
}

// supported refuses berth plugins with extension points the adapter does
// not translate, so that none is silently lost.
func supported(pl framework.Plugin) error {
	for _, p := range []struct {
		point string
		has   bool
	}{
		{"PreEnqueue", is[framework.PreEnqueuePlugin](pl)},
		{"QueueSort", is[framework.QueueSortPlugin](pl)},
		{"PostFilter", is[framework.PostFilterPlugin](pl)},
		{"Permit", is[framework.PermitPlugin](pl)},
		{"Bind", is[framework.BindPlugin](pl)},
		{"PostBind", is[framework.PostBindPlugin](pl)},
	} {
		if p.has {
			return fmt.Errorf("plugin %s: its %s extension point cannot run inside kube-scheduler through the berth adapter", pl.Name(), p.point)
		}
	}
	return nil
}

func is[T any](pl framework.Plugin) bool {
	_, ok := pl.(T)
	return ok
}

// Options returns the app.Options that register every BerthOnly plugin
// of reg with kube-scheduler through b's factories.
func Options(b *Bridge, reg framework.Registry) ([]app.Option, error) {
	opts := make([]app.Option, 0, len(BerthOnly))
	for _, name := range BerthOnly {
		r, ok := reg[name]
		if !ok {
			return nil, fmt.Errorf("berth plugin %s is not in the registry", name)
		}
		opts = append(opts, app.WithPlugin(name, b.Factory(name, r)))
	}
	return opts, nil
}
