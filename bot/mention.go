package bot

import (
	"slices"
	"strings"

	"github.com/smartcloudops/smartcloudops/remediation"
)

// mentionable are the platforms whose adapters show a Mention as a mention.
var mentionable = []string{"slack", "discord"}

// proposalMentions lists the chat users the proposals' card names: who asked and who decided.
func proposalMentions(props []remediation.Proposal) []Mention {
	var out []Mention
	add := func(a *remediation.Actor) {
		if a == nil || a.Name == "" {
			return
		}
		platform, id, ok := strings.Cut(a.ID, ":")
		if !ok || id == "" || !slices.Contains(mentionable, platform) {
			return
		}
		m := Mention{Text: a.Name, Platform: platform, ID: id}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	for i := range props {
		add(&props[i].Requester)
		add(props[i].DecidedBy)
	}
	return out
}
