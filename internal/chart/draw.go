package chart

import (
	"fmt"
	"image"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// dpi fixes the relation between the pixel size the caller asks for and the
// point sizes of fonts and lines: at 96 dpi a 9 pt label is 12 px high.
const dpi = 96

// Layout, in points.
const (
	margin       = vg.Length(8)
	headerGap    = vg.Length(6) // between the header and the plot
	legendGap    = vg.Length(14)
	thumbWidth   = vg.Length(16)
	thumbTextGap = vg.Length(4)
	minSpanWidth = vg.Length(2) // a span of one instant is still visible
)

// maxHeaderShare is the largest part of the image height that the title
// and legend may take.
const maxHeaderShare = 0.3

// Anomalous points are marked with dots only while the dots stay apart:
// at most maxMarkers of them, at least minMarkerSpacing apart on average.
// Denser dots merge into a smear; the red line alone reads better.
const (
	maxMarkers       = 150
	minMarkerSpacing = vg.Length(2)
)

// frame is a rendered chart and the mapping from data to pixels, which the
// tests use to look at the right pixels.
type frame struct {
	img  image.Image
	px   func(sec float64) float64 // Unix seconds to pixel column
	py   func(v float64) float64   // value to pixel row
	data image.Rectangle           // the data area, in pixels
}

// renderFrame validates s and o and draws the chart.
func renderFrame(s Series, o Options) (f *frame, err error) {
	w, h, err := o.size()
	if err != nil {
		return nil, err
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	// gonum/plot panics on some states it considers programmer errors. The
	// input is checked above; this turns anything left into an error rather
	// than a crash of the bot.
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("chart %q: draw: %v", s.Title, r)
		}
	}()

	d := prepare(s)
	cv := vgimg.NewWith(vgimg.UseImage(image.NewRGBA(image.Rect(0, 0, w, h))), vgimg.UseDPI(dpi))
	dc := draw.New(cv)
	st := newTheme()

	// On small images the plot keeps priority: the legend goes first, then
	// the title, rather than squeezing the data into a sliver.
	avail := dc.Max.X - dc.Min.X - 2*margin
	maxHeader := (dc.Max.Y - dc.Min.Y) * maxHeaderShare
	header := newHeader(s.Title, legendFor(d, st), st, avail)
	if header.height > maxHeader {
		header = newHeader(s.Title, nil, st, avail)
	}
	if header.height > maxHeader {
		header = newHeader("", nil, st, avail)
	}
	header.draw(dc, st)

	body := draw.Crop(dc, margin, -margin, margin/2, -(margin + header.height + headerGap))
	p := newPlot(s, d, st, body)
	p.Draw(body)

	dataC := p.DataCanvas(body)
	toPx := func(l vg.Length) float64 { return float64(l) * dpi / vg.Inch.Points() }
	f = &frame{
		img: cv.Image(),
		px:  func(sec float64) float64 { return toPx(dataC.X(p.X.Norm(sec))) },
		py:  func(v float64) float64 { return float64(h) - toPx(dataC.Y(p.Y.Norm(v))) },
		data: image.Rect(
			int(math.Round(toPx(dataC.Min.X))), h-int(math.Round(toPx(dataC.Max.Y))),
			int(math.Round(toPx(dataC.Max.X))), h-int(math.Round(toPx(dataC.Min.Y))),
		),
	}
	return f, nil
}

// newPlot builds the axes, grid and series for the area body.
func newPlot(s Series, d *data, st theme, body draw.Canvas) *plot.Plot {
	p := plot.New()
	p.BackgroundColor = nil // the canvas is already white

	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Padding = 0
		ax.LineStyle = st.axis
		ax.Tick.LineStyle = st.axis
		ax.Tick.Length = 4
		ax.Tick.Label.Font = st.tickFont
		ax.Tick.Label.Color = st.text
		ax.Label.TextStyle.Font = st.labelFont
		ax.Label.TextStyle.Color = st.text
		ax.Label.Padding = 3
	}

	p.X.Min, p.X.Max = d.xmin, d.xmax
	p.X.Label.Text = timeAxisLabel(secondsToTime(d.xmin), secondsToTime(d.xmax))
	xt := timeTicker{
		width:    body.Max.X - body.Min.X - 60, // refined below, once the y axis is sized
		style:    p.X.Tick.Label,
		multiDay: !sameDay(secondsToTime(d.xmin), secondsToTime(d.xmax)),
	}
	p.X.Tick.Marker = xt

	p.Y.Min, p.Y.Max = d.ymin, d.ymax
	p.Y.Label.Text = s.Unit
	p.Y.Tick.Marker = valueTicker{count: max(3, int((body.Max.Y-body.Min.Y)/vg.Length(30)))}

	dataC := p.DataCanvas(body)
	xt.width = dataC.Max.X - dataC.Min.X
	p.X.Tick.Marker = xt

	grid := plotter.NewGrid()
	grid.Vertical = st.grid
	grid.Horizontal = st.grid
	p.Add(bandPlotter{d: d, st: st}, grid, seriesPlotter{d: d, st: st})
	return p
}

