package extender

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"k8s.io/klog/v2"
	extenderv1 "k8s.io/kube-scheduler/extender/v1"
)

// maxRequestBytes bounds a request body. With nodeCacheCapable the body
// is one pod and a list of node names: 5,000 names of 60 bytes are
// 300 kB.
const maxRequestBytes = 16 << 20

// errNotReady answers verbs before the cache has synced.
var errNotReady = errors.New("berth extender: cache not synced yet")

// Handler returns the HTTP handler of the verbs: POST /filter,
// /prioritize, /preempt and /bind (kube-scheduler appends the verb to the
// stanza's urlPrefix), each a JSON body of the extender/v1 type answered
// with the extender/v1 result type. Failures of a verb are reported in the
// result (its Error field, or HTTP 500 for prioritize and preempt, whose
// results have none), as kube-scheduler expects.
func (x *Extender) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /"+VerbFilter, verb(x, VerbFilter, func(ctx context.Context, a *extenderv1.ExtenderArgs) (any, error) {
		if !x.Ready() {
			return &extenderv1.ExtenderFilterResult{Error: errNotReady.Error()}, errNotReady
		}
		r := x.Filter(ctx, a)
		return r, errorOf(r.Error)
	}))
	mux.Handle("POST /"+VerbPrioritize, verb(x, VerbPrioritize, func(ctx context.Context, a *extenderv1.ExtenderArgs) (any, error) {
		if !x.Ready() {
			return nil, errNotReady
		}
		return x.Prioritize(ctx, a)
	}))
	mux.Handle("POST /"+VerbPreempt, verb(x, VerbPreempt, func(ctx context.Context, a *extenderv1.ExtenderPreemptionArgs) (any, error) {
		if !x.Ready() {
			return nil, errNotReady
		}
		return x.Preempt(ctx, a)
	}))
	mux.Handle("POST /"+VerbBind, verb(x, VerbBind, func(ctx context.Context, a *extenderv1.ExtenderBindingArgs) (any, error) {
		if !x.Ready() {
			return &extenderv1.ExtenderBindingResult{Error: errNotReady.Error()}, errNotReady
		}
		r := x.Bind(ctx, a)
		return r, errorOf(r.Error)
	}))
	return mux
}

func errorOf(msg string) error {
	if msg == "" {
		return nil
	}
	return errors.New(msg)
}

// verb decodes the request into A, calls fn and writes its result. fn
// returns a non-nil result with its error when the result type carries
// the error itself (filter, bind): it is sent with 200 OK; a nil result
// with an error is a 500.
func verb[A any](x *Extender, name string, fn func(context.Context, *A) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		logger := klog.FromContext(r.Context()).WithValues("verb", name)
		ctx := klog.NewContext(r.Context(), logger)
		var res any
		args := new(A)
		err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes)).Decode(args)
		if err != nil {
			err = fmt.Errorf("decoding the %s request: %w", name, err)
		} else {
			res, err = fn(ctx, args)
		}
		result := ResultSuccess
		if err != nil {
			result = ResultError
			logger.V(2).Info("Verb failed", "err", err)
		}
		if x.metrics != nil {
			x.metrics.Requests.WithLabelValues(name, result).Inc()
			x.metrics.Duration.WithLabelValues(name).Observe(time.Since(start).Seconds())
		}
		if res == nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(res); err != nil {
			logger.V(2).Info("Writing the response failed", "err", err)
		}
	})
}
