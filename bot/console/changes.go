package console

import (
	"fmt"
	"slices"
	"strings"

	"github.com/smartcloudops/smartcloudops/bot"
)

// Changes says in one line what next shows that prev did not: a new title, fields whose value
// changed, sections that are new or changed (a proposal is named by its ID), a new chart, a new
// footer and the commands to type for buttons that appeared; "" when nothing visible changed.
// Parts are separated by " · ".
func Changes(prev, next bot.Message) string {
	var parts []string
	if next.Title != prev.Title || next.Severity != prev.Severity {
		parts = append(parts, strings.TrimSuffix(heading(next), "\n"))
	}
	if next.Text != prev.Text && next.Text != "" {
		parts = append(parts, oneLine(next.Text))
	}
	parts = append(parts, changedFields(prev.Fields, next.Fields)...)
	if next.Image != nil && next.Image.Path != "" && (prev.Image == nil || prev.Image.Path != next.Image.Path) {
		parts = append(parts, "chart: "+next.Image.Path)
	}
	before := map[string]bot.Section{}
	for _, s := range prev.Sections {
		before[sectionKey(s.Text)] = s
	}
	for _, s := range next.Sections {
		if s.Text == "" {
			continue
		}
		key := sectionKey(s.Text)
		old, ok := before[key]
		switch {
		case !ok:
			p := oneLine(s.Text)
			for _, f := range s.Fields {
				p += ", " + f.Label + ": " + oneLine(f.Value)
			}
			parts = append(parts, p)
		case old.Text != s.Text || !slices.Equal(old.Fields, s.Fields):
			p := key
			if old.Text != s.Text {
				p = oneLine(s.Text)
			}
			if fs := changedFields(old.Fields, s.Fields); len(fs) > 0 {
				p += " — " + strings.Join(fs, ", ")
			}
			parts = append(parts, p)
		}
	}
	if next.Footer != prev.Footer && next.Footer != "" {
		parts = append(parts, "("+next.Footer+")")
	}
	had := map[string]bool{}
	for _, b := range prev.Buttons() {
		had[b.Typed()] = true
	}
	var typed []string
	for _, b := range next.Buttons() {
		if !had[b.Typed()] {
			typed = append(typed, fmt.Sprintf("%q", b.Typed()))
		}
	}
	if len(typed) > 0 {
		parts = append(parts, "type "+strings.Join(typed, " or "))
	}
	return strings.Join(parts, " · ")
}

// changedFields lists the fields of next that prev did not have with the same value.
func changedFields(prev, next []bot.Field) []string {
	had := map[string]string{}
	for _, f := range prev {
		had[f.Label] = f.Value
	}
	var out []string
	for _, f := range next {
		if v, ok := had[f.Label]; !ok || v != f.Value {
			out = append(out, f.Label+": "+oneLine(f.Value))
		}
	}
	return out
}

// sectionKey names a section across edits: a proposal by "Proposal <id>", anything else by its
// text without a "Resolved: " mark.
func sectionKey(text string) string {
	text = strings.TrimPrefix(text, "Resolved: ")
	if strings.HasPrefix(text, "Proposal ") {
		if k, _, ok := strings.Cut(text, ":"); ok {
			return k
		}
	}
	return text
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
