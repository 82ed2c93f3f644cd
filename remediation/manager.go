package remediation

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// StorePrefix is where proposals are stored, one key per proposal ID; a watch on it sees every
// proposal written by any replica.
const StorePrefix = proposalPrefix

const (
	proposalPrefix   = "proposals/"
	byIncidentPrefix = "proposal-index/incident/"
	dedupPrefix      = "proposal-index/dedup/"
	pausedKey        = "remediation/paused"
)

// Options configures a Manager. Store, Audit and Actions are required.
type Options struct {
	Store   store.Store
	Audit   *audit.Log
	Actions func(name string) (Action, bool)
	// ActionNames lists the actions Actions knows. Their execution counters are exported at 0
	// from the start, so an alert on their increase sees the first failure.
	ActionNames []string
	// RuleVersion returns a rule's current version, so an approval given to an older version is
	// void; ok is false when the rule is gone or disabled, which voids it too. Nil skips the check.
	RuleVersion func(rule string) (string, bool)
	// OnChange is called after every state change of a proposal (to post or edit its card).
	OnChange func(ctx context.Context, p Proposal)
	DryRun   bool          // describe, never execute
	Timeout  time.Duration // per action; default 5m
	// DescribeTimeout bounds the action's Describe when a proposal is made (it may call the
	// target's API); default 20s.
	DescribeTimeout time.Duration
	MaxPerHour      int // executions across all rules; 0 for no limit
	// Gate, when set, keeps the hourly limit (MaxPerHour) in the store rather than in this
	// process, so a new leader counts what the previous one admitted.
	Gate Gate
	// Leading reports whether this process runs actions (with several replicas, only the
	// leader does); an approval made elsewhere leaves the proposal approved for the leader's
	// RunApproved. Nil means always.
	Leading       func() bool
	DefaultExpiry time.Duration // when a policy has none; default 1h
	Logger        *slog.Logger
	Registerer    prometheus.Registerer
	Now           func() time.Time
}

// Gate counts executions against a limit kept outside the process (leader.Window).
type Gate interface {
	Admit(ctx context.Context, now time.Time) error
	Release(ctx context.Context, at time.Time) error
}

// Manager owns proposals: it stores them before they are shown, applies approval policies, and
// runs approved plans exactly once through the executor.
type Manager struct {
	o    Options
	log  *slog.Logger
	exec *executor
	m    *metrics
}

// New returns a Manager.
func New(o Options) (*Manager, error) {
	if o.Store == nil || o.Audit == nil || o.Actions == nil {
		return nil, errors.New("remediation: Store, Audit and Actions are required")
	}
	if o.Logger == nil {
		o.Logger = obs.Discard()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.DescribeTimeout <= 0 {
		o.DescribeTimeout = 20 * time.Second
	}
	if o.DefaultExpiry <= 0 {
		o.DefaultExpiry = time.Hour
	}
	if o.OnChange == nil {
		o.OnChange = func(context.Context, Proposal) {}
	}
	if o.Leading == nil {
		o.Leading = func() bool { return true }
	}
	mg := &Manager{o: o, log: o.Logger.With(obs.KeyComponent, "remediation")}
	mg.m = newMetrics(o.Registerer, mg)
	mg.exec = newExecutor(o.Timeout, o.MaxPerHour, o.Now)
	return mg, nil
}

// Request asks for a proposal.
type Request struct {
	Action      string
	Params      map[string]any // raw; normalized against the action's schema
	Rule        string
	RuleVersion string
	Incident    string
	Requester   Actor
	Policy      Policy
	DryRun      bool
	// Dedup, when set, names the request: a second Propose with the same key returns the
	// proposal the first made instead of making another, so work that may be done twice (an
	// alert evaluated again after a crash, a redelivery) proposes once.
	Dedup string
}

// dedupKey is where the proposal made for a Dedup key is recorded: under the key itself, so
// that keys named in the order their work arrives (an intake entry's key leads the Dedup of the
// proposals its alerts make) are written next to each other, in the store's last pages, instead
// of each in a page of its own. A key too long for that, or one with control characters, is
// recorded under its hash, as every key was before (hashedDedupKey).
func dedupKey(k string) string {
	if len(k) > maxPlainDedup || strings.ContainsFunc(k, unicode.IsControl) {
		return hashedDedupKey(k)
	}
	return dedupPrefix + plainDedup + k
}

// dedupKeys are the keys a proposal made for k may be recorded under: dedupKey, and the hash an
// earlier version recorded it under when that differs. proposedFor looks in each; Prune deletes
// each.
func dedupKeys(k string) []string {
	key, h := dedupKey(k), hashedDedupKey(k)
	if key == h {
		return []string{key}
	}
	return []string{key, h}
}

// hashedDedupKey is where a proposal made for k was recorded by earlier versions, which hashed
// every key.
func hashedDedupKey(k string) string {
	sum := sha256.Sum256([]byte(k))
	return dedupPrefix + hex.EncodeToString(sum[:16])
}

// maxPlainDedup is the longest Dedup key recorded under itself; plainDedup starts those keys,
// apart from the hashes (hex, which never holds the letter k).
const (
	maxPlainDedup = 256
	plainDedup    = "k/"
)

// newID is a random proposal ID, short enough to type.
func newID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "p-" + hex.EncodeToString(b[:])
}

