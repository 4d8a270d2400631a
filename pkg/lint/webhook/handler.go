package webhook

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/lint"
)

// Paths the webhook serves. Each webhook entry of the configuration points
// at one.
const (
	// PathValidate warns: every finding at or above the warning severity
	// becomes an admission warning; the object is always admitted.
	PathValidate = "/validate"
	// PathDeny also rejects objects with an error finding.
	PathDeny = "/deny"
)

// Fail-open reasons of berth_webhook_fail_open_total.
const (
	reasonDecode    = "decode"
	reasonPanic     = "panic"
	reasonRuleError = "rule_error"
)

// maxWarning is the length kubectl shows a warning in full; longer ones
// are cut (the API server may truncate them anyway).
const maxWarning = 256

// maxBody bounds a request body: admission reviews of workloads are far
// smaller.
const maxBody = 3 << 20

// Facts returns the cluster the rules compare with; nil lints offline.
type Facts func() *lint.Cluster

// Handler answers AdmissionReviews on PathValidate and PathDeny.
type Handler struct {
	// Facts gives the cluster facts per request (from informers).
	Facts Facts
	// Metrics records requests, failures and latency.
	Metrics *Metrics
	// MinSeverity is the mildest finding reported as a warning
	// (default lint.Warning).
	MinSeverity lint.Severity

	reader *lint.Reader
}

// NewHandler returns a Handler; facts may be nil (offline rules only).
func NewHandler(facts Facts, m *Metrics) *Handler {
	return &Handler{Facts: facts, Metrics: m, MinSeverity: lint.Warning, reader: lint.NewReader()}
}

// Register adds the handler's paths to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc(PathValidate, func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, false) })
	mux.HandleFunc(PathDeny, func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, true) })
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, deny bool) {
	start := time.Now()
	mode := "warn"
	if deny {
		mode = "deny"
	}
	defer func() { h.Metrics.Duration.WithLabelValues(mode).Observe(time.Since(start).Seconds()) }()
	logger := klog.FromContext(r.Context())
	if r.Method != http.MethodPost {
		http.Error(w, "POST an AdmissionReview", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	var review admissionv1.AdmissionReview
	if err == nil {
		err = json.Unmarshal(body, &review)
	}
	if err != nil || review.Request == nil {
		// Without a request UID no valid answer exists; the API server
		// treats the error as a failed call and, with failurePolicy
		// Ignore, admits.
		h.Metrics.FailOpen.WithLabelValues(reasonDecode).Inc()
		http.Error(w, fmt.Sprintf("not an AdmissionReview: %v", err), http.StatusBadRequest)
		return
	}
	req := review.Request
	resp := h.Review(req, deny)
	logger.V(2).Info("Admission review", "kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name,
		"operation", req.Operation, "mode", mode, "allowed", resp.Allowed, "warnings", len(resp.Warnings))
	out := admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp}
	if out.APIVersion == "" {
		out.APIVersion, out.Kind = admissionv1.SchemeGroupVersion.String(), "AdmissionReview"
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(out); err != nil {
		logger.Error(err, "Writing the admission response")
	}
}

// Review lints the request's object and answers. It never fails: any
// internal problem admits the object (fail open) and is counted.
func (h *Handler) Review(req *admissionv1.AdmissionRequest, deny bool) (resp *admissionv1.AdmissionResponse) {
	kind, op := req.Kind.Kind, string(req.Operation)
	resp = &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	result := ResultAllowed
	defer func() {
		if p := recover(); p != nil {
			klog.Background().Error(fmt.Errorf("%v", p), "Lint webhook panicked; admitting", "kind", kind, "namespace", req.Namespace, "name", req.Name)
			h.Metrics.FailOpen.WithLabelValues(reasonPanic).Inc()
			resp = &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
			result = ResultFailed
		}
		h.Metrics.Requests.WithLabelValues(op, kind, result).Inc()
	}()
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return resp
	}
	objs, readFindings := h.reader.ReadBytes("", req.Object.Raw)
	for _, f := range readFindings {
		if f.Rule == lint.RuleUndecodable {
			h.Metrics.FailOpen.WithLabelValues(reasonDecode).Inc()
			result = ResultFailed
			return resp
		}
	}
	var cluster *lint.Cluster
	if h.Facts != nil {
		cluster = h.Facts()
	}
	fs, err := lint.Lint(objs, lint.Options{Cluster: cluster, DefaultNamespace: req.Namespace})
	if err != nil {
		klog.Background().Error(err, "Lint rules failed; admitting", "kind", kind, "namespace", req.Namespace, "name", req.Name)
		h.Metrics.FailOpen.WithLabelValues(reasonRuleError).Inc()
		result = ResultFailed
		return resp
	}
	var errs []string
	for _, f := range fs {
		if !f.Severity.AtLeast(h.MinSeverity) {
			continue
		}
		h.Metrics.Findings.WithLabelValues(f.Rule, string(f.Severity)).Inc()
		resp.Warnings = append(resp.Warnings, Warning(f))
		if f.Severity == lint.Error {
			errs = append(errs, fmt.Sprintf("%s %s: %s", f.Rule, f.Field, f.Message))
		}
	}
	if len(resp.Warnings) > 0 {
		result = ResultWarned
	}
	if deny && len(errs) > 0 {
		result = ResultDenied
		resp.Allowed = false
		resp.Result = &metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden,
			Message: "berth lint: " + strings.Join(errs, "; ") + " (see docs/lint.md; disable a rule with the annotation " + lint.DisableAnnotation + ")",
		}
	}
	return resp
}

// Warning renders a finding as one admission warning:
// "berth lint BL003 (error) FIELD: MESSAGE", cut to maxWarning.
func Warning(f lint.Finding) string {
	s := fmt.Sprintf("berth lint %s (%s) %s: %s", f.Rule, f.Severity, f.Field, f.Message)
	if len(s) > maxWarning {
		s = strings.ToValidUTF8(s[:maxWarning-3], "") + "..."
	}
	return s
}
