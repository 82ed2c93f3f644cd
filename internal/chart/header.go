package chart

import (
	"image/color"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// legendEntry is one item of the legend: a small picture of the mark and
// what it means.
type legendEntry struct {
	label string
	thumb func(c *draw.Canvas, r vg.Rectangle)
}

// legendFor lists the marks that are actually drawn for d.
func legendFor(d *data, st theme) []legendEntry {
	midLine := func(sty draw.LineStyle) func(*draw.Canvas, vg.Rectangle) {
		return func(c *draw.Canvas, r vg.Rectangle) {
			y := (r.Min.Y + r.Max.Y) / 2
			c.StrokeLine2(sty, r.Min.X, y, r.Max.X, y)
		}
	}
	box := func(c *draw.Canvas, r vg.Rectangle, fill color.Color) {
		c.FillPolygon(fill, []vg.Point{r.Min, {X: r.Max.X, Y: r.Min.Y}, r.Max, {X: r.Min.X, Y: r.Max.Y}})
	}

	entries := []legendEntry{{label: "observed", thumb: midLine(st.observed)}}
	if d.exp != nil && anyFinite(d.exp) {
		entries = append(entries, legendEntry{label: "expected", thumb: midLine(st.expected)})
	}
	if d.lo != nil && anyFinite(d.lo) && anyFinite(d.hi) {
		entries = append(entries, legendEntry{label: "expected band", thumb: func(c *draw.Canvas, r vg.Rectangle) {
			box(c, r, st.bandFill)
			c.StrokeLine2(st.bandEdge, r.Min.X, r.Max.Y, r.Max.X, r.Max.Y)
			c.StrokeLine2(st.bandEdge, r.Min.X, r.Min.Y, r.Max.X, r.Min.Y)
		}})
	}
	if d.frozen != nil {
		entries = append(entries, legendEntry{label: "band when it began", thumb: func(c *draw.Canvas, r vg.Rectangle) {
			box(c, r, st.bandFill)
			c.StrokeLine2(st.frozenEdge, r.Min.X, r.Max.Y, r.Max.X, r.Max.Y)
			c.StrokeLine2(st.frozenEdge, r.Min.X, r.Min.Y, r.Max.X, r.Min.Y)
		}})
	}
	if d.hasSpan {
		entries = append(entries, legendEntry{label: spanLabel(d), thumb: func(c *draw.Canvas, r vg.Rectangle) {
			box(c, r, st.spanFill)
			c.StrokeLine2(st.spanEdge, r.Min.X, r.Min.Y, r.Min.X, r.Max.Y)
			c.StrokeLine2(st.spanEdge, r.Max.X, r.Min.Y, r.Max.X, r.Max.Y)
			mid := vg.Point{X: (r.Min.X + r.Max.X) / 2, Y: (r.Min.Y + r.Max.Y) / 2}
			c.DrawGlyphNoClip(st.anomalyDot, mid)
		}})
	}
	return entries
}

// spanLabel describes the anomalous span in the legend: "anomaly
// 14:05–14:20", "anomaly since 14:05", with seconds only when they matter
// and the date only when the chart covers more than one day.
func spanLabel(d *data) string {
	start, end := d.spanStartTime, d.spanEndTime
	layout := "15:04"
	if start.Second() != 0 || start.Nanosecond() != 0 || (!d.spanOpen && (end.Second() != 0 || end.Nanosecond() != 0)) {
		layout = "15:04:05"
	}
	if !sameDay(secondsToTime(d.xmin), secondsToTime(d.xmax)) {
		layout = "Jan 2 " + layout
	}
	switch {
	case d.spanOpen:
		return "anomaly since " + start.Format(layout)
	case start.Equal(end):
		return "anomaly at " + start.Format(layout)
	case sameDay(start, end):
		return "anomaly " + start.Format(layout) + "–" + end.Format(trimDate(layout))
	default:
		return "anomaly " + start.Format(layout) + " – " + end.Format(layout)
	}
}

// trimDate drops the date from a layout built by spanLabel; the end of a
// span on the day it started needs only its time.
func trimDate(layout string) string {
	const date = "Jan 2 "
	if len(layout) > len(date) && layout[:len(date)] == date {
		return layout[len(date):]
	}
	return layout
}

// header is the title and legend above the plot. The legend sits on the
// title's row, right-aligned, when both fit; otherwise it wraps onto rows of
// its own below the title.
type header struct {
	title   string
	rows    [][]legendEntry
	inline  bool // the single legend row shares the title's row
	titleH  vg.Length
	rowH    vg.Length
	widths  map[string]vg.Length
	height  vg.Length
	avail   vg.Length
	legendW vg.Length // width of the first legend row
}

const rowGap = vg.Length(3)

func newHeader(title string, entries []legendEntry, st theme, avail vg.Length) header {
	h := header{avail: avail, widths: make(map[string]vg.Length, len(entries))}
	h.title = truncate(title, avail, func(s string) vg.Length { return st.titleStyle.Width(s) })
	if h.title != "" {
		h.titleH = st.titleStyle.Height(h.title)
	}
	h.rowH = st.legendStyle.Height("Mg")

	var row []legendEntry
	var rowW vg.Length
	for _, e := range entries {
		w := thumbWidth + thumbTextGap + st.legendStyle.Width(e.label)
		h.widths[e.label] = w
		if len(row) > 0 && rowW+legendGap+w > avail {
			h.rows = append(h.rows, row)
			row, rowW = nil, 0
		}
		if len(row) > 0 {
			rowW += legendGap
		}
		row = append(row, e)
		rowW += w
	}
	if len(row) > 0 {
		h.rows = append(h.rows, row)
	}
	if len(h.rows) > 0 {
		h.legendW = h.rowWidth(h.rows[0])
	}

	titleW := st.titleStyle.Width(h.title)
	h.inline = len(h.rows) == 1 && (h.title == "" || titleW+2*legendGap+h.legendW <= avail)
	switch {
	case len(h.rows) == 0:
		h.height = h.titleH
	case h.inline:
		h.height = max(h.titleH, h.rowH)
	case h.title == "":
		h.height = vg.Length(len(h.rows))*(h.rowH+rowGap) - rowGap
	default:
		h.height = h.titleH + rowGap + vg.Length(len(h.rows))*(h.rowH+rowGap) - rowGap
	}
	return h
}

func (h header) rowWidth(row []legendEntry) vg.Length {
	var w vg.Length
	for i, e := range row {
		if i > 0 {
			w += legendGap
		}
		w += h.widths[e.label]
	}
	return w
}

// draw paints the header along the top of c.
func (h header) draw(c draw.Canvas, st theme) {
	left, right := c.Min.X+margin, c.Max.X-margin
	top := c.Max.Y - margin
	if h.title != "" {
		c.FillText(st.titleStyle, vg.Point{X: left, Y: top}, h.title)
	}
	y := top - h.rowH/2
	if h.inline {
		y = top - h.height/2
	} else if h.title != "" {
		y = top - h.titleH - rowGap - h.rowH/2
	}
	for _, row := range h.rows {
		x := left
		if h.inline {
			x = right - h.legendW
		}
		for _, e := range row {
			r := vg.Rectangle{
				Min: vg.Point{X: x, Y: y - h.rowH*0.32},
				Max: vg.Point{X: x + thumbWidth, Y: y + h.rowH*0.32},
			}
			e.thumb(&c, r)
			c.FillText(st.legendStyle, vg.Point{X: x + thumbWidth + thumbTextGap, Y: y}, e.label)
			x += h.widths[e.label] + legendGap
		}
		y -= h.rowH + rowGap
	}
}

// truncate shortens s with an ellipsis until width(s) fits in avail.
func truncate(s string, avail vg.Length, width func(string) vg.Length) string {
	if s == "" || width(s) <= avail {
		return s
	}
	runes := []rune(s)
	lo, hi := 0, len(runes) // longest fitting prefix length is in [lo, hi)
	for lo < hi-1 {
		mid := (lo + hi) / 2
		if width(string(runes[:mid])+"…") <= avail {
			lo = mid
		} else {
			hi = mid
		}
	}
	return string(runes[:lo]) + "…"
}
