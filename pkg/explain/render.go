package explain

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"sigs.k8s.io/yaml"
)

// Output formats accepted by Render.
const (
	FormatTable = "table"
	FormatJSON  = "json"
	FormatYAML  = "yaml"
)

// Render writes e in format (table, json or yaml).
func Render(w io.Writer, e *Explanation, format string) error {
	switch format {
	case "", FormatTable:
		return RenderTable(w, e)
	case FormatJSON:
		b, err := json.MarshalIndent(e, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case FormatYAML:
		b, err := yaml.Marshal(e)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("unknown output format %q (want table, json or yaml)", format)
}

// RenderTable writes the human form: the verdict, the rejections grouped
// by plugin and reason, the best nodes' scores by plugin, the suggestions
// and the node trace.
func RenderTable(w io.Writer, e *Explanation) error {
	p := &printer{w: w}
	pod := e.Pod
	p.f("Pod %s/%s (schedulerName %s, priority %d, preemptionPolicy %s", pod.Namespace, pod.Name, pod.SchedulerName, pod.Priority, pod.PreemptionPolicy)
	if len(pod.Requests) > 0 {
		p.f(", requests %s", mapString(pod.Requests))
	}
	p.f(")\n")
	if pod.NodeName != "" {
		p.f("Bound to %s; evaluated as if it were pending.\n", pod.NodeName)
	}
	if pod.NominatedNodeName != "" {
		p.f("Nominated to %s by an earlier preemption.\n", pod.NominatedNodeName)
	}
	if e.Schedulable && e.Group != nil && !e.Group.Schedulable {
		p.f("Fits alone: %d of %d nodes fit, but its pod group does not fit whole (below), so it waits.\n", e.FeasibleNodes, e.Nodes)
	} else if e.Schedulable {
		p.f("Schedulable: %d of %d nodes fit; berth would choose %s.\n", e.FeasibleNodes, e.Nodes, e.ChosenNode)
	} else {
		p.f("Unschedulable: %s\n", e.Message)
	}
	renderGroup(p, e.Group)

	if len(e.Rejections) > 0 {
		p.f("\nRejected nodes, by first failing filter:\n")
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "  NODES\tPLUGIN\tREASON\tEXAMPLES")
		unresolvable := false
		for _, r := range e.Rejections {
			reason := r.Reason
			if r.Code == "UnschedulableAndUnresolvable" {
				reason += " *"
				unresolvable = true
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", r.Count, r.Plugin, reason, examples(r.Nodes, r.Count))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if unresolvable {
			p.f("  * unresolvable: evicting pods from these nodes would not help\n")
		}
	}

	if len(e.TopNodes) > 0 {
		p.f("\nBest nodes (weighted score by plugin):\n")
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		var plugins []string
		for _, s := range e.TopNodes[0].Plugins {
			plugins = append(plugins, s.Plugin)
		}
		fmt.Fprintf(tw, "  NODE\tTOTAL\t%s\n", strings.Join(plugins, "\t"))
		for _, n := range e.TopNodes {
			name := n.Node
			if n.Chosen {
				name += " (chosen)"
			}
			scores := make([]string, len(n.Plugins))
			for i, s := range n.Plugins {
				scores[i] = fmt.Sprint(s.Score)
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\n", name, n.Total, strings.Join(scores, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, n := range e.TopNodes {
			for _, note := range n.Notes {
				p.f("  %s: %s\n", n.Node, note)
			}
		}
	}

	if !e.Schedulable {
		if len(e.Suggestions) == 0 {
			p.f("\nNo single change found that would make it fit.\n")
		} else {
			p.f("\nWhat would make it fit (verified: tried on this snapshot; hint: not tried):\n")
			for _, s := range e.Suggestions {
				tag := "hint"
				if s.Verified {
					tag = "verified"
				}
				p.f("  [%s] %s: %s\n", tag, s.Cause, s.Message)
				if s.Verified && len(s.Nodes) > 0 && s.Cause != CausePreemption {
					p.f("      fits on: %s\n", examples(s.Nodes, s.FitNodes))
				}
			}
		}
	}

	if t := e.Trace; t != nil {
		p.f("\nFilter trace on node %s:", t.Node)
		if t.Note != "" {
			p.f(" %s\n", t.Note)
		} else {
			verdict := "fits"
			if !t.Feasible {
				verdict = "rejected"
			}
			p.f(" %s\n", verdict)
			tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "  PLUGIN\tRESULT\tREASONS")
			for _, v := range t.Plugins {
				reasons := strings.Join(v.Reasons, "; ")
				if reasons == "" {
					reasons = "-"
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.Plugin, v.Code, reasons)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(t.Skipped) > 0 {
				p.f("  Skipped (nothing to check for this pod): %s\n", strings.Join(t.Skipped, ", "))
			}
		}
	}
	return p.err
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

// examples renders a node list, with "+N more" when it was cut.
func examples(nodes []string, total int) string {
	s := strings.Join(nodes, ", ")
	if more := total - len(nodes); more > 0 {
		s += fmt.Sprintf(" +%d more", more)
	}
	return s
}

func mapString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return resourceOrder(keys[i]) < resourceOrder(keys[j]) })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, " ")
}

// renderGroup prints the pod's gang: whether it fits whole, and the first
// member that has no node.
func renderGroup(p *printer, g *GroupSummary) {
	if g == nil {
		return
	}
	if g.Problem != "" {
		p.f("Pod group: %s\n", g.Problem)
		return
	}
	p.f("\nPod group %s (%s): minMember %d, %d scheduled, %d pending", g.Name, g.API, g.MinMember, g.Scheduled, g.Pending)
	if g.TopologyKey != "" {
		p.f(", within one %s domain (the scheduler tries each; evaluated here over all nodes)", g.TopologyKey)
	}
	p.f("\n")
	if g.Schedulable {
		p.f("  The group fits: %d pending members fit together, %d needed.\n", g.Fit, max(g.MinMember-g.Scheduled, 0))
	} else {
		p.f("  The group does not fit: %d of %d needed members fit together; none is placed until all can be.\n", g.Fit, g.MinMember-g.Scheduled)
	}
	for i, m := range g.Members {
		if m.Node == "" {
			p.f("  member %d of %d (%s) has no node: %s\n", g.Scheduled+i+1, g.Scheduled+g.Pending, m.Name, m.Reason)
			break
		}
	}
}