// Propose validates the request, describes exactly what would run, stores the proposal and
// audits it, all before anyone is shown it. When the parameters do not fit, or the action cannot
// describe the plan (its target is unknown, its API throttles or does not answer within
// DescribeTimeout), nothing is stored and a *RefusedError whose Reason is safe to show is
// returned; a plan that could not be described is also audited as proposal.refused (parameters
// that do not fit are the request's own mistake, answered and not recorded).
func (mg *Manager) Propose(ctx context.Context, r Request) (Proposal, error) {
	if p, ok, err := mg.proposedFor(ctx, r.Dedup); ok || err != nil {
		return p, err
	}
	act, ok := mg.o.Actions(r.Action)
	if !ok {
		return Proposal{}, &RefusedError{Action: r.Action, Rule: r.Rule, Incident: r.Incident, Reason: fmt.Sprintf("unknown action %q", r.Action)}
	}
	params, err := act.Schema().WithTimeout(mg.o.Timeout).Normalize(r.Params)
	if err != nil {
		return Proposal{}, &RefusedError{Action: r.Action, Rule: r.Rule, Incident: r.Incident,
			Reason: fmt.Sprintf("action %s: %s", r.Action, strings.ReplaceAll(err.Error(), "\n", "; "))}
	}
	for k, v := range params {
		if s, ok := v.(string); ok && strings.Contains(s, "{{") {
			return Proposal{}, &RefusedError{Action: r.Action, Rule: r.Rule, Incident: r.Incident,
				Reason: fmt.Sprintf("action %s: param %q still holds a template: %s", r.Action, k, s)}
		}
	}
	target := act.Target(params)
	dctx, cancel := context.WithTimeout(ctx, mg.o.DescribeTimeout)
	desc, err := act.Describe(dctx, params)
	timedOut := err != nil && dctx.Err() != nil && ctx.Err() == nil
	cancel()
	switch {
	case timedOut:
		return Proposal{}, mg.refuse(ctx, r, target, fmt.Sprintf("%s %s: no answer within %s while reading the target; try again later", r.Action, target, mg.o.DescribeTimeout), true, err)
	case err != nil && ctx.Err() != nil:
		return Proposal{}, fmt.Errorf("describe %s: %w", r.Action, err) // the caller gave up
	case err != nil:
		return Proposal{}, mg.refuse(ctx, r, target, err.Error(), errors.Is(err, ErrUnavailable), err)
	}
	pol := r.Policy
	if pol.MinApprovers < 1 {
		pol.MinApprovers = 1
	}
	if pol.Expires <= 0 {
		pol.Expires = mg.o.DefaultExpiry
	}
	if len(pol.Roles) == 0 {
		pol.Roles = []string{RoleOperator}
	}
	now := mg.o.Now().UTC()
	p := Proposal{
		State: StatePending,
		Plan: Plan{Action: r.Action, Params: params, Target: target, Description: desc,
			Rule: r.Rule, RuleVersion: r.RuleVersion, DryRun: r.DryRun || mg.o.DryRun},
		Policy: pol, Incident: r.Incident, Requester: r.Requester, Correlation: obs.Correlation(ctx),
		CreatedAt: now, ExpiresAt: now.Add(pol.Expires), Dedup: r.Dedup,
	}
	p.PlanHash = p.Plan.Hash()
	for attempt := 0; ; attempt++ {
		p.ID = newID()
		err = mg.write(ctx, &p, 0, rec("proposal.created", r.Requester, "pending", desc))
		if errors.Is(err, store.ErrConflict) {
			// The ID was taken, or the same request was proposed meanwhile.
			if q, ok, derr := mg.proposedFor(ctx, r.Dedup); ok || derr != nil {
				return q, derr
			}
			if attempt < 10 {
				continue
			}
		}
		if err != nil {
			return Proposal{}, fmt.Errorf("store proposal: %w", err)
		}
		break
	}
	mg.log.InfoContext(ctx, "proposal created", obs.KeyProposal, p.ID, obs.KeyAction, r.Action, "target", p.Plan.Target, obs.KeyRule, r.Rule)
	mg.o.OnChange(ctx, p)
	return p, nil
}

