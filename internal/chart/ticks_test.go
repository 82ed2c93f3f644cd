package chart

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot/vg"
)

func TestTimeTicks(t *testing.T) {
	st := newTheme()
	style := st.legendStyle
	style.Font = st.tickFont
	tests := []struct {
		name     string
		from, to time.Time
		width    vg.Length
		multiDay bool
		want     []string
	}{
		{"two hours", t0, t0.Add(2 * time.Hour), 540, false,
			[]string{"13:00", "13:10", "13:20", "13:30", "13:40", "13:50", "14:00", "14:10", "14:20", "14:30", "14:40", "14:50", "15:00"}},
		{"two hours, narrow", t0, t0.Add(2 * time.Hour), 220, false,
			[]string{"13:00", "13:30", "14:00", "14:30", "15:00"}},
		{"ninety seconds", t0.Add(5 * time.Second), t0.Add(95 * time.Second), 540, false,
			[]string{"13:00:10", "13:00:20", "13:00:30", "13:00:40", "13:00:50", "13:01:00", "13:01:10", "13:01:20", "13:01:30"}},
		{"across midnight", time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC), time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC), 540, true,
			[]string{"Nov 25 21:00", "Nov 25 22:00", "Nov 25 23:00", "Nov 26 00:00", "Nov 26 01:00", "Nov 26 02:00", "Nov 26 03:00"}},
		{"two weeks", t0, t0.Add(14 * 24 * time.Hour), 540, true,
			[]string{"Nov 27", "Nov 29", "Dec 1", "Dec 3", "Dec 5", "Dec 7", "Dec 9"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := timeTicker{width: tt.width, style: style, multiDay: tt.multiDay}
			ticks := tk.Ticks(sec(tt.from), sec(tt.to))
			var got []string
			for _, k := range ticks {
				got = append(got, k.Label)
				if k.Value < sec(tt.from) || k.Value > sec(tt.to) {
					t.Errorf("tick %q at %v is outside the axis", k.Label, k.Value)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("labels\n got %q\nwant %q", got, tt.want)
			}
			var used vg.Length
			for _, l := range got {
				used += style.Width(l) + tickGap
			}
			if used > tt.width {
				t.Errorf("labels need %v pt, axis has %v", used, tt.width)
			}
		})
	}
}

func TestTimeTicksDegenerate(t *testing.T) {
	tk := timeTicker{width: 500, style: newTheme().legendStyle}
	for _, r := range [][2]float64{{1, 1}, {2, 1}, {0, math.Inf(1)}, {math.NaN(), 1}} {
		if got := tk.Ticks(r[0], r[1]); len(got) != 0 {
			t.Errorf("Ticks(%v, %v) = %v, want none", r[0], r[1], got)
		}
	}
	// Thousands of years still produce a few ticks, not an endless loop.
	lo, hi := sec(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)), sec(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	if got := tk.Ticks(lo, hi); len(got) == 0 || len(got) > maxTicks {
		t.Errorf("Ticks over 10000 years gave %d ticks", len(got))
	}
}

func TestValueTicks(t *testing.T) {
	tests := []struct {
		lo, hi float64
		count  int
		want   []string
	}{
		{0, 100, 6, []string{"0", "20", "40", "60", "80", "100"}},
		{0, 10, 5, []string{"0", "2.5", "5", "7.5", "10"}},
		{-1, 1, 5, []string{"-1", "-0.5", "0", "0.5", "1"}},
		{0, 5e6, 6, []string{"0", "1M", "2M", "3M", "4M", "5M"}},
		{0, 3.2e9, 5, []string{"0", "1G", "2G", "3G"}},
		{0, 3.2e9, 3, []string{"0", "1G", "2G", "3G"}}, // never fewer than three
		{36, 85, 3, []string{"40", "60", "80"}},
		{1500, 4000, 6, []string{"1500", "2000", "2500", "3000", "3500", "4000"}},
		{12000, 13000, 5, []string{"12k", "12.25k", "12.5k", "12.75k", "13k"}},
		{0, 0.003, 4, []string{"0", "0.001", "0.002", "0.003"}},
		{0, 3e-6, 4, []string{"0", "1e-06", "2e-06", "3e-06"}},
	}
	for _, tt := range tests {
		ticks := valueTicker{count: tt.count}.Ticks(tt.lo, tt.hi)
		var got []string
		for _, k := range ticks {
			got = append(got, k.Label)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Ticks(%v, %v) labels\n got %q\nwant %q", tt.lo, tt.hi, got, tt.want)
		}
	}
	for _, r := range [][2]float64{{1, 1}, {1, 0}, {math.NaN(), 1}, {-math.MaxFloat64, math.MaxFloat64}, {1e15, 1e15 + 0.25}} {
		ticks := valueTicker{count: 6}.Ticks(r[0], r[1])
		if len(ticks) > maxTicks {
			t.Errorf("Ticks(%v, %v) gave %d ticks", r[0], r[1], len(ticks))
		}
		for _, k := range ticks {
			if strings.Contains(k.Label, "NaN") || strings.Contains(k.Label, "Inf") {
				t.Errorf("Ticks(%v, %v) labelled a tick %q", r[0], r[1], k.Label)
			}
		}
	}
}

