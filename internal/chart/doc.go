// Package chart renders the PNG charts that SmartCloudOps attaches to alert
// cards: one metric series over time, the band the detector expected it to
// stay in, the expected line, and the anomalous span shaded and its points
// highlighted.
//
// Where it sits: detector → incidents → rules → remediation →
// notifier/bot adapters. The notifier calls [Render] (or [WriteFile] for the
// console adapter and the --demo replay) with the points of an incident and
// hands the PNG bytes to the chat adapter that uploads them. The package
// knows nothing about detectors, incidents or chat platforms; it only draws.
//
// Rendering is pure and safe for concurrent use: it draws into an in-memory
// image with the Liberation fonts embedded in gonum.org/v1/plot, so it needs
// no system fonts, no display and no files. All times are drawn in UTC.
//
// Caveats:
//   - Times must be in ascending order. Values, Expected, Lower and Upper are
//     index-aligned with Times; a NaN or ±Inf is drawn as a gap.
//   - Series longer than [MaxPoints] are reduced before drawing, keeping the
//     minimum and maximum of every bucket, so spikes stay visible and the
//     cost of rendering stays bounded.
//   - Input errors wrap [ErrInvalidSeries], [ErrNoData] or
//     [ErrInvalidOptions] and name the offending field and index.
package chart
