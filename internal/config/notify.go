package config

import (
	"fmt"
	"regexp"
	"time"
)

// Notify configures how incidents become cards: which share a card (like an Alertmanager
// route's group_by, group_wait and group_interval) and how often cards are edited and their
// charts drawn.
type Notify struct {
	// GroupBy lists what incidents are grouped by: "check", "rule", "..." (every label: one card
	// per series) or label names. Default [check, rule].
	GroupBy []string `yaml:"group_by"`
	// GroupWait is how long a new incident waits for others of its group before its card goes
	// out. Default 5s; 0 posts at once.
	GroupWait Duration `yaml:"group_wait"`
	// GroupInterval is the least time between two edits of a grouped card for members joining
	// or resolving. Default 30s.
	GroupInterval Duration `yaml:"group_interval"`
	// EditInterval is the least time between two edits of a card for a new value or score;
	// changes of state are shown at once. Default 30s.
	EditInterval Duration `yaml:"edit_interval"`
	// ChartInterval is the least time between two drawings of an open episode's chart; a new
	// card and a finished episode always get theirs. Default 1m.
	ChartInterval Duration `yaml:"chart_interval"`
	// ChartWorkers is how many charts may be drawn at once. Default 2.
	ChartWorkers int `yaml:"chart_workers"`
}

func defaultNotify() Notify {
	return Notify{GroupBy: []string{"check", "rule"}, GroupWait: Duration(5 * time.Second),
		GroupInterval: Duration(30 * time.Second), EditInterval: Duration(30 * time.Second),
		ChartInterval: Duration(time.Minute), ChartWorkers: 2}
}

var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func (n Notify) validate() []fieldError {
	var errs []fieldError
	add := func(path, format string, args ...any) {
		errs = append(errs, fieldError{"notify." + path, fmt.Sprintf(format, args...)})
	}
	seen := map[string]int{}
	for i, g := range n.GroupBy {
		p := fmt.Sprintf("group_by[%d]", i)
		switch {
		case g != "..." && !labelNameRE.MatchString(g):
			add(p, "%q is not check, rule, ... or a label name", g)
		case g == "..." && len(n.GroupBy) > 1:
			add(p, `"..." groups by every label and stands alone`)
		}
		if j, dup := seen[g]; dup {
			add(p, "%q is already in group_by[%d]", g, j)
		}
		seen[g] = i
	}
	for _, d := range []struct {
		path string
		v    Duration
	}{{"group_wait", n.GroupWait}, {"group_interval", n.GroupInterval}, {"edit_interval", n.EditInterval}, {"chart_interval", n.ChartInterval}} {
		if d.v < 0 || d.v.D() > 24*time.Hour {
			add(d.path, "%s is outside [0, 24h]", d.v.D())
		}
	}
	if n.ChartWorkers < 1 || n.ChartWorkers > 64 {
		add("chart_workers", "%d is outside [1, 64]", n.ChartWorkers)
	}
	return errs
}
