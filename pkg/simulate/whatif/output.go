package whatif

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Output formats of Render.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// maxListed bounds each list of pods in the text output; JSON has all.
const maxListed = 20

// Render writes the result as text (for people) or JSON (the Result
// type, whatif.berth.io/v1alpha1).
func Render(w io.Writer, r *Result, format string) error {
	switch format {
	case FormatJSON:
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case FormatText, "":
		return renderText(w, r)
	}
	return fmt.Errorf("unknown output format %q (want text or json)", format)
}

func renderText(w io.Writer, r *Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "What-if on a snapshot taken %s (%d nodes, %d pods); mode %s, seed %d\n", r.Snapshot.TakenAt.UTC().Format("2006-01-02 15:04:05Z"), r.Snapshot.Nodes, r.Snapshot.Pods, r.Mode, r.Seed)
	changed := len(r.Changes) > 0
	if changed {
		b.WriteString("Change:\n")
		for _, c := range r.Changes {
			fmt.Fprintf(&b, "  - %s\n", c)
		}
	} else {
		b.WriteString("Change: none (where the pending pods would go now)\n")
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	if changed {
		fmt.Fprintln(tw, "PODS\tBEFORE\tAFTER")
		fmt.Fprintf(tw, "placed\t%d\t%d\n", r.Before.Placed, r.After.Placed)
		fmt.Fprintf(tw, "pending\t%d\t%d\n", r.Before.Pending, r.After.Pending)
		if r.Added.Placed+r.Added.Pending > 0 {
			fmt.Fprintf(tw, "added (placed/pending)\t\t%d/%d\n", r.Added.Placed, r.Added.Pending)
		}
	} else {
		fmt.Fprintf(tw, "placed\t%d\n", r.Before.Placed)
		fmt.Fprintf(tw, "pending\t%d\n", r.Before.Pending)
	}
	tw.Flush()
	if changed {
		list(&b, "Moved", r.Moved, func(p Placement) string {
			return fmt.Sprintf("%s  %s → %s", p.Pod, from(p), p.After)
		})
		list(&b, "Newly pending", r.NewlyPending, func(p Placement) string {
			return fmt.Sprintf("%s  (was %s): %s", p.Pod, from(p), firstLine(p.AfterReason))
		})
		list(&b, "Newly placed", r.NewlyPlaced, func(p Placement) string {
			return fmt.Sprintf("%s  → %s", p.Pod, p.After)
		})
		var addedPending []Placement
		for _, p := range r.Placements {
			if p.Added && p.After == "" {
				addedPending = append(addedPending, p)
			}
		}
		list(&b, "Added and pending", addedPending, func(p Placement) string {
			return fmt.Sprintf("%s: %s", p.Pod, firstLine(p.AfterReason))
		})
		list(&b, "Pending before and after", r.StillPending, func(p Placement) string {
			return fmt.Sprintf("%s: %s", p.Pod, firstLine(p.AfterReason))
		})
	} else {
		list(&b, "Placements", r.Placements, func(p Placement) string {
			if p.Before == "" {
				return fmt.Sprintf("%s  pending: %s", p.Pod, firstLine(p.BeforeReason))
			}
			return fmt.Sprintf("%s  → %s", p.Pod, p.Before)
		})
	}
	b.WriteString("\nUtilisation by zone (requested / allocatable):\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	if changed {
		fmt.Fprintln(tw, "ZONE\tNODES\tPODS\tCPU\tMEMORY\tGPU")
		for _, z := range r.Zones {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", z.Name,
				pair(z.Before, z.After, func(u *Usage) string { return fmt.Sprint(u.Nodes) }),
				pair(z.Before, z.After, func(u *Usage) string { return fmt.Sprint(u.Pods) }),
				pair(z.Before, z.After, func(u *Usage) string { return pct(u.CPU) }),
				pair(z.Before, z.After, func(u *Usage) string { return pct(u.Memory) }),
				pair(z.Before, z.After, gpuPct))
		}
	} else {
		fmt.Fprintln(tw, "ZONE\tNODES\tPODS\tCPU\tMEMORY\tGPU")
		for _, z := range r.Zones {
			u := z.Before
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", z.Name, u.Nodes, u.Pods, pct(u.CPU), pct(u.Memory), gpuPct(u))
		}
	}
	tw.Flush()
	if c := r.Capacity; c != nil {
		fmt.Fprintf(&b, "\nCapacity for more of %s: %s\n", c.Pod, c.Summary)
		if c.Failure != "" {
			fmt.Fprintf(&b, "  %s\n", firstLine(c.Failure))
		}
	}
	fmt.Fprintf(&b, "\n(%s; node-level figures and every placement: -o json)\n", r.Wall.Duration)
	_, err := io.WriteString(w, b.String())
	return err
}

func from(p Placement) string {
	if p.Before != "" {
		return p.Before
	}
	return p.Was
}

func list(b *strings.Builder, title string, ps []Placement, line func(Placement) string) {
	if len(ps) == 0 {
		return
	}
	fmt.Fprintf(b, "\n%s (%d):\n", title, len(ps))
	for i, p := range ps {
		if i == maxListed {
			fmt.Fprintf(b, "  … and %d more\n", len(ps)-maxListed)
			break
		}
		fmt.Fprintf(b, "  %s\n", line(p))
	}
}

func pct(v float64) string { return fmt.Sprintf("%.1f%%", v) }

func gpuPct(u *Usage) string {
	if u.GPU == nil {
		return "-"
	}
	return pct(*u.GPU)
}

// pair prints "before → after", "gone" or "new" for a zone that exists
// in one run only, and one value when both are the same.
func pair(before, after *Usage, f func(*Usage) string) string {
	switch {
	case before == nil && after == nil:
		return "-"
	case before == nil:
		return "(new) " + f(after)
	case after == nil:
		return f(before) + " → (gone)"
	}
	bv, av := f(before), f(after)
	if bv == av {
		return bv
	}
	return bv + " → " + av
}
