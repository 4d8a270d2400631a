package svgchart

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func TestRender(t *testing.T) {
	from := time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC)
	to := from.Add(time.Hour)
	pts := []model.SamplePair{
		{Timestamp: model.TimeFromUnixNano(from.UnixNano()), Value: 50 << 20},
		{Timestamp: model.TimeFromUnixNano(to.UnixNano()), Value: 60 << 20},
	}
	svg := Render("soak <1h>", []Chart{
		{Title: "RSS", Unit: "B", Series: []Series{{Name: "berth", Points: pts}}},
		{Title: "Empty", Unit: "s"},
	}, from, to)
	if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
		t.Fatalf("not well-formed XML: %v", err)
	}
	for _, want := range []string{"soak &lt;1h&gt;", ">RSS<", "No data", " MiB<", "13:00:00", "13:30:00", "14:00:00"} {
		if !strings.Contains(svg, want) {
			t.Errorf("the SVG lacks %q", want)
		}
	}
	if n := strings.Count(svg, "<polyline"); n != 1 {
		t.Errorf("%d lines drawn, want 1", n)
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		unit string
		want string
	}{
		{0.25, "s", "250ms"}, {2, "s", "2s"}, {0.5, "%", "0.5%"}, {3, "/s", "3/s"},
		{512, "B", "512 B"}, {1536, "B", "1.5 KiB"}, {200 << 20, "B", "200 MiB"}, {3 << 30, "B", "3 GiB"}, {7, "", "7"},
	} {
		if got := format(tc.v, tc.unit); got != tc.want {
			t.Errorf("format(%g, %q) = %q, want %q", tc.v, tc.unit, got, tc.want)
		}
	}
}
