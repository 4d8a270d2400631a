package chaos

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints one row per result: scenario, pods, violations,
// recovery time and what the fault did; then every violation in full.
func WriteTable(w io.Writer, results []*Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tPODS\tVIOLATIONS\tRECOVERY\tNOTES")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%v\t%s\n", r.Scenario, r.Pods, len(r.Violations), r.Recovery.Round(100*time.Millisecond), strings.Join(r.Notes, "; "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range results {
		for _, v := range r.Violations {
			if _, err := fmt.Fprintf(w, "%s: %s\n", r.Scenario, v); err != nil {
				return err
			}
		}
	}
	return nil
}
