// Package model holds SmartCloudOps' streaming anomaly models, the implementations of
// detector.Model that checks run per series. It sits inside the detector stage of the flow
// (sources → detector → incidents → rules → remediation → notifier/bot adapters): a check feeds
// each new point to Observe and turns a Score at or above its threshold into an anomaly.
//
// Three models share one engine:
//
//   - "robust", the one that ships (see Default and DefaultThreshold): range tracking on six
//     statistics of the series, each of which names a part of Score.Models when it fires: the
//     value ("level"), a short-term mean ("shift"), the value on a logarithmic scale ("ratio"),
//     the local variability, which counts only when it falls below its range ("flat": a
//     flatline or stuck value), the step from the previous value ("jump"), and the residual from
//     a seasonal baseline ("robust"; level, damped trend, time-of-day and hour-of-week profiles
//     learnt online with Huber-clipped updates); and a shape part ("shape"): the distance from
//     the latest 32 points to the nearest stretch like them in the series' last 2,048, compressed
//     to means of 8 points, calibrated on the series' own history of such distances.
//   - "forest": an isolation forest over window features of the baseline's residuals, refitted
//     every few dozen points on a decimated sample of recent history ("forest"), its raw score
//     turned into a tail probability on this series by an exponentially forgetting histogram.
//   - "ensemble": both, scoring the higher of the two. The forest adds no detection the
//     statistics miss under cross-validation, so it does not ship; a trained model file or a
//     check may still name it.
//
// Each statistic keeps the range it has covered on this series: a running maximum and minimum
// that sink slowly back toward the recent centre when no new extreme renews them (Params.RangeRate,
// about 10,000 points of memory). Incidents are mostly values, levels, flatlines or seasonal
// departures the series has not produced recently; recurring spikes of the usual size, quantised
// steps, and the large errors of a baseline still learning stay inside the range. A statistic's
// excess e beyond its range, in range widths, becomes the score 1 − 2^(−e/m) in [0,1), where m is
// Params.Margin; the score of a point is the largest of the statistics'. 0.5 means an excess of m.
// A young range is still widening, so chance records come often and by wide margins: until a
// range has seen 300 independent values (for a mean, one per time constant) m is raised so that
// chance records of the scoring size stay as rare as on a mature range. A young or narrow range
// of a noisy series is no reason to page on its noise, so each statistic must also lie beyond a
// band ordinary noise seldom leaves: the residual, and the value and its logarithm, ±3.5 robust
// standard deviations of the baseline's forecast; the step, five slow mean absolute steps; the
// short-term mean, 3.5 of the standard deviations the noise gives it, around the centre of its
// range; the variability counts only below a quarter of the slow mean absolute step. A
// quantised series' value stands for anything within half a quantum, so the value, the step and
// the residual are judged against their range widened by the series' quantum (the smallest step
// it has made; 1 for counts), and on a series that looks like counts the band of the residual,
// the value and its logarithm reaches further up by the skew of counts. The short-term mean and
// the variability are judged against a snapshot of their ranges taken every 16 points, since a
// mean creeping upward would otherwise renew its own range at every step. WarmupLeft says how many points a model still learns before
// it scores.
//
// The score is honest: it is the same whatever threshold a check uses, nothing holds it down
// after an alarm, and it stays high for as long as the points are new to the series, falling as
// the ranges take the incident in. Turning a run of high scores into one incident is the incident
// stage's job; the band [Lower, Upper] (Expected ± Params.Band robust standard deviations of the
// baseline's residual) is what it judges the end of an incident by.
//
// An incident widens the ranges to its own values, which would hide a second, smaller but still
// abnormal one. So each statistic also keeps a clean range, which learns like its main range but,
// for as long as the short-term mean needs before it is judged (106 points) after the
// statistic alarms on its main range, takes in no new extreme; a point is also judged against the
// clean range, with three times the margin. An excursion that outlasts those points (a new level)
// is then taken in, and so is one that alarms on the clean range
// alone (the second incident has been reported), so a recurring excursion costs at most one
// extra alarm. A flatline shrinks the baseline's residual scale toward nothing, so after a flat
// alarm the residuals and the band use the scale from before it, let go slowly once the
// variability is back out of the flatline's band.
//
// The shape part finds what moves no range: a pattern that breaks inside values the series has
// already taken, such as a day without the usual cycle or a ramp back into a range an earlier
// incident reached. Its nearest-neighbour distance is turned into a score by comparing the
// distance's recent logarithm with the long-run mean and standard deviation of its own past
// values on this series (a Gaussian tail probability, as HTM's anomaly likelihood does), so the
// same threshold means the same on every series. It sees values clipped to the band and judges
// no window that holds a point beyond it, which the other parts report.
//
// State per series is about three kilobytes and round-trips through MarshalBinary; Load restores
// any model from those bytes, which start with a versioned header naming the model. State of the
// previous format (8, before the shape part) loads with an empty shape part, which fills its
// history again; state of an earlier format is refused with ErrVersion, and the caller starts a
// fresh model.
package model
