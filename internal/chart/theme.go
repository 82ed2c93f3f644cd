package chart

import (
	"image/color"
	"math"
	"time"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Colours. The span's fill is translucent (non-premultiplied NRGBA) so the
// grid and the band show through it; everything drawn in pieces (lines,
// the band) is opaque so the pieces join without seams.
var (
	colText      = color.Gray{Y: 45}
	colTitle     = color.Gray{Y: 15}
	colAxis      = color.Gray{Y: 140}
	colGrid      = color.Gray{Y: 228}
	colObserved  = color.NRGBA{R: 31, G: 86, B: 160, A: 255}
	colExpected  = color.NRGBA{R: 95, G: 105, B: 120, A: 255}
	colBandFill  = color.NRGBA{R: 215, G: 230, B: 248, A: 255}
	colBandEdge  = color.NRGBA{R: 140, G: 185, B: 236, A: 255}
	colFrozen    = color.NRGBA{R: 35, G: 95, B: 185, A: 255}
	colSpanFill  = color.NRGBA{R: 225, G: 45, B: 40, A: 36}
	colSpanEdge  = color.NRGBA{R: 225, G: 45, B: 40, A: 140}
	colAnomaly   = color.NRGBA{R: 205, G: 30, B: 30, A: 255}
	colMarkerRim = color.White
)

// theme holds the fonts and styles of one chart. It is built per render so
// that no drawing state is shared between concurrent renders.
type theme struct {
	text, title color.Color
	tickFont    font.Font
	labelFont   font.Font
	titleStyle  text.Style
	legendStyle text.Style
	axis        draw.LineStyle
	grid        draw.LineStyle
	observed    draw.LineStyle
	expected    draw.LineStyle
	bandEdge    draw.LineStyle
	bandSingle  draw.LineStyle
	bandFill    color.Color
	spanFill    color.Color
	spanEdge    draw.LineStyle
	frozenEdge  draw.LineStyle
	anomalyLine draw.LineStyle
	anomalyDot  draw.GlyphStyle
	anomalyRim  draw.GlyphStyle
}

func newTheme() theme {
	sans := font.Font{Typeface: "Liberation", Variant: "Sans"}
	bold := sans
	bold.Weight = xfont.WeightBold
	return theme{
		text:      colText,
		tickFont:  font.From(sans, 9),
		labelFont: font.From(sans, 9.5),
		titleStyle: text.Style{
			Color: colTitle, Font: font.From(bold, 12),
			XAlign: draw.XLeft, YAlign: draw.YTop, Handler: plot.DefaultTextHandler,
		},
		legendStyle: text.Style{
			Color: colText, Font: font.From(sans, 9),
			XAlign: draw.XLeft, YAlign: draw.YCenter, Handler: plot.DefaultTextHandler,
		},
		axis:        draw.LineStyle{Color: colAxis, Width: 0.6},
		grid:        draw.LineStyle{Color: colGrid, Width: 0.6},
		observed:    draw.LineStyle{Color: colObserved, Width: 1.4},
		expected:    draw.LineStyle{Color: colExpected, Width: 1, Dashes: []vg.Length{4, 2.5}},
		bandEdge:    draw.LineStyle{Color: colBandEdge, Width: 0.6},
		bandSingle:  draw.LineStyle{Color: colBandEdge, Width: 3},
		bandFill:    colBandFill,
		spanFill:    colSpanFill,
		spanEdge:    draw.LineStyle{Color: colSpanEdge, Width: 0.8, Dashes: []vg.Length{3, 2}},
		frozenEdge:  draw.LineStyle{Color: colFrozen, Width: 1.1, Dashes: []vg.Length{5, 3}},
		anomalyLine: draw.LineStyle{Color: colAnomaly, Width: 1.8},
		anomalyDot:  draw.GlyphStyle{Color: colAnomaly, Radius: 2.4, Shape: draw.CircleGlyph{}},
		anomalyRim:  draw.GlyphStyle{Color: colMarkerRim, Radius: 3.2, Shape: draw.CircleGlyph{}},
	}
}

// secondsToTime converts Unix seconds back to a UTC time.
func secondsToTime(sec float64) time.Time {
	whole := math.Floor(sec)
	return time.Unix(int64(whole), int64((sec-whole)*1e9)).UTC()
}
