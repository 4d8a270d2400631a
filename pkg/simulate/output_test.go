package simulate

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/berthsched/berth/pkg/placement/gpu"
)

// sampleResults are two short runs on a one-card cluster.
func sampleResults() []*Result {
	mk := func(policy string, mode WorkloadMode, alloc ...int64) *Result {
		r := &Result{Policy: policy, Workload: mode, Trace: "t", Seed: 42, Tune: 1.3, TieBreak: TieBreakName, GPUCapacityMilli: 1000}
		for i, a := range alloc {
			r.Points = append(r.Points, Point{ArrivedGPUMilli: int64(i+1) * 100, AllocatedGPUMilli: a})
		}
		return r
	}
	return []*Result{
		mk(gpu.FGD, WorkloadTrace, 100, 200, 300, 400, 500, 600, 700, 800, 900, 950, 950, 950, 950),
		mk(gpu.BestFit, WorkloadOnline, 100, 200, 300, 400, 500, 600, 700, 800, 800, 800, 800, 800, 800),
	}
}

func TestWriteCSV(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCSV(&b, sampleResults()); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rows[0], ","); got != "policy,workload,trace,seed,tune,tie_break,arrived_pct,gpu_alloc_pct" {
		t.Errorf("header %s", got)
	}
	var fgd100, bf100 string
	for _, r := range rows[1:] {
		if r[6] == "100" {
			switch r[0] {
			case gpu.FGD:
				fgd100 = strings.Join(r, ",")
			case gpu.BestFit:
				bf100 = strings.Join(r, ",")
			}
		}
	}
	if fgd100 != "FGD,trace,t,42,1.3,name,100,95.00" || bf100 != "BestFit,online,t,42,1.3,name,100,80.00" {
		t.Errorf("rows at 100%%: %q, %q", fgd100, bf100)
	}
}

func TestWriteSVGIsWellFormed(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSVG(&b, `GPU allocation <"openb" & friends>`, sampleResults()); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&b)
	var root string
	count := map[string]int{}
	var texts []string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = el.Name.Space + " " + el.Name.Local
			}
			count[el.Name.Local]++
		case xml.CharData:
			if s := strings.TrimSpace(string(el)); s != "" {
				texts = append(texts, s)
			}
		}
	}
	if root != "http://www.w3.org/2000/svg svg" {
		t.Errorf("root element %q, want svg in the SVG namespace", root)
	}
	// One line per run and the ideal.
	if count["polyline"] != 3 {
		t.Errorf("%d polylines, want 3", count["polyline"])
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{
		`GPU allocation <"openb" & friends>`, // escaped in the file, intact once parsed
		"FGD/trace 95.00%", "BestFit 80.00%", "ideal",
		"Arrived GPU demand (% of cluster GPU capacity)", "GPU allocation (% of cluster GPU capacity)",
		"70", "85", "130", // both axes start 10 below the lowest allocation at 100%
	} {
		if !strings.Contains(all, want) {
			t.Errorf("chart text lacks %q", want)
		}
	}
}
