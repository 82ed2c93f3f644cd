// Package eval measures the detector's models on labelled data. It sits beside the detector
// stage of the flow (sources → detector → incidents → rules → remediation → notifier/bot
// adapters) and owns four things:
//
//   - reading a corpus laid out like the Numenta Anomaly Benchmark (NAB): data/<category>/*.csv,
//     labels/combined_windows.json and config/profiles.json;
//   - scoring per-row anomaly scores with NAB's published algorithm (probation, scaled sigmoid
//     rewards, cost profiles, normalised score, threshold sweep) and with event-level F1;
//   - replaying every series through a detector.Factory, the same Model.Observe path that live
//     checks use, writing per-row results in NAB's layout and summarising them in a Report;
//   - a synthetic corpus that checks generalisation without NAB's labels: families of normal
//     behaviour common in infrastructure metrics, each clean and with injected anomalies of known
//     kind and onset, summarised by kind and by family (SyntheticCorpus, RunSynthetic).
//
// NAB aligns scores and labels by row order, so rows are never sorted or de-duplicated here;
// duplicate and out-of-order timestamps reach the model as they are.
package eval
