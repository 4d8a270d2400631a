package app

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/explain"
)

// explainPath is where the running scheduler explains its own view of a
// pod: evaluated on its live cache, so pods it has assumed (binds in
// flight) and nominations from preemption count, which `berth explain`
// from outside cannot see.
const explainPath = "/debug/explain"

// explainHandler serves GET /debug/explain?pod=NAMESPACE/NAME, with
// optional node=NODE (that node's full filter trace) and format=json
// (default), yaml or table. Pods are read from the scheduler's informer;
// only pending pods are explained.
func explainHandler(x *explain.Explainer, pods corelisters.PodLister) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "only GET is served", http.StatusMethodNotAllowed)
			return
		}
		q := r.URL.Query()
		ns, name, ok := strings.Cut(q.Get("pod"), "/")
		if !ok || ns == "" || name == "" {
			http.Error(w, "want ?pod=NAMESPACE/NAME", http.StatusBadRequest)
			return
		}
		format := q.Get("format")
		if format == "" {
			format = explain.FormatJSON
		}
		pod, err := pods.Pods(ns).Get(name)
		if apierrors.IsNotFound(err) {
			http.Error(w, fmt.Sprintf("pod %s/%s not found", ns, name), http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if pod.Spec.NodeName != "" {
			// Explaining a bound pod takes it out of the cache for the
			// call, which the live cache must never do under the loop.
			http.Error(w, fmt.Sprintf("pod %s/%s is bound to %s; %s explains pending pods (use `berth explain` for a bound one)", ns, name, pod.Spec.NodeName, explainPath), http.StatusConflict)
			return
		}
		e, err := x.Explain(r.Context(), pod, explain.Options{Node: q.Get("node")})
		if err != nil {
			klog.FromContext(r.Context()).V(2).Info("Explaining pod failed", "pod", klog.KObj(pod), "err", err)
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		var buf bytes.Buffer
		if err := explain.Render(&buf, e, format); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		switch format {
		case explain.FormatJSON:
			w.Header().Set("Content-Type", "application/json")
		case explain.FormatYAML:
			w.Header().Set("Content-Type", "application/yaml")
		default:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		}
		_, _ = w.Write(buf.Bytes())
	})
}
