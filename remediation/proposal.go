package remediation

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"time"
)

// State is where a proposal is in its life.
type State string

// Proposal states. pending → approved → running → succeeded | failed; pending → rejected |
// expired; approved → void when the plan changed after approval. running → unknown when the
// action may or may not have acted: the bot stopped while it ran, the executor's timeout cut it
// off, or its request got no clear answer. It is never re-run on its own; unknown → succeeded |
// failed when the bot finds the action's effect (or its absence), or a person resolves it.
const (
	StatePending   State = "pending"
	StateApproved  State = "approved"
	StateRunning   State = "running"
	StateSucceeded State = "succeeded"
	StateFailed    State = "failed"
	StateRejected  State = "rejected"
	StateExpired   State = "expired"
	StateVoid      State = "void"
	StateUnknown   State = "unknown"
)

// States lists every state, in life order.
var States = []State{StatePending, StateApproved, StateRunning, StateSucceeded, StateFailed, StateRejected, StateExpired, StateVoid, StateUnknown}

// Final reports whether nothing more can happen to a proposal in state s.
func (s State) Final() bool {
	return s != StatePending && s != StateApproved && s != StateRunning
}

// Actor is a person (or API key) acting on proposals, with the roles the command layer resolved.
type Actor struct {
	ID    string   `json:"id"`   // stable, platform:id
	Name  string   `json:"name"` // for display
	Roles []string `json:"roles,omitempty"`
	// Owner is the person behind a non-personal identity, such as an API key's owner; policies
	// treat the actor as that person.
	Owner string `json:"owner,omitempty"`
}

// Person is who the actor stands for: the owner of a key, or the actor itself.
func (a Actor) Person() string {
	if a.Owner != "" {
		return a.Owner
	}
	return a.ID
}

// Has reports whether the actor holds role, or admin.
func (a Actor) Has(role string) bool {
	return slices.Contains(a.Roles, role) || slices.Contains(a.Roles, RoleAdmin)
}

// RoleAdmin may do everything, including approving any proposal its policy lets it approve.
const RoleAdmin = "admin"

// Policy is who must approve a proposal before it runs.
type Policy struct {
	Roles          []string      `json:"roles"`           // any of these may approve (admin always may)
	MinApprovers   int           `json:"min_approvers"`   // distinct approvers needed
	AllowRequester bool          `json:"allow_requester"` // may the requester approve their own proposal
	Expires        time.Duration `json:"expires"`         // pending proposals expire after this
}

// Plan is exactly what will run. Approvals are bound to its hash.
type Plan struct {
	Action      string `json:"action"`
	Params      Params `json:"params"`
	Target      string `json:"target"`
	Description string `json:"description"` // what Describe said, e.g. "web-asg desired 2 -> 3"
	Rule        string `json:"rule,omitempty"`
	RuleVersion string `json:"rule_version,omitempty"`
	DryRun      bool   `json:"dry_run,omitempty"`
}

// Summary says what will run in one line, such as "aws.autoscaling.scale web-asg desired 2 -> 3"
// or "script scale_up.sh web-asg 2 3".
func (p Plan) Summary() string {
	if p.Description == p.Action || strings.HasPrefix(p.Description, p.Action+" ") {
		return p.Description
	}
	return p.Action + " " + p.Description
}

// Hash is a stable digest of what the plan does: action, parameters, target and rule version.
func (p Plan) Hash() string {
	keys := make([]string, 0, len(p.Params))
	for k := range p.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	type kv struct {
		K string `json:"k"`
		V any    `json:"v"`
	}
	ps := make([]kv, len(keys))
	for i, k := range keys {
		ps[i] = kv{k, jsonValue(p.Params[k])}
	}
	b, _ := json.Marshal(struct {
		A, T, R, V string
		P          []kv
		D          bool
	}{p.Action, p.Target, p.Rule, p.RuleVersion, ps, p.DryRun})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Approval is one person's yes, bound to the plan hash they saw.
type Approval struct {
	Actor    Actor     `json:"actor"`
	At       time.Time `json:"at"`
	PlanHash string    `json:"plan_hash"`
}

// Proposal is a remediation waiting for, or past, its approval.
type Proposal struct {
	ID          string     `json:"id"`
	State       State      `json:"state"`
	Plan        Plan       `json:"plan"`
	PlanHash    string     `json:"plan_hash"`
	Policy      Policy     `json:"policy"`
	Incident    string     `json:"incident,omitempty"`
	Requester   Actor      `json:"requester"` // a person, or rule:<name> for rule proposals
	Correlation string     `json:"cid,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   time.Time  `json:"expires_at"`
	Approvals   []Approval `json:"approvals,omitempty"`
	DecidedBy   *Actor     `json:"decided_by,omitempty"` // who approved last, or rejected
	DecidedAt   time.Time  `json:"decided_at,omitzero"`
	Reason      string     `json:"reason,omitempty"` // rejection, void or expiry reason
	StartedAt   time.Time  `json:"started_at,omitzero"`
	FinishedAt  time.Time  `json:"finished_at,omitzero"`
	Result      string     `json:"result,omitempty"`
	Output      string     `json:"output,omitempty"`
	Error       string     `json:"error,omitempty"`
	// Resolution says how an unknown outcome was settled (by the bot or a person), if it was.
	Resolution *Resolution `json:"resolution,omitempty"`
	// Dedup is the request's Dedup key, if it had one (see Request.Dedup).
	Dedup string `json:"dedup,omitempty"`

	rev    uint64 // store revision this copy was read at
	stored State  // its state at that revision, which its index entries show
}

// Rev is the store revision this copy of the proposal was read or written at: of two copies of
// one proposal, the one with the higher Rev is the later. 0 when unknown.
func (p Proposal) Rev() uint64 { return p.rev }

// jsonValue is how a parameter value is stored: durations as text ("5m0s"), so that they read
// back as durations and not as a count of nanoseconds.
func jsonValue(v any) any {
	if d, ok := v.(time.Duration); ok {
		return d.String()
	}
	return v
}

// MarshalJSON stores durations as text; Schema.Normalize reads them back.
func (p Params) MarshalJSON() ([]byte, error) {
	out := make(map[string]any, len(p))
	for k, v := range p {
		out[k] = jsonValue(v)
	}
	return json.Marshal(out)
}
