package eval

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/smartcloudops/smartcloudops/detector"
)

// Fold is one part of a cross-validation: the categories it holds.
type Fold struct {
	Name       string
	Categories []string
}

// DevFolds returns the four folds of the NAB development set: each real category on its own,
// and the two artificial categories pooled.
func DevFolds() []Fold {
	return []Fold{
		{Name: "realAWSCloudwatch", Categories: []string{"realAWSCloudwatch"}},
		{Name: "realAdExchange", Categories: []string{"realAdExchange"}},
		{Name: "realTraffic", Categories: []string{"realTraffic"}},
		{Name: "artificial", Categories: []string{"artificialNoAnomaly", "artificialWithAnomaly"}},
	}
}

// Candidate is one parameter set the cross-validation may choose.
type Candidate struct {
	Name    string
	Factory detector.Factory
}

// FoldResult is one fold scored with the candidate chosen on the other folds.
type FoldResult struct {
	Fold   string `json:"fold"`
	Chosen string `json:"chosen"`
	// Train is the chosen candidate's standard score on the other folds pooled.
	Train    float64       `json:"train_standard"`
	Windows  int           `json:"windows"`
	Standard ProfileResult `json:"standard"`
	LowFP    ProfileResult `json:"reward_low_FP_rate"`
	LowFN    ProfileResult `json:"reward_low_FN_rate"`
	Events   Events        `json:"events"`
	// NoAnomalyFP counts the runs of detections on the fold's series without any window: every
	// one is a false positive.
	NoAnomalyFP int `json:"no_anomaly_fp_runs"`
}

// CVReport is a cross-validation over folds at one fixed threshold.
type CVReport struct {
	Threshold  float64      `json:"threshold"`
	Candidates []string     `json:"candidates"`
	Folds      []FoldResult `json:"folds"`
	// Mean and Worst summarise the held-out standard scores of the folds.
	Mean  float64 `json:"mean_standard"`
	Worst float64 `json:"worst_standard"`
	// Chosen is the candidate chosen the same way on all folds: the one to ship.
	Chosen string `json:"chosen_on_all"`
	// All is each candidate's standard score on all folds pooled, in Candidates order.
	All []float64 `json:"all_standard"`
}

// CrossValidate replays c once through every candidate, then for each fold chooses the candidate
// with the best standard score (NAB's standard profile at threshold) on the other folds pooled,
// and scores the fold with it. Ties go to the earlier candidate. Only the fold's own labels ever
// judge the fold; the threshold is fixed, not swept.
func CrossValidate(c *Corpus, folds []Fold, cands []Candidate, threshold float64) (*CVReport, error) {
	if len(cands) == 0 || len(folds) < 2 {
		return nil, fmt.Errorf("cross-validate: %d candidates and %d folds, want at least 1 and 2", len(cands), len(folds))
	}
	foldOf := map[string]int{}
	for i, f := range folds {
		for _, cat := range f.Categories {
			foldOf[cat] = i
		}
	}
	for _, s := range c.Series {
		if _, ok := foldOf[s.Category]; !ok {
			return nil, fmt.Errorf("cross-validate: category %s is in no fold", s.Category)
		}
	}
	prof := profileNamed(c.Profiles, "standard")
	// sets[k][f] holds candidate k's scored series of fold f.
	sets := make([][][]Scored, len(cands))
	for k, cand := range cands {
		r, err := Run(c, RunOptions{Factory: cand.Factory, Threshold: threshold})
		if err != nil {
			return nil, fmt.Errorf("cross-validate %s: %w", cand.Name, err)
		}
		sets[k] = make([][]Scored, len(folds))
		for i, s := range c.Series {
			l, err := NewLabels(s.Key, s.Category, pointTimes(s.Points), s.Windows)
			if err != nil {
				return nil, err
			}
			sc, err := l.Attach(r.Series[i].Scores)
			if err != nil {
				return nil, err
			}
			f := foldOf[s.Category]
			sets[k][f] = append(sets[k][f], sc)
		}
	}
	pooled := func(k int, skip int) []Scored {
		var out []Scored
		for f, s := range sets[k] {
			if f != skip {
				out = append(out, s...)
			}
		}
		return out
	}
	choose := func(skip int) (int, float64) {
		best, bestScore := 0, math.Inf(-1)
		for k := range cands {
			if v := Score(pooled(k, skip), prof, threshold).Score; v > bestScore {
				best, bestScore = k, v
			}
		}
		return best, bestScore
	}
	rep := &CVReport{Threshold: threshold, Worst: math.Inf(1)}
	for _, cand := range cands {
		rep.Candidates = append(rep.Candidates, cand.Name)
	}
	for f, fold := range folds {
		k, train := choose(f)
		held := sets[k][f]
		fr := FoldResult{Fold: fold.Name, Chosen: cands[k].Name, Train: train,
			Standard: Score(held, prof, threshold),
			LowFP:    Score(held, profileNamed(c.Profiles, "reward_low_FP_rate"), threshold),
			LowFN:    Score(held, profileNamed(c.Profiles, "reward_low_FN_rate"), threshold),
			Events:   EventF1(held, threshold)}
		for _, s := range held {
			fr.Windows += s.Labels.Windows()
			if s.Labels.Windows() == 0 {
				fr.NoAnomalyFP += EventF1([]Scored{s}, threshold).FP
			}
		}
		rep.Folds = append(rep.Folds, fr)
		rep.Mean += fr.Standard.Score / float64(len(folds))
		rep.Worst = min(rep.Worst, fr.Standard.Score)
	}
	k, _ := choose(-1)
	rep.Chosen = cands[k].Name
	for k := range cands {
		rep.All = append(rep.All, Score(pooled(k, -1), prof, threshold).Score)
	}
	return rep, nil
}

