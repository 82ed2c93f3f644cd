package detector

import (
	"encoding"
	"math"
	"time"
)

// Point is one observation of a series.
type Point struct {
	T time.Time
	V float64
}

// Score is what a Model says about one point, computed from earlier points only.
type Score struct {
	// Score is the anomaly likelihood in [0,1]; 0 while the model is still warming up.
	Score float64
	// Expected is the model's forecast of the value; Lower and Upper bound the normal band.
	Expected, Lower, Upper float64
	// Models names the model parts that flagged the point (empty when none did).
	Models []string
}

// Model is a streaming anomaly model for one series. Observe scores p from the points seen
// before it and only then learns from p, so appending later points never changes earlier scores.
// A Model is not safe for concurrent use; a check owns one per series.
type Model interface {
	Observe(p Point) Score
	// Name is the model's kind, such as "robust" or "ensemble"; it is saved with the state.
	Name() string
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

// Factory makes a fresh Model for a new series.
type Factory func() Model

// Valid reports whether v can be scored: NaN and ±Inf cannot.
func Valid(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
