package eval

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
)

// timeLayouts are the timestamp forms accepted in CSV files and label files, tried in order.
var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
	"2006-01-02",
}

// ParseTime parses a timestamp as written in NAB files ("2014-04-01 00:05:00", optionally with
// fractional seconds), RFC 3339, or a number of Unix seconds. Times without a zone are UTC.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) && math.Abs(f) < 1e11 {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("unrecognised timestamp %q", s)
}

// ErrNoRows reports a CSV file with a header but no data rows.
var ErrNoRows = errors.New("no data rows")

// ReadCSV reads a series from r. The first line is a header naming a "timestamp" column and a
// value column: "value" when present, else "anomaly_score", else the first other column. Values
// that do not parse as numbers are an error naming the line; "NaN" and "Inf" parse and are left
// for the model to reject. Rows keep their file order. name is used only in error messages.
func ReadCSV(r io.Reader, name string) ([]detector.Point, error) {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read %s: empty file", name)
		}
		return nil, fmt.Errorf("read %s header: %w", name, err)
	}
	tCol, vCol := -1, -1
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		switch {
		case h == "timestamp" && tCol < 0:
			tCol = i
		case h == "value":
			vCol = i
		case h == "anomaly_score" && vCol < 0:
			vCol = i
		}
	}
	if tCol < 0 {
		return nil, fmt.Errorf("read %s: header %q has no timestamp column", name, strings.Join(header, ","))
	}
	if vCol < 0 {
		for i := range header {
			if i != tCol {
				vCol = i
				break
			}
		}
	}
	if vCol < 0 {
		return nil, fmt.Errorf("read %s: header %q has no value column", name, strings.Join(header, ","))
	}
	var pts []detector.Point
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// csv.ParseError already names the line.
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) <= tCol || len(rec) <= vCol {
			return nil, fmt.Errorf("read %s line %d: want at least %d fields, got %d", name, line, max(tCol, vCol)+1, len(rec))
		}
		t, err := ParseTime(rec[tCol])
		if err != nil {
			return nil, fmt.Errorf("read %s line %d: %w", name, line, err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[vCol]), 64)
		if err != nil {
			return nil, fmt.Errorf("read %s line %d: value %q is not a number", name, line, rec[vCol])
		}
		pts = append(pts, detector.Point{T: t, V: v})
	}
	if len(pts) == 0 {
		return nil, fmt.Errorf("read %s: %w", name, ErrNoRows)
	}
	return pts, nil
}

// ReadCSVFile reads a series from the CSV file at path; see ReadCSV.
func ReadCSVFile(path string) ([]detector.Point, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open series: %w", err)
	}
	defer f.Close()
	return ReadCSV(f, path)
}
