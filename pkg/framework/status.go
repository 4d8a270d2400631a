package framework

import (
	"errors"
	"strings"
)

// Code tells the engine what a plugin's verdict means for the pod. The order
// of the constants is part of the API (it is used in metrics labels).
type Code int

const (
	// Success means the plugin is satisfied. A nil *Status is also Success.
	Success Code = iota
	// Error is an internal failure (a bug, a missing cycle state, an API
	// error). The pod is retried with backoff; it is not a verdict on the node.
	Error
	// Unschedulable means the pod does not fit the node now but could after
	// the cluster changes (a pod leaves, a node gains capacity). Preemption
	// may help. The pod waits in the unschedulable pool until an event that
	// the rejecting plugin registered for moves it.
	Unschedulable
	// UnschedulableAndUnresolvable means no change to the pods on the node
	// can help (a node selector mismatch, an untolerated taint), so
	// preemption skips the node. Requeueing works as for Unschedulable.
	UnschedulableAndUnresolvable
	// Wait is returned only by Permit plugins: the pod stays assumed and its
	// binding waits until the plugin allows or rejects it, or a timeout.
	Wait
	// Skip is returned by PreFilter and PreScore plugins that have nothing to
	// do for this pod; their Filter or Score is then not called at all.
	Skip
	// Pending is returned by PreEnqueue plugins (and may be by others) when
	// the pod must wait for something outside the scheduler, such as a
	// scheduling gate being removed. It is not counted as a failed attempt.
	Pending
)

var codeNames = [...]string{"Success", "Error", "Unschedulable", "UnschedulableAndUnresolvable", "Wait", "Skip", "Pending"}

// String returns the constant's name.
func (c Code) String() string {
	if int(c) < len(codeNames) && c >= 0 {
		return codeNames[c]
	}
	return "Unknown"
}

// Status is a plugin's verdict: a code, human-readable reasons, the plugin
// that produced it, and for Error an underlying error. A nil *Status is a
// success, so every method is nil-safe.
type Status struct {
	code    Code
	reasons []string
	err     error
	plugin  string
}

// NewStatus returns a status with the code and reasons. Reasons should be
// short and stable (they are counted across nodes in the Diagnosis).
func NewStatus(code Code, reasons ...string) *Status {
	return &Status{code: code, reasons: reasons}
}

// AsStatus wraps an error as an Error status; nil stays nil (success).
func AsStatus(err error) *Status {
	if err == nil {
		return nil
	}
	return &Status{code: Error, reasons: []string{err.Error()}, err: err}
}

// Code returns the status code; Success for nil.
func (s *Status) Code() Code {
	if s == nil {
		return Success
	}
	return s.code
}

// Reasons returns the reasons; for an Error built from an error, its text.
func (s *Status) Reasons() []string {
	if s == nil {
		return nil
	}
	return s.reasons
}

// Message joins the reasons with ", ".
func (s *Status) Message() string {
	if s == nil {
		return ""
	}
	return strings.Join(s.reasons, ", ")
}

// Plugin returns the name of the plugin that produced the status, set by
// the engine (or by a plugin reporting on behalf of another).
func (s *Status) Plugin() string {
	if s == nil {
		return ""
	}
	return s.plugin
}

// WithPlugin sets the plugin name and returns the status, for chaining. It is
// a no-op on nil.
func (s *Status) WithPlugin(name string) *Status {
	if s != nil {
		s.plugin = name
	}
	return s
}

// WithError attaches an underlying error (kept for errors.Is/As through
// AsError) and returns the status.
func (s *Status) WithError(err error) *Status {
	if s != nil {
		s.err = err
	}
	return s
}

// IsSuccess reports whether the status is nil or Success.
func (s *Status) IsSuccess() bool { return s.Code() == Success }

// IsSkip reports whether the plugin asked to be skipped.
func (s *Status) IsSkip() bool { return s.Code() == Skip }

// IsWait reports whether a Permit plugin asked the pod to wait.
func (s *Status) IsWait() bool { return s.Code() == Wait }

// IsRejected reports whether the pod was rejected: Unschedulable,
// UnschedulableAndUnresolvable or Pending. Errors are not rejections.
func (s *Status) IsRejected() bool {
	c := s.Code()
	return c == Unschedulable || c == UnschedulableAndUnresolvable || c == Pending
}

// AsError returns the status as an error: nil for Success and Skip, the
// attached error if there is one, otherwise the message.
func (s *Status) AsError() error {
	if s.IsSuccess() || s.IsSkip() {
		return nil
	}
	if s.err != nil {
		return s.err
	}
	return errors.New(s.Message())
}

// Equal compares code, reasons and plugin; used by tests via cmp.
func (s *Status) Equal(o *Status) bool {
	if s == nil || o == nil {
		return s.IsSuccess() && o.IsSuccess()
	}
	if s.code != o.code || s.plugin != o.plugin || len(s.reasons) != len(o.reasons) {
		return false
	}
	for i := range s.reasons {
		if s.reasons[i] != o.reasons[i] {
			return false
		}
	}
	return true
}

// String is for logs.
func (s *Status) String() string {
	if s == nil {
		return "Success"
	}
	var b strings.Builder
	b.WriteString(s.code.String())
	if s.plugin != "" {
		b.WriteString("(" + s.plugin + ")")
	}
	if m := s.Message(); m != "" {
		b.WriteString(": " + m)
	}
	return b.String()
}