// refuse audits a request that made no proposal and returns the refusal.
func (mg *Manager) refuse(ctx context.Context, r Request, target, reason string, unavailable bool, cause error) error {
	e := &RefusedError{Action: r.Action, Target: target, Rule: r.Rule, Incident: r.Incident, Reason: reason, Unavailable: unavailable, Err: cause}
	_, err := mg.o.Audit.Append(ctx, audit.Record{Kind: "proposal.refused", User: r.Requester.ID, Incident: r.Incident,
		Rule: r.Rule, RuleVersion: r.RuleVersion, Target: target, Outcome: "refused", Detail: reason,
		Extra: map[string]string{"action": r.Action}})
	if err != nil {
		mg.log.ErrorContext(ctx, "audit append failed", "kind", "proposal.refused", obs.KeyErr, err)
	}
	mg.log.WarnContext(ctx, "no proposal made", obs.KeyAction, r.Action, "target", target, obs.KeyRule, r.Rule, "reason", reason, obs.KeyErr, cause)
	return e
}

// write stores p if the stored copy is still at rev (0: must not exist), together with the
// audit record of the change when rec is not nil: the state change and its record are one
// transaction, so no step happens without its record. It updates p.rev.
func (mg *Manager) write(ctx context.Context, p *Proposal, rev uint64, rec *audit.Record) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	ops := []store.Op{{Key: proposalPrefix + p.ID, Value: b}}
	if rev == 0 && p.Incident != "" {
		ops = append(ops, store.Op{Key: byIncidentPrefix + p.Incident + "/" + p.ID, Value: []byte(p.ID)})
	}
	// The time-ordered index (index.go) follows the proposal's state, in the same transaction.
	ops = append(ops, indexOps(*p, rev)...)
	ops = append(ops, expiryOps(*p, rev)...)
	cmps := []store.Cmp{{Key: proposalPrefix + p.ID, Rev: rev}}
	if rev == 0 && p.Dedup != "" {
		cmps = append(cmps, store.Cmp{Key: dedupKey(p.Dedup), Rev: 0})
		ops = append(ops, store.Op{Key: dedupKey(p.Dedup), Value: []byte(p.ID)})
	}
	var nrev uint64
	if rec == nil {
		nrev, err = mg.o.Store.Txn(ctx, cmps, ops)
	} else {
		r := *rec
		r.Proposal, r.Incident, r.Rule, r.RuleVersion = p.ID, p.Incident, p.Plan.Rule, p.Plan.RuleVersion
		r.PlanHash, r.Target = p.PlanHash, p.Plan.Target
		_, nrev, err = mg.o.Audit.AppendWith(ctx, r, cmps, ops)
	}
	if err != nil {
		return err
	}
	p.rev, p.stored = nrev, p.State
	return nil
}

// proposedFor returns the proposal made for a Dedup key, if any.
func (mg *Manager) proposedFor(ctx context.Context, dedup string) (Proposal, bool, error) {
	if dedup == "" {
		return Proposal{}, false, nil
	}
	var kv store.KV
	err := store.ErrNotFound
	for _, key := range dedupKeys(dedup) {
		if kv, err = mg.o.Store.Get(ctx, key); !errors.Is(err, store.ErrNotFound) {
			break
		}
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Proposal{}, false, nil
	case err != nil:
		return Proposal{}, false, err
	}
	p, err := mg.Get(ctx, string(kv.Value))
	if err != nil {
		return Proposal{}, false, err
	}
	return p, true, nil
}

// rec is the audit record of a change made by who.
func rec(kind string, who Actor, outcome, detail string) *audit.Record {
	return &audit.Record{Kind: kind, User: who.ID, Outcome: outcome, Detail: detail}
}

// botActor is the actor of the changes the bot makes on its own.
var botActor = Actor{ID: "bot", Name: "bot"}

// Get returns a proposal by ID.
func (mg *Manager) Get(ctx context.Context, id string) (Proposal, error) {
	kv, err := mg.o.Store.Get(ctx, proposalPrefix+id)
	if errors.Is(err, store.ErrNotFound) {
		return Proposal{}, obs.UserErrorf("no proposal %q (see `proposals`)", id)
	}
	if err != nil {
		return Proposal{}, err
	}
	p, err := decodeProposal(kv)
	if err != nil {
		return Proposal{}, fmt.Errorf("proposal %s is corrupt: %w", id, err)
	}
	return p, nil
}

