package eval

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
)

// Window is a labelled anomaly window, both ends inclusive.
type Window struct {
	Start, End time.Time
}

// Profile is a NAB cost matrix: the reward for a detected window and the costs of a false
// positive row and of a missed window.
type Profile struct {
	Name       string
	TP, FP, FN float64
}

// StandardProfiles returns NAB's three published profiles in report order.
func StandardProfiles() []Profile {
	return []Profile{
		{Name: "standard", TP: 1, FP: 0.11, FN: 1},
		{Name: "reward_low_FP_rate", TP: 1, FP: 0.22, FN: 1},
		{Name: "reward_low_FN_rate", TP: 1, FP: 0.11, FN: 2},
	}
}

// Series is one labelled file of a corpus.
type Series struct {
	// Key is the file's path relative to the data folder, such as "realTraffic/speed_6005.csv".
	Key      string
	Category string
	Points   []detector.Point
	Windows  []Window
}

// Corpus is a NAB-layout data set loaded into memory.
type Corpus struct {
	Series   []Series
	Profiles []Profile
}

// LoadOptions selects what LoadCorpus reads.
type LoadOptions struct {
	// Categories limits the corpus to these category folders; empty means all.
	Categories []string
}

// LoadCorpus reads a NAB-layout root: dir/data/<category>/*.csv, dir/labels/combined_windows.json
// and dir/config/profiles.json (optional; NAB's standard profiles are used when it is missing).
// Series are sorted by key. A data file without a labels entry is an error, since scoring it
// would silently count every detection as a false positive.
func LoadCorpus(dir string, o LoadOptions) (*Corpus, error) {
	labels, err := readWindows(filepath.Join(dir, "labels", "combined_windows.json"))
	if err != nil {
		return nil, err
	}
	profiles, err := readProfiles(filepath.Join(dir, "config", "profiles.json"))
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(dir, "data")
	cats, err := os.ReadDir(dataDir)
	if err != nil {
		return nil, fmt.Errorf("load corpus %s: %w", dir, err)
	}
	want := map[string]bool{}
	for _, c := range o.Categories {
		want[c] = true
	}
	found := map[string]bool{}
	c := &Corpus{Profiles: profiles}
	for _, cat := range cats {
		if !cat.IsDir() || (len(want) > 0 && !want[cat.Name()]) {
			continue
		}
		found[cat.Name()] = true
		files, err := filepath.Glob(filepath.Join(dataDir, cat.Name(), "*.csv"))
		if err != nil {
			return nil, fmt.Errorf("load corpus category %s: %w", cat.Name(), err)
		}
		for _, path := range files {
			key := cat.Name() + "/" + filepath.Base(path)
			ws, ok := labels[key]
			if !ok {
				return nil, fmt.Errorf("load corpus: %s has no entry in combined_windows.json", key)
			}
			pts, err := ReadCSVFile(path)
			if err != nil {
				return nil, err
			}
			c.Series = append(c.Series, Series{Key: key, Category: cat.Name(), Points: pts, Windows: ws})
		}
	}
	var missing []string
	for _, w := range o.Categories {
		if !found[w] {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("load corpus %s: no category folder named %s", dir, strings.Join(missing, ", "))
	}
	if len(c.Series) == 0 {
		return nil, fmt.Errorf("load corpus %s: no CSV files under %s", dir, dataDir)
	}
	slices.SortFunc(c.Series, func(a, b Series) int { return strings.Compare(a.Key, b.Key) })
	return c, nil
}

// readWindows reads NAB's combined_windows.json: file key → list of [start, end] timestamps.
func readWindows(path string) (map[string][]Window, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read labels: %w", err)
	}
	var raw map[string][][]string
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("read labels %s: %w", path, err)
	}
	out := make(map[string][]Window, len(raw))
	for key, ws := range raw {
		for i, w := range ws {
			if len(w) != 2 {
				return nil, fmt.Errorf("read labels %s: %s window %d has %d timestamps, want 2", path, key, i, len(w))
			}
			s, err := ParseTime(w[0])
			if err != nil {
				return nil, fmt.Errorf("read labels %s: %s window %d: %w", path, key, i, err)
			}
			e, err := ParseTime(w[1])
			if err != nil {
				return nil, fmt.Errorf("read labels %s: %s window %d: %w", path, key, i, err)
			}
			if e.Before(s) {
				return nil, fmt.Errorf("read labels %s: %s window %d ends before it starts", path, key, i)
			}
			out[key] = append(out[key], Window{Start: s, End: e})
		}
		if out[key] == nil {
			out[key] = []Window{}
		}
	}
	return out, nil
}

// readProfiles reads NAB's profiles.json; a missing file yields StandardProfiles. Profiles are
// returned in StandardProfiles order, then any others by name.
func readProfiles(path string) ([]Profile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return StandardProfiles(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read profiles: %w", err)
	}
	var raw map[string]struct {
		CostMatrix struct {
			TP float64 `json:"tpWeight"`
			FP float64 `json:"fpWeight"`
			FN float64 `json:"fnWeight"`
		}
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("read profiles %s: %w", path, err)
	}
	var out []Profile
	for name, p := range raw {
		if p.CostMatrix.TP <= 0 || p.CostMatrix.FN <= 0 || p.CostMatrix.FP < 0 {
			return nil, fmt.Errorf("read profiles %s: profile %s needs positive tpWeight and fnWeight and a non-negative fpWeight", path, name)
		}
		out = append(out, Profile{Name: name, TP: p.CostMatrix.TP, FP: p.CostMatrix.FP, FN: p.CostMatrix.FN})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("read profiles %s: no profiles", path)
	}
	order := map[string]int{}
	for i, p := range StandardProfiles() {
		order[p.Name] = i + 1
	}
	slices.SortFunc(out, func(a, b Profile) int {
		oa, ob := order[a.Name], order[b.Name]
		if oa == 0 {
			oa = 1 << 20
		}
		if ob == 0 {
			ob = 1 << 20
		}
		if oa != ob {
			return oa - ob
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}
