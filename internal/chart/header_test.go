package chart

import (
	"strings"
	"testing"
	"unicode/utf8"

	"gonum.org/v1/plot/vg"
)

func TestTruncate(t *testing.T) {
	width := func(s string) vg.Length { return vg.Length(utf8.RuneCountInString(s)) } // one unit a rune
	tests := []struct {
		in    string
		avail vg.Length
		want  string
	}{
		{"", 5, ""},
		{"short", 5, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"much too long", 6, "much …"},
		{"ünïcødé title", 5, "ünïc…"},
		{"x", 0, "…"},
	}
	for _, tt := range tests {
		if got := truncate(tt.in, tt.avail, width); got != tt.want {
			t.Errorf("truncate(%q, %v) = %q, want %q", tt.in, tt.avail, got, tt.want)
		}
	}
}

func TestHeaderLayout(t *testing.T) {
	st := newTheme()
	d := prepare(realistic(100))
	entries := legendFor(d, st)
	if len(entries) != 4 {
		t.Fatalf("legend has %d entries, want observed, expected, band and anomaly", len(entries))
	}

	wide := newHeader("cpu", entries, st, 1000)
	if !wide.inline || len(wide.rows) != 1 {
		t.Errorf("short title on a wide chart: inline=%v rows=%d, want the legend beside the title", wide.inline, len(wide.rows))
	}

	long := newHeader(strings.Repeat("m", 80), entries, st, 584)
	if long.inline || len(long.rows) != 1 {
		t.Errorf("long title: inline=%v rows=%d, want the legend on its own row", long.inline, len(long.rows))
	}
	if long.height <= wide.height {
		t.Errorf("a two-row header (%v) is not taller than a one-row header (%v)", long.height, wide.height)
	}
	if w := st.titleStyle.Width(long.title); w > 584 {
		t.Errorf("title is %v wide, more than the 584 available", w)
	}

	narrow := newHeader("cpu", entries, st, 160)
	if len(narrow.rows) < 2 {
		t.Errorf("legend on a narrow chart has %d rows, want it wrapped", len(narrow.rows))
	}
	for _, row := range narrow.rows {
		if w := narrow.rowWidth(row); w > 160 && len(row) > 1 {
			t.Errorf("legend row is %v wide, more than the 160 available", w)
		}
	}

	if empty := newHeader("", nil, st, 500); empty.height != 0 {
		t.Errorf("empty header is %v high, want 0", empty.height)
	}
}

// TestSmallImageKeepsThePlot checks that on the smallest image the header
// gives way so the data area keeps a usable share of the height.
func TestSmallImageKeepsThePlot(t *testing.T) {
	s := realistic(240)
	f, err := renderFrame(s, Options{Width: MinWidth, Height: MinHeight})
	if err != nil {
		t.Fatalf("renderFrame: %v", err)
	}
	d := prepare(s)
	top, bottom := f.py(d.ymax), f.py(d.ymin)
	if bottom-top < MinHeight/4 || top < 0 || bottom > MinHeight {
		t.Errorf("value axis runs from row %.0f to row %.0f of a %d px image", top, bottom, MinHeight)
	}
}