// bandPlotter draws the expected band. It is drawn first, under the grid
// and the span shading, with an opaque fill: the span then tints it, and
// the band can be drawn in overlapping pieces without visible seams.
type bandPlotter struct {
	d  *data
	st theme
}

// Plot implements plot.Plotter.
func (bp bandPlotter) Plot(c draw.Canvas, p *plot.Plot) {
	d, st := bp.d, bp.st
	if d.lo == nil {
		return
	}
	tx, ty := p.Transforms(&c)
	xs := toCanvas(d.x, tx, c.Min.X, c.Max.X)
	los := toCanvas(d.lo, ty, c.Min.Y, c.Max.Y)
	his := toCanvas(d.hi, ty, c.Min.Y, c.Max.Y)
	ok := func(i int) bool { return !isNaN(xs[i]) && !isNaN(los[i]) && !isNaN(his[i]) }
	for a, b := range runs(len(xs), ok) {
		if b-a == 1 {
			c.StrokeLine2(st.bandSingle, xs[a], los[a], xs[a], his[a])
			continue
		}
		for ca, cb := range chunks(a, b) {
			poly := make([]vg.Point, 0, 2*(cb-ca))
			for i := ca; i < cb; i++ {
				poly = append(poly, vg.Point{X: xs[i], Y: his[i]})
			}
			for i := cb - 1; i >= ca; i-- {
				poly = append(poly, vg.Point{X: xs[i], Y: los[i]})
			}
			c.FillPolygon(st.bandFill, poly)
			c.StrokeLines(st.bandEdge, poly[:cb-ca], poly[cb-ca:])
		}
	}
}

// seriesPlotter draws the span, the expected line, the observed line and
// the anomalous points, in that order, so the observed line is never
// hidden.
type seriesPlotter struct {
	d  *data
	st theme
}

