package lint

import (
	"errors"
	"fmt"
	"runtime/debug"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// DisableAnnotation on an object, or on the metadata of its pod template,
// disables rules for that object: "BL003,BL021" (IDs separated by commas
// or spaces) or "all".
const DisableAnnotation = "lint.berth.io/disable"

// Options configures Lint.
type Options struct {
	// Cluster is the live cluster the cluster-aware rules compare with;
	// nil lints offline.
	Cluster *Cluster
	// DefaultNamespace is the namespace of objects that name none
	// (default "default"), as kubectl apply would use.
	DefaultNamespace string
}

// check is one topic's rules over one workload.
type check func(w *Workload, e *env, r *reporter)

// workloadChecks run on every pod spec, in this order.
var workloadChecks = []struct {
	name string
	fn   check
}{
	{"nodeAffinity", checkNodeAffinity},
	{"labelSelectors", checkLabelSelectors},
	{"tolerations", checkTolerations},
	{"topologyKeys", checkTopologyKeys},
	{"spread", checkSpread},
	{"resources", checkResources},
	{"placement", checkPlacement},
	{"antiAffinity", checkAntiAffinityReplicas},
	{"gangRefs", checkGangRefs},
	{"gpu", checkGPU},
	{"dra", checkDRA},
	{"storage", checkStorage},
	{"scheduling", checkSchedulerAndPriority},
	{"serverVersion", checkServerVersion},
}

// Lint runs every rule over the objects and returns the findings, sorted
// by file, document and line, with rules disabled by annotation or file
// comment left out. A rule that panics is recovered: the other rules
// still run, and the error says which rule failed on which object, so the
// CLI can report it and the webhook can fail open.
func Lint(objs []*Object, opts Options) ([]Finding, error) {
	ns := opts.DefaultNamespace
	if ns == "" {
		ns = "default"
	}
	e := newEnv(objs, opts.Cluster, ns)
	var out []Finding
	var errs []error
	for _, w := range e.workloads {
		r := &reporter{obj: w.Object}
		for _, c := range workloadChecks {
			if err := safely(func() { c.fn(w, e, r) }); err != nil {
				errs = append(errs, fmt.Errorf("rules %s on %s: %w", c.name, w.Object.Ref, err))
			}
		}
		out = append(out, filterDisabled(r.findings, w.Object, w.Pod.Annotations)...)
	}
	if err := safely(func() { out = append(out, checkGangMinMember(e)...) }); err != nil {
		errs = append(errs, fmt.Errorf("rules gangMinMember: %w", err))
	}
	sortFindings(out)
	return out, errors.Join(errs...)
}

// LintAll lints objects and adds the findings of reading them (decoding
// problems), filtering those by file comments too.
func LintAll(objs []*Object, readFindings []Finding, opts Options) ([]Finding, error) {
	fs, err := Lint(objs, opts)
	fs = append(fs, complete(readFindings)...)
	sortFindings(fs)
	return fs, err
}

func safely(f func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	f()
	return nil
}

// complete fills a finding's name, severity and remedy from its rule where
// the rule code left them empty.
func complete(fs []Finding) []Finding {
	for i := range fs {
		f := &fs[i]
		r := rulesByID[f.Rule]
		if r == nil {
			continue
		}
		f.Name = r.Name
		if f.Severity == "" {
			f.Severity = r.Severity
		}
		if f.Remedy == "" {
			f.Remedy = r.Help
		}
	}
	return fs
}

// filterDisabled drops the findings of rules the object, its pod template
// (extra) or its file disables.
func filterDisabled(fs []Finding, o *Object, extra map[string]string) []Finding {
	disabled := map[string]bool{}
	for id := range o.fileDisabled {
		disabled[id] = true
	}
	if acc, err := meta.Accessor(o.Obj); err == nil {
		for id := range parseRuleList(acc.GetAnnotations()[DisableAnnotation]) {
			disabled[id] = true
		}
	}
	for id := range parseRuleList(extra[DisableAnnotation]) {
		disabled[id] = true
	}
	if len(disabled) == 0 {
		return fs
	}
	out := fs[:0]
	for _, f := range fs {
		if !disabled["ALL"] && !disabled[f.Rule] {
			out = append(out, f)
		}
	}
	return out
}

// reporter collects one object's findings.
type reporter struct {
	obj      *Object
	findings []Finding
}

// add reports a finding at the rule's own severity. An empty remedy uses
// the rule's help.
func (r *reporter) add(id string, path *field.Path, msg, remedy string) {
	r.addSev(id, "", path, msg, remedy)
}

// addSev reports a finding at a severity other than the rule's.
func (r *reporter) addSev(id string, sev Severity, path *field.Path, msg, remedy string) {
	f := Finding{Rule: id, Severity: sev, Object: r.obj.Ref, Source: r.obj.Source, Message: msg, Remedy: remedy}
	if path != nil {
		f.Field = path.String()
	}
	f.Source.Line = r.obj.line(f.Field)
	r.findings = append(r.findings, complete([]Finding{f})...)
}
