// Package model holds SmartCloudOps' streaming anomaly models, the implementations of
// detector.Model that checks run per series. It sits inside the detector stage of the flow
// (sources → detector → incidents → rules → remediation → notifier/bot adapters): a check feeds
// each new point to Observe and turns a Score at or above its threshold into an anomaly.
//
// Three models share one engine:
//
//   - "robust": range tracking on seven statistics of the series, each of which names a part of
//     Score.Models when it fires: the value ("level"), a short-term mean ("shift"), a slow mean
//     ("drift"), the value on a logarithmic scale ("ratio"), the local variability, which counts
//     only when it falls below its range ("flat": a flatline or stuck value), the step from the
//     previous value ("jump": a sudden change within the range a wandering series covers), and
//     the residual from a seasonal baseline ("robust"; level, damped trend, time-of-day and
//     hour-of-week profiles learnt online with Huber-clipped updates).
//   - "forest": an isolation forest over window features of the baseline's residuals, refitted
//     every few dozen points on a decimated sample of recent history ("forest").
//   - "ensemble": both, the one that ships (see Default and DefaultThreshold).
//
// Each statistic keeps the range it has covered on this series: a running maximum and minimum
// that sink slowly back toward the recent centre when no new extreme renews them (Params.RangeRate,
// about 10,000 points of memory). Incidents are mostly values, levels, flatlines or seasonal
// departures the series has not produced recently; recurring spikes of the usual size, quantised
// steps, and the large errors of a baseline still learning stay inside the range.
// A statistic's excess e beyond its range, in range widths, becomes the likelihood 1 − 2^(−e/m)
// in [0,1), where m is Params.Margin: the probability that an ordinary new extreme (whose excess
// is taken as exponential with median m) falls short of this one. The robust score is the largest
// of the seven; 0.5 means an excess of m. A young range is still widening, so chance records come
// often and by wide margins: until a range has seen 300 independent values (for a mean, one per
// time constant) m is raised so that chance records of the scoring size stay as rare as on a
// mature range, which keeps new series and the first cycles of a periodic one quiet. The residual
// from the baseline is judged only beyond ±3.5 robust standard deviations, a size ordinary noise
// reaches about once in 2,000 points, so a baseline that has just learnt the pattern does not
// page on the noise its earlier, larger errors hid. Likewise a step is judged only beyond five
// times the slow mean absolute step (four standard deviations of Gaussian noise's steps). The smoothed statistics are judged against
// their ranges as of a snapshot taken every 16 points, since a mean creeping upward would
// otherwise renew its own range at every step and never show a large excess, and only once their
// ranges have seen enough independent values. A long incident teaches the baseline its values, so
// its end would be a large residual and a large step too. After an alarm, once the slow mean has
// moved a fifth of the value range away from the level it had when the alarm began, and until it
// comes back within that distance, a value that moves back toward that level is a recovery: the
// seasonal residual does not score it while the forecast is also that far away and the value is
// no further from the level than the forecast is, and the step does not score it when it covers
// at least half the way back. The other statistics still judge such a point on their own ranges.
// Once the series has been back, the old level no longer counts, so a later departure toward it
// is judged like any other. A flatline shrinks the baseline's residual scale toward nothing, so
// after an alarm on the flat part residuals are judged on the scale from before it, which is
// let go slowly once the variability is back; the slow mean step that floors the step statistic
// is held over the flatline as well. The forest's raw isolation score goes through a
// tail calibrator, an exponentially forgetting histogram that turns it into the probability of a value
// at least as extreme on this series, reported as −log10(p)/10. In the ensemble the forest only
// raises the score when the statistics already lean toward an anomaly (Params.Agree) and the
// forest alone would alarm, so its false alarms on ordinary windows never page anyone.
//
// After a score reaches the alarm level the model stays quiet for a refractory number of points,
// so one incident yields one detection rather than a burst; a much stronger anomaly (a score of at
// least 0.9, above the one that began the quiet period) still breaks through and restarts it.
//
// An incident widens the ranges to its own values, which would hide a second, smaller but still
// abnormal one. So each statistic also keeps a pre-alarm range that learns like its main range
// but leaves out the values of an alarm on the main ranges and its quiet period, and its part is
// the larger of the two scores, the pre-alarm one with three times the margin. Until a statistic
// is judged the pre-alarm range follows the main one, so a series' start-up leaves nothing out.
// What the left-out values reached beyond the pre-alarm range is kept as pending and taken in
// when it stops setting an incident apart: when the excursion never came back inside the range
// (a new level that outlasted the quiet period), when a value recurs at least three quarters as
// far beyond the range (a recurring excursion of about the same size is ordinary for the
// series), and when the pre-alarm range alone raises an alarm (the second incident has been
// reported). The values of such an alarm are learnt, so one excluded excursion costs at most one
// extra alarm, and the pre-alarm range never judges during the quiet period of a main alarm.
//
// State per series is a few kilobytes and round-trips through MarshalBinary; Load restores any
// model from those bytes, which start with a versioned header naming the model.
package model
