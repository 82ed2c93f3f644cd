package bot

import (
	"fmt"
	"strconv"
	"strings"
)

// Severity orders how urgent a card is; routing and colours key off it.
type Severity string

// Severities, from least to most urgent.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// ButtonStyle hints how a platform should draw a button.
type ButtonStyle string

// Button styles.
const (
	StyleDefault ButtonStyle = ""
	StylePrimary ButtonStyle = "primary"
	StyleDanger  ButtonStyle = "danger"
)

// Button actions. Every button has a typed twin: Action plus Value is the command
// "<action> <value>", so a click and a typed line take the same path.
const (
	ActionApprove = "approve"
	ActionReject  = "reject"
	ActionSilence = "silence"
	// ActionApproveAll approves every pending proposal of one plan on a grouped card at once. Its
	// Value carries the count the card showed, the plan hash and the group (see ApproveAllValue),
	// and its typed twin is "approve all <count> <plan hash> <group>": a click is refused when the
	// number of the group's pending proposals of that plan is no longer the one the card showed.
	ActionApproveAll = "approve-all"
)

// Button is a clickable control on a card.
type Button struct {
	Action string // what the click does: ActionApprove, ActionReject, ActionSilence
	// Value is what it acts on: a proposal or incident ID. An Approve button also carries the
	// plan hash of the proposal the card shows, as "<id>.<plan hash>" (see ApproveValue), so a
	// click approves that plan and nothing else.
	Value string
	Label string
	Style ButtonStyle
}

// ApproveValue is the Value of an Approve button for proposal id with plan hash plan.
func ApproveValue(id, plan string) string { return id + "." + plan }

// SplitApproveValue is the inverse of ApproveValue: the proposal ID and the plan hash, which is
// empty when v names a proposal alone (as a typed "approve p-7f3a" does).
func SplitApproveValue(v string) (id, plan string) {
	id, plan, _ = strings.Cut(v, ".")
	return id, plan
}

// ApproveAllValue is the Value of an Approve-all button on the card of group for n pending
// proposals of plan hash plan, such as "12.9c1e2f3a4b5c6d7e.g-0a1b2c3d4e5f".
func ApproveAllValue(n int, plan, group string) string {
	return strconv.Itoa(n) + "." + plan + "." + group
}

// SplitApproveAllValue is the inverse of ApproveAllValue.
func SplitApproveAllValue(v string) (n int, plan, group string, err error) {
	parts := strings.Split(v, ".")
	if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
		return 0, "", "", fmt.Errorf("%q is not <count>.<plan hash>.<group>", v)
	}
	n, err = strconv.Atoi(parts[0])
	if err != nil || n < 1 {
		return 0, "", "", fmt.Errorf("%q is not <count>.<plan hash>.<group>", v)
	}
	return n, parts[1], parts[2], nil
}

// Command returns the command a click runs: the typed twin, with an approval bound to the
// plan hash its card showed ("approve p-7f3a.9c1e…").
func (b Button) Command() string {
	switch b.Action {
	case ActionSilence:
		return "silence incident " + b.Value + " for 1h"
	case ActionApproveAll:
		n, plan, group, err := SplitApproveAllValue(b.Value)
		if err != nil {
			return "approve all " + b.Value // refused by the command with the reason
		}
		return fmt.Sprintf("approve all %d %s %s", n, plan, group)
	}
	return b.Action + " " + b.Value
}

// Typed returns the command a person types for the same effect, such as "approve p-7f3a".
func (b Button) Typed() string {
	if b.Action == ActionApprove {
		return b.Action + " " + b.Target()
	}
	return b.Command()
}

// Target is the ID the button acts on, without the plan hash an Approve button carries. An
// Approve-all button acts on a plan, named by its hash.
func (b Button) Target() string {
	if b.Action == ActionApproveAll {
		_, plan, _, _ := SplitApproveAllValue(b.Value)
		return plan
	}
	id, _ := SplitApproveValue(b.Value)
	return id
}

// Field is one labelled value on a card, such as "value: 97.2".
type Field struct {
	Label string
	Value string
}

// Section is a block of a card: text, optional fields, optional buttons.
type Section struct {
	Text    string
	Fields  []Field
	Buttons []Button
}

// Image is a picture attached to a message, a chart most often.
type Image struct {
	Name string // file name, e.g. "inc-3f2a.png"
	Path string // where the file was written, if it was
	Alt  string // text for screen readers and text-only platforms
	PNG  []byte
}

// Message is one chat message: a reply, or a card that may be edited later.
type Message struct {
	Title    string
	Severity Severity
	Text     string
	Fields   []Field
	Sections []Section
	Image    *Image
	Footer   string
	// Ephemeral asks for a reply only the user who acted can see, where the platform can.
	Ephemeral bool
	// Code says Text is laid out for a monospace font (columns aligned with spaces), so
	// platforms with proportional fonts show it in a code block.
	Code bool
	// Mentions are the people the message names, each by the text it shows for them, so the
	// adapter of their own platform can show a mention (<@U…> on Slack, <@id> on Discord)
	// where other platforms show the text.
	Mentions []Mention
}

// Mention is a person a message names: Text is how the message shows them (such as
// "slack:alice"), Platform and ID who they are there.
type Mention struct {
	Text     string
	Platform string
	ID       string
}

// Empty reports whether m has nothing to show.
func (m Message) Empty() bool {
	return m.Title == "" && m.Text == "" && len(m.Fields) == 0 && len(m.Sections) == 0 && m.Image == nil
}

// Buttons returns every button of the message, in order.
func (m Message) Buttons() []Button {
	var out []Button
	for _, s := range m.Sections {
		out = append(out, s.Buttons...)
	}
	return out
}

// Text returns a plain reply.
func Text(s string) Message { return Message{Text: s} }