func TestSmallerStep(t *testing.T) {
	for step, want := range map[float64]float64{5: 2.5, 2.5: 2, 2: 1, 1: 0.5, 50: 25, 0.1: 0.05, 2e9: 1e9} {
		if got := smallerStep(step); math.Abs(got-want) > want*1e-12 {
			t.Errorf("smallerStep(%v) = %v, want %v", step, got, want)
		}
	}
}

func TestNiceStep(t *testing.T) {
	tests := []struct {
		half float64
		n    int
		want float64
	}{
		{50, 5, 20}, {50, 10, 10}, {5, 4, 2.5}, {0.5, 2, 0.5}, {3.5e6, 7, 1e6},
		{0, 5, 0}, {-1, 5, 0}, {math.Inf(1), 5, 0}, {math.NaN(), 5, 0}, {1, 0, 0},
		{math.MaxFloat64, 1, 0},
	}
	for _, tt := range tests {
		if got := niceStep(tt.half, tt.n); got != tt.want {
			t.Errorf("niceStep(%v, %d) = %v, want %v", tt.half, tt.n, got, tt.want)
		}
	}
}

func TestFormatValuesNoNegativeZero(t *testing.T) {
	got := formatValues([]float64{-1e-17, 0.5}, 0.5)
	if got[0] != "0" {
		t.Errorf("formatValues(-1e-17) = %q, want a plain zero", got[0])
	}
}

func TestTimeAxisLabel(t *testing.T) {
	day := func(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, time.UTC) }
	tests := []struct {
		a, b time.Time
		want string
	}{
		{day(2026, 11, 25, 1), day(2026, 11, 25, 23), "Wed 25 Nov 2026 (UTC)"},
		{day(2026, 11, 24, 1), day(2026, 11, 26, 2), "24 Nov – 26 Nov 2026 (UTC)"},
		{day(2025, 12, 30, 1), day(2026, 1, 2, 2), "30 Dec 2025 – 2 Jan 2026 (UTC)"},
		{day(2026, 11, 25, 23).In(time.FixedZone("E", 3*3600)), day(2026, 11, 25, 23).Add(30 * time.Minute), "Wed 25 Nov 2026 (UTC)"},
	}
	for _, tt := range tests {
		if got := timeAxisLabel(tt.a, tt.b); got != tt.want {
			t.Errorf("timeAxisLabel(%v, %v) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestSpanLabel(t *testing.T) {
	at := func(h, m, s int) time.Time { return time.Date(2026, 11, 25, h, m, s, 0, time.UTC) }
	sameDayRange := func(d *data) *data { d.xmin, d.xmax = sec(at(0, 0, 0)), sec(at(23, 0, 0)); return d }
	tests := []struct {
		name string
		d    *data
		want string
	}{
		{"closed", sameDayRange(&data{spanStartTime: at(14, 5, 0), spanEndTime: at(14, 20, 0)}), "anomaly 14:05–14:20"},
		{"seconds", sameDayRange(&data{spanStartTime: at(14, 5, 30), spanEndTime: at(14, 6, 0)}), "anomaly 14:05:30–14:06:00"},
		{"open", sameDayRange(&data{spanStartTime: at(14, 5, 0), spanEndTime: at(15, 0, 7), spanOpen: true}), "anomaly since 14:05"},
		{"instant", sameDayRange(&data{spanStartTime: at(14, 5, 0), spanEndTime: at(14, 5, 0)}), "anomaly at 14:05"},
		{"multi-day chart", &data{spanStartTime: at(14, 5, 0), spanEndTime: at(14, 20, 0), xmin: sec(at(14, 0, 0).Add(-48 * time.Hour)), xmax: sec(at(15, 0, 0))},
			"anomaly Nov 25 14:05–14:20"},
		{"span across midnight", &data{spanStartTime: at(23, 50, 0), spanEndTime: at(23, 50, 0).Add(20 * time.Minute), xmin: sec(at(20, 0, 0)), xmax: sec(at(20, 0, 0).Add(8 * time.Hour))},
			"anomaly Nov 25 23:50 – Nov 26 00:10"},
	}
	for _, tt := range tests {
		if got := spanLabel(tt.d); got != tt.want {
			t.Errorf("%s: spanLabel = %q, want %q", tt.name, got, tt.want)
		}
	}
}
