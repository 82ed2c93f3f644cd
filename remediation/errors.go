package remediation

import (
	"context"
	"errors"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// ErrOutcomeUnknown marks an action error after which the action may or may not have taken
// effect: the request went out and no answer came back, or the answer was a server error. The
// executor records the proposal as unknown, not failed (a failed proposal invites a second
// approval, which could do it twice), and never runs it again on its own. Actions wrap it:
// fmt.Errorf("%w: %w", remediation.ErrOutcomeUnknown, err).
var ErrOutcomeUnknown = errors.New("outcome unknown: the request was sent and may have taken effect")

// ErrUnavailable marks an action error caused by the system the action calls rather than by the
// plan: it throttled the call, answered with a server error or did not answer. Describe errors
// wrapping it refuse a proposal as "try again later" rather than as a bad request.
var ErrUnavailable = errors.New("unavailable")

// RefusedError is why no proposal was made: the plan's parameters do not fit the action, or the
// action could not describe what it would do (an unknown group, service or script, a URL outside
// the allowed hosts, AWS throttling or not answering). Reason is safe to show to the person or
// on the incident card behind the request; the refusal is audited as proposal.refused. It counts
// as a user error (obs.IsUser), so the chat shows Reason instead of "internal error".
type RefusedError struct {
	Action   string
	Target   string // may be empty when the parameters did not name one
	Rule     string // the rule that asked, if any
	Incident string // the incident behind the request, if any
	Reason   string
	// Unavailable is set when the system the action calls is the cause (see ErrUnavailable), so
	// the same request may succeed later.
	Unavailable bool
	Err         error // the action's error, for logs
}

// Error implements error.
func (e *RefusedError) Error() string { return "no proposal: " + e.Reason }

// Unwrap makes the refusal a user error for obs.IsUser and keeps the action's error reachable.
func (e *RefusedError) Unwrap() []error {
	if e.Err == nil {
		return []error{obs.UserErrorf("%s", e.Reason)}
	}
	return []error{obs.UserErrorf("%s", e.Reason), e.Err}
}

// Settler is an Action that can find out, after an uncertain outcome (ErrOutcomeUnknown, or the
// executor's timeout), whether it took effect: by looking for what it would have left behind.
type Settler interface {
	// Settle looks for the effect of the execution of p for proposal id that started at started
	// (by the bot's clock). It returns Settlement.Outcome "" when it cannot tell, with Detail
	// saying why. ctx is bounded by the executor's timeout.
	Settle(ctx context.Context, p Params, id string, started time.Time) (Settlement, error)
}

// Outcomes of a settled or resolved unknown proposal.
const (
	OutcomeRan    = "ran"     // the action took effect
	OutcomeNotRun = "not-run" // it did not
)

// Settlement is what a Settler found.
type Settlement struct {
	// Outcome is OutcomeRan, OutcomeNotRun, or "" when the action cannot tell.
	Outcome string
	// Result is the action's outcome when it ran, as Execute would have reported it.
	Result Result
	// Err is set when it ran and its result is a failure (a command that failed on an instance).
	Err error
	// Detail says what was found, or why it cannot tell, for the card and the audit.
	Detail string
}

// Resolution records how an unknown proposal was settled: by the bot, which looked for the
// action's effect, or by a person who checked by hand.
type Resolution struct {
	Outcome string    `json:"outcome"` // OutcomeRan or OutcomeNotRun
	By      Actor     `json:"by"`
	At      time.Time `json:"at"`
	Note    string    `json:"note,omitempty"`
}

type proposalIDKey struct{}

// withProposalID tells the action which proposal it runs for.
func withProposalID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, proposalIDKey{}, id)
}

// ProposalID returns the ID of the proposal an Execute call runs for, or "" outside the
// executor. Actions that cannot take an idempotency token put it where a Settler can find it
// again (an SSM command's comment).
func ProposalID(ctx context.Context) string {
	id, _ := ctx.Value(proposalIDKey{}).(string)
	return id
}
