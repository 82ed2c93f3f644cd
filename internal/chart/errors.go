package chart

import "errors"

var (
	// ErrNoData is returned when a series has no points, or no point with a
	// finite value, so there is nothing to draw.
	ErrNoData = errors.New("no data to draw")

	// ErrInvalidSeries is returned when a series is inconsistent: slices of
	// different lengths, times out of order or zero, a lower bound above the
	// upper bound, or an anomalous span that ends before it starts.
	ErrInvalidSeries = errors.New("invalid series")

	// ErrInvalidOptions is returned when the requested image size is negative
	// or outside the supported range.
	ErrInvalidOptions = errors.New("invalid chart options")
)