// profileNamed returns the profile called name from profiles, or NAB's published one.
func profileNamed(profiles []Profile, name string) Profile {
	for _, p := range slices.Concat(profiles, StandardProfiles()) {
		if p.Name == name {
			return p
		}
	}
	return Profile{Name: name}
}

// WriteText writes the cross-validation as plain text.
func (r *CVReport) WriteText(b *strings.Builder) {
	fmt.Fprintf(b, "cross-validation at threshold %.4g: each fold scored with the candidate chosen on the others\n", r.Threshold)
	fmt.Fprintf(b, "%-20s %-28s %8s %8s %8s %8s %4s %4s %8s %6s %s\n", "fold", "chosen", "train", "standard", "low FP", "low FN", "TP", "FN", "FP runs", "F1", "no-anomaly FP runs")
	for _, f := range r.Folds {
		fmt.Fprintf(b, "%-20s %-28s %8.3f %8.3f %8.3f %8.3f %4d %4d %8d %6.3f %d\n", f.Fold, f.Chosen, f.Train, f.Standard.Score,
			f.LowFP.Score, f.LowFN.Score, f.Events.TP, f.Events.FN, f.Events.FP, f.Events.F1, f.NoAnomalyFP)
	}
	fmt.Fprintf(b, "mean %.3f, worst %.3f; chosen on all folds: %s\n", r.Mean, r.Worst, r.Chosen)
	for k, name := range r.Candidates {
		fmt.Fprintf(b, "  candidate %-28s all folds pooled %.3f\n", name, r.All[k])
	}
}

// WriteMarkdown writes the cross-validation as a Markdown section.
func (r *CVReport) WriteMarkdown(b *strings.Builder) {
	fmt.Fprintf(b, "## Cross-validation (threshold %.4g)\n\n", r.Threshold)
	b.WriteString("Each fold is scored with the candidate parameter set that has the best NAB standard score on the " +
		"other folds pooled; the fold's own labels never choose anything.\n\n")
	b.WriteString("| held-out fold | chosen on the others | their score | standard | low FP | low FN | TP | FN | FP runs | event F1 | FP runs on no-anomaly series |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, f := range r.Folds {
		fmt.Fprintf(b, "| %s | %s | %.3f | %.3f | %.3f | %.3f | %d | %d | %d | %.3f | %d |\n", f.Fold, f.Chosen, f.Train, f.Standard.Score,
			f.LowFP.Score, f.LowFN.Score, f.Events.TP, f.Events.FN, f.Events.FP, f.Events.F1, f.NoAnomalyFP)
	}
	fmt.Fprintf(b, "\nHeld-out standard score: mean **%.3f**, worst **%.3f**. Chosen the same way on all four folds: **%s**.\n\n", r.Mean, r.Worst, r.Chosen)
	b.WriteString("| candidate | standard, all folds pooled |\n|---|---|\n")
	for k, name := range r.Candidates {
		fmt.Fprintf(b, "| %s | %.3f |\n", name, r.All[k])
	}
}
