package bot

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strings"
	"time"
)

// GroupOptions says which incidents share a card, like the group_by, group_wait and
// group_interval of an Alertmanager route.
type GroupOptions struct {
	// By names what incidents are grouped by: "check" (the check of an anomaly, the alertname
	// of an Alertmanager alert group), "rule" (the rule of the incident's first proposal, when
	// it has one as it joins a card), "..." (every label: a card per series) or any label name.
	// Empty means DefaultGroupBy.
	By []string
	// Wait is how long a new incident waits before it gets a card or joins one, so that a storm
	// arriving over a few ticks starts one card rather than several, and the rule that proposes
	// for it is known. Zero posts at once.
	Wait time.Duration
	// Interval is the least time between two edits of a grouped card for members that joined,
	// resolved or got a new proposal. A decision on a proposal, a silence, and the end of the
	// whole group are shown at once. Zero edits at once.
	Interval time.Duration
}

// DefaultGroupBy groups incidents by check and rule.
var DefaultGroupBy = []string{"check", "rule"}

// GroupByAll is the group_by entry that groups by every label, as in Alertmanager.
const GroupByAll = "..."

// groupKey is the key that decides which card an incident joins, with its values for the card.
func groupKey(by []string, it CardItem) (string, []Field) {
	if len(by) == 0 {
		by = DefaultGroupBy
	}
	inc := it.Incident
	var fs []Field
	for _, name := range by {
		switch name {
		case "check":
			fs = append(fs, Field{"check", checkOf(it)})
		case "rule":
			rule := ""
			if len(it.Proposals) > 0 {
				rule = it.Proposals[0].Plan.Rule
			}
			fs = append(fs, Field{"rule", rule})
		case GroupByAll:
			fs = append(fs, Field{"check", checkOf(it)})
			for _, k := range slices.Sorted(maps.Keys(inc.Labels)) {
				fs = append(fs, Field{k, inc.Labels[k]})
			}
		default:
			fs = append(fs, Field{name, inc.Labels[name]})
		}
	}
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.Label)
		b.WriteByte(0)
		b.WriteString(f.Value)
		b.WriteByte(0)
	}
	return b.String(), fs
}

// checkOf is what "check" means for an incident: the detector's check, or the alert rule of an
// Alertmanager alert group.
func checkOf(it CardItem) string {
	if it.Incident.Check != "" {
		return it.Incident.Check
	}
	return it.Incident.Labels["alertname"]
}

// activeKey names the open group of key in channel on a platform, in memory and in the store.
func activeKey(platform, channel, key string) string {
	sum := sha256.Sum256([]byte(channel + "\x00" + key))
	return activePrefix + platform + "/" + hex.EncodeToString(sum[:12])
}

// activePrefix keeps, per platform, the ID of the open group card of each group key and channel,
// so that after a restart new members still join the card that is up.
const activePrefix = "notifier/groups/"

func newGroupID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "g-" + hex.EncodeToString(b[:])
}