// Plot implements plot.Plotter.
func (sp seriesPlotter) Plot(c draw.Canvas, p *plot.Plot) {
	d, st := sp.d, sp.st
	tx, ty := p.Transforms(&c)
	xs := toCanvas(d.x, tx, c.Min.X, c.Max.X)
	ys := toCanvas(d.y, ty, c.Min.Y, c.Max.Y)
	at := func(cs []vg.Length) func(int) vg.Point {
		return func(i int) vg.Point { return vg.Point{X: xs[i], Y: cs[i]} }
	}
	drawable := func(cs []vg.Length) func(int) bool {
		return func(i int) bool { return !isNaN(xs[i]) && !isNaN(cs[i]) }
	}

	if d.hasSpan {
		x0 := max(c.Min.X, min(c.Max.X, tx(d.spanX0)))
		x1 := max(c.Min.X, min(c.Max.X, tx(d.spanX1)))
		if x1-x0 < minSpanWidth {
			mid := (x0 + x1) / 2
			x0, x1 = mid-minSpanWidth/2, mid+minSpanWidth/2
		}
		c.FillPolygon(st.spanFill, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
		c.StrokeLine2(st.spanEdge, x0, c.Min.Y, x0, c.Max.Y)
		if !d.spanOpen {
			c.StrokeLine2(st.spanEdge, x1, c.Min.Y, x1, c.Max.Y)
		}
		if f := d.frozen; f != nil {
			// The band the span is judged against, as a reference across it.
			for _, v := range []float64{f.Lower, f.Upper} {
				if y := ty(v); finite(float64(y)) {
					y = max(c.Min.Y, min(c.Max.Y, y))
					c.StrokeLine2(st.frozenEdge, x0, y, x1, y)
				}
			}
		}
	}

	if d.exp != nil {
		es := toCanvas(d.exp, ty, c.Min.Y, c.Max.Y)
		polyline(&c, st.expected, len(xs), drawable(es), at(es))
	}
	obs := drawable(ys)
	polyline(&c, st.observed, len(xs), obs, at(ys))

	if d.hasSpan {
		anomalous := func(i int) bool { return obs(i) && d.inSpan(d.x[i]) }
		polyline(&c, st.anomalyLine, len(xs), anomalous, at(ys))
		n, first, last := 0, -1, -1
		for i := range xs {
			if anomalous(i) {
				n++
				if first < 0 {
					first = i
				}
				last = i
			}
		}
		if n > 0 && n <= maxMarkers && (n == 1 || (xs[last]-xs[first])/vg.Length(n-1) >= minMarkerSpacing) {
			for i := range xs {
				if anomalous(i) {
					c.DrawGlyphNoClip(st.anomalyRim, at(ys)(i))
					c.DrawGlyphNoClip(st.anomalyDot, at(ys)(i))
				}
			}
		}
	}
}

// toCanvas maps data values to canvas coordinates. A value that is not
// finite, or does not map to a finite coordinate, becomes NaN: a gap. The
// rest is clamped to a generous margin around [lo, hi], because the
// rasterizer's cost grows with the distance a path travels.
func toCanvas(vs []float64, tr func(float64) vg.Length, lo, hi vg.Length) []vg.Length {
	out := make([]vg.Length, len(vs))
	margin := hi - lo
	for i, v := range vs {
		c := vg.Length(math.NaN())
		if finite(v) {
			if t := tr(v); finite(float64(t)) {
				c = max(lo-margin, min(hi+margin, t))
			}
		}
		out[i] = c
	}
	return out
}

func distance(p, q vg.Point) vg.Length {
	return vg.Length(math.Hypot(float64(q.X-p.X), float64(q.Y-p.Y)))
}

func isNaN(l vg.Length) bool { return math.IsNaN(float64(l)) }

// polyline strokes the points where ok holds, one line per run; a run of
// one point, which a line cannot show, becomes a dot.
func polyline(c *draw.Canvas, sty draw.LineStyle, n int, ok func(int) bool, at func(int) vg.Point) {
	for a, b := range runs(n, ok) {
		if b-a == 1 {
			c.DrawGlyphNoClip(draw.GlyphStyle{Color: sty.Color, Radius: sty.Width*1.2 + 0.5, Shape: draw.CircleGlyph{}}, at(a))
			continue
		}
		// A dashed line continues its pattern from piece to piece, so the
		// segment two pieces share is dashed identically by both.
		walked, upTo := vg.Length(0), a
		for ca, cb := range chunks(a, b) {
			for ; upTo < ca; upTo++ {
				walked += distance(at(upTo), at(upTo+1))
			}
			piece := sty
			piece.DashOffs = sty.DashOffs + walked
			pts := make([]vg.Point, 0, cb-ca)
			for i := ca; i < cb; i++ {
				pts = append(pts, at(i))
			}
			c.StrokeLines(piece, pts)
		}
	}
}

// chunkPoints is the most points drawn as one path. The rasterizer keeps
// a sorted list of cells per pixel row and walks it for every cell it
// touches, so one long, dense path costs time quadratic in its width;
// short pieces keep it linear.
const chunkPoints = 48

// chunks cuts [a, b) into pieces of at most chunkPoints points. Neighbours
// share one segment, so each joint is drawn whole by one of them; shapes
// drawn in pieces must therefore be opaque.
func chunks(a, b int) func(yield func(ca, cb int) bool) {
	return func(yield func(ca, cb int) bool) {
		for ca := a; ; ca += chunkPoints - 2 {
			cb := min(b, ca+chunkPoints)
			if !yield(ca, cb) || cb == b {
				return
			}
		}
	}
}

// runs yields the half-open index ranges [a, b) of consecutive indices
// below n where ok holds.
func runs(n int, ok func(int) bool) func(yield func(a, b int) bool) {
	return func(yield func(a, b int) bool) {
		for i := 0; i < n; {
			if !ok(i) {
				i++
				continue
			}
			j := i + 1
			for j < n && ok(j) {
				j++
			}
			if !yield(i, j) {
				return
			}
			i = j
		}
	}
}
