package extender

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/klog/v2"
	extenderv1 "k8s.io/kube-scheduler/extender/v1"
)

// Bind places the pod on the node kube-scheduler chose, as berth's binding
// cycle would, and records it in the extender's cache before answering:
//
//  1. under the evaluation lock, the pod is evaluated on that node alone
//     (the fit is checked again against every bind before it: filter
//     calls for other pods may have raced with them), its profile's
//     Reserve plugins run (GPUShare picks the cards) and the pod is
//     assumed on the node in the cache, so every later evaluation sees
//     what it took;
//  2. PreBind plugins run (GPUShare writes berth.io/gpu-assignment), then
//     the Bind plugins (DefaultBinder: the pods/binding subresource);
//  3. on success the assumed pod waits for the informer to confirm it
//     (or expires after the cache's TTL); on any failure the reservation
//     is undone, the pod forgotten, and the result carries the error, so
//     kube-scheduler requeues the pod.
//
// A bind of a pod whose bind is still in flight fails at once.
func (x *Extender) Bind(ctx context.Context, args *extenderv1.ExtenderBindingArgs) *extenderv1.ExtenderBindingResult {
	logger := klog.FromContext(ctx).WithValues("pod", klog.KRef(args.PodNamespace, args.PodName), "node", args.Node)
	ctx = klog.NewContext(ctx, logger)
	if err := x.bind(ctx, args); err != nil {
		logger.V(2).Info("Bind failed", "err", err)
		return &extenderv1.ExtenderBindingResult{Error: err.Error()}
	}
	logger.V(2).Info("Successfully bound pod to node")
	return &extenderv1.ExtenderBindingResult{}
}

func (x *Extender) bind(ctx context.Context, args *extenderv1.ExtenderBindingArgs) error {
	if args.PodName == "" || args.Node == "" {
		return errors.New("bind needs a pod name and a node")
	}
	pod, err := x.getPod(ctx, args.PodNamespace, args.PodName)
	if err != nil {
		return fmt.Errorf("reading pod: %w", err)
	}
	if args.PodUID != "" && pod.UID != args.PodUID {
		return fmt.Errorf("pod %s/%s has UID %s, not %s: it was deleted and re-created", pod.Namespace, pod.Name, pod.UID, args.PodUID)
	}
	if pod.Spec.NodeName != "" {
		return fmt.Errorf("pod is already bound to %s", pod.Spec.NodeName)
	}
	x.podsMu.Lock()
	if x.inflight.Has(pod.UID) {
		x.podsMu.Unlock()
		return errors.New("a bind of this pod is already in progress")
	}
	x.inflight.Insert(pod.UID)
	x.podsMu.Unlock()
	defer func() {
		x.podsMu.Lock()
		x.inflight.Delete(pod.UID)
		x.podsMu.Unlock()
	}()

	logger := klog.FromContext(ctx)
	node := args.Node
	pod = x.asProfile(pod)
	prof := x.ev.Profile(x.profile)
	cache := x.ev.Cache()

	x.mu.Lock()
	e, err := x.evaluate(ctx, pod, []string{node}, 0)
	if err != nil {
		x.mu.Unlock()
		return err
	}
	if e.Result.SuggestedHost != node {
		msg := "node is not in berth's cache"
		if e.Err != nil {
			msg = e.Err.Error()
		}
		x.mu.Unlock()
		return fmt.Errorf("berth no longer fits the pod on %s: %s", node, msg)
	}
	state := e.State
	if st := prof.RunReservePluginsReserve(ctx, state, pod, node); !st.IsSuccess() {
		prof.RunReservePluginsUnreserve(ctx, state, pod, node)
		x.mu.Unlock()
		return fmt.Errorf("reserve on %s: %w", node, st.AsError())
	}
	assumed := pod.DeepCopy()
	assumed.Spec.NodeName = node
	if err := cache.AssumePod(logger, assumed); err != nil {
		prof.RunReservePluginsUnreserve(ctx, state, pod, node)
		x.mu.Unlock()
		return fmt.Errorf("assuming the pod: %w", err)
	}
	x.mu.Unlock()

	fail := func(err error) error {
		x.mu.Lock()
		defer x.mu.Unlock()
		prof.RunReservePluginsUnreserve(ctx, state, assumed, node)
		if ferr := cache.ForgetPod(logger, assumed); ferr != nil {
			logger.Error(ferr, "Forgetting the assumed pod failed")
		}
		return err
	}
	// The API calls finish even when the request is cancelled: an
	// abandoned bind would leave the pod half-done (annotated, unbound).
	apiCtx := context.WithoutCancel(ctx)
	if st := prof.RunPreBindPlugins(apiCtx, state, assumed, node); !st.IsSuccess() {
		return fail(fmt.Errorf("prebind: %w", st.AsError()))
	}
	if st := prof.RunBindPlugins(apiCtx, state, assumed, node); !st.IsSuccess() {
		return fail(fmt.Errorf("bind: %w", st.AsError()))
	}
	if err := cache.FinishBinding(logger, assumed); err != nil {
		logger.Error(err, "FinishBinding failed")
	}
	x.podsMu.Lock()
	x.assumed[assumed.UID] = assumed
	x.podsMu.Unlock()
	prof.RunPostBindPlugins(apiCtx, state, assumed, node)
	return nil
}

// AssumedPods counts the pods bound here that the cache still holds as
// assumed (not yet confirmed by the informer); pods confirmed or expired
// since the last call are dropped from the count.
func (x *Extender) AssumedPods() int {
	x.podsMu.Lock()
	defer x.podsMu.Unlock()
	for uid, p := range x.assumed {
		if ok, err := x.ev.Cache().IsAssumedPod(p); err != nil || !ok {
			delete(x.assumed, uid)
		}
	}
	return len(x.assumed)
}