// ForIncident returns the proposals made for an incident, oldest first.
func (mg *Manager) ForIncident(ctx context.Context, incident string) ([]Proposal, error) {
	kvs, err := mg.o.Store.List(ctx, byIncidentPrefix+incident+"/")
	if err != nil {
		return nil, err
	}
	out := make([]Proposal, 0, len(kvs))
	for _, kv := range kvs {
		p, err := mg.Get(ctx, string(kv.Value))
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Proposal) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// IDsForIncident names the proposals made for an incident from its index alone, without reading
// them, in the index's order (by proposal ID).
func (mg *Manager) IDsForIncident(ctx context.Context, incident string) ([]string, error) {
	kvs, err := mg.o.Store.List(ctx, byIncidentPrefix+incident+"/")
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(kvs))
	for i, kv := range kvs {
		ids[i] = string(kv.Value)
	}
	return ids, nil
}

// List returns proposals in any of states (all when none), newest first, reading every stored
// proposal; ListPage reads one page.
func (mg *Manager) List(ctx context.Context, states ...State) ([]Proposal, error) {
	kvs, err := mg.o.Store.List(ctx, proposalPrefix)
	if err != nil {
		return nil, err
	}
	var out []Proposal
	for _, kv := range kvs {
		p, err := decodeProposal(kv)
		if err != nil {
			mg.log.ErrorContext(ctx, "corrupt proposal skipped", "key", kv.Key, obs.KeyErr, err)
			continue
		}
		if len(states) == 0 || slices.Contains(states, p.State) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b Proposal) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

// update applies fn to the stored proposal with compare-and-set, retrying on conflicts with a
// fresh copy, so that concurrent deciders each see the other's write. fn returns the audit
// record of its change (written in the same transaction), or an error to leave the proposal
// unchanged.
func (mg *Manager) update(ctx context.Context, id string, fn func(p *Proposal) (*audit.Record, error)) (Proposal, error) {
	for attempt := 0; ; attempt++ {
		p, err := mg.Get(ctx, id)
		if err != nil {
			return p, err
		}
		rev := p.rev
		r, err := fn(&p)
		if err != nil {
			return p, err
		}
		err = mg.write(ctx, &p, rev, r)
		if errors.Is(err, store.ErrConflict) && attempt < 50 {
			continue
		}
		return p, err
	}
}

// audit records a refused attempt; the refusal stands even if the record cannot be written.
func (mg *Manager) audit(ctx context.Context, kind string, p Proposal, who Actor, outcome, detail string) {
	_, err := mg.o.Audit.Append(ctx, audit.Record{
		Kind: kind, User: who.ID, Proposal: p.ID, Incident: p.Incident, Rule: p.Plan.Rule, RuleVersion: p.Plan.RuleVersion,
		PlanHash: p.PlanHash, Target: p.Plan.Target, Outcome: outcome, Detail: detail,
	})
	if err != nil {
		mg.log.ErrorContext(ctx, "audit append failed", obs.KeyProposal, p.ID, "kind", kind, obs.KeyErr, err)
	}
}

// Paused reports whether remediation is paused, and by whom. When the flag cannot be read it
// answers paused, so a store fault never lets an action through a pause.
func (mg *Manager) Paused(ctx context.Context) (bool, string) {
	kv, err := mg.o.Store.Get(ctx, pausedKey)
	if errors.Is(err, store.ErrNotFound) {
		return false, ""
	}
	if err != nil {
		return true, fmt.Sprintf("unknown (the pause flag could not be read: %v)", err)
	}
	return true, string(kv.Value)
}

// Pause stops all executions until Resume; approvals are refused meanwhile.
func (mg *Manager) Pause(ctx context.Context, who Actor) error {
	if !who.Has(RoleAdmin) {
		return obs.UserErrorf("pause needs role admin")
	}
	if _, err := mg.o.Store.Put(ctx, pausedKey, []byte(who.Name)); err != nil {
		return err
	}
	_, err := mg.o.Audit.Append(ctx, audit.Record{Kind: "remediation.paused", User: who.ID})
	return err
}

// Resume lifts a Pause.
func (mg *Manager) Resume(ctx context.Context, who Actor) error {
	if !who.Has(RoleAdmin) {
		return obs.UserErrorf("resume needs role admin")
	}
	if err := mg.o.Store.Delete(ctx, pausedKey); err != nil {
		return err
	}
	_, err := mg.o.Audit.Append(ctx, audit.Record{Kind: "remediation.resumed", User: who.ID})
	return err
}
