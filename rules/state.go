package rules

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Phase is where one rule × series stands.
type Phase string

// Phases of a rule × series.
const (
	// PhaseInactive: the condition does not hold (such series are not stored).
	PhaseInactive Phase = "inactive"
	// PhasePending: the condition holds but not yet for the rule's `for` duration.
	PhasePending Phase = "pending"
	// PhaseFiring: the condition has held for `for`; the rule has proposed its action.
	PhaseFiring Phase = "firing"
	// PhaseCooldown: firing, but a proposal is held back by cooldown or max_runs.
	PhaseCooldown Phase = "cooldown"
	// PhaseResolved: the condition stopped holding after firing.
	PhaseResolved Phase = "resolved"
)

// resolvedRetention is how long a resolved series stays visible when nothing else keeps it.
const resolvedRetention = 15 * time.Minute

// staleAfter is how long a check or alert series may go without an event before it counts
// as resolved: two of its group's intervals.
func staleAfter(r *Rule) time.Duration { return 2 * r.Interval }

// active reports whether the condition held at the last evaluation.
func (s *seriesState) active() bool {
	return s.State == PhasePending || s.State == PhaseFiring || s.State == PhaseCooldown
}

// SeriesState is the evaluation state of one rule × series.
type SeriesState struct {
	Key          string            `json:"key"` // "<rule>/<fingerprint>"
	Labels       map[string]string `json:"labels"`
	State        Phase             `json:"state"`
	Value        float64           `json:"value"`                  // value when the condition last held
	ActiveAt     time.Time         `json:"active_at,omitzero"`     // when the condition started holding
	FiredAt      time.Time         `json:"fired_at,omitzero"`      // when it entered firing
	ResolvedAt   time.Time         `json:"resolved_at,omitzero"`   // when it last resolved
	LastEval     time.Time         `json:"last_eval,omitzero"`     // last evaluation that saw the condition hold or end
	LastProposal time.Time         `json:"last_proposal,omitzero"` // last proposal made
	Proposals    []time.Time       `json:"proposals,omitempty"`    // proposals within the max_runs window
	Proposed     bool              `json:"proposed,omitempty"`     // a proposal was made in this firing episode
	Suppressed   string            `json:"suppressed,omitempty"`   // why the last due proposal was held back
}

// seriesState is a SeriesState with the engine's bookkeeping.
type seriesState struct {
	SeriesState
	fp     uint64
	seen   uint64 // tick that last saw the series
	dirty  bool   // must be written in this tick's transaction
	stored bool   // a version of it is in the store
}

func stateKey(rule string, fp uint64) string {
	return "rules/state/" + rule + "/" + fpHex(fp)
}

func statePrefix(rule string) string { return "rules/state/" + rule + "/" }

func fpHex(fp uint64) string {
	s := strconv.FormatUint(fp, 16)
	return strings.Repeat("0", 16-len(s)) + s
}

func decodeState(key string, raw []byte) (*seriesState, error) {
	var s seriesState
	if err := json.Unmarshal(raw, &s.SeriesState); err != nil {
		return nil, fmt.Errorf("decode rule state %s: %w", key, err)
	}
	i := strings.LastIndexByte(key, '/')
	fp, err := strconv.ParseUint(key[i+1:], 16, 64)
	if err != nil {
		return nil, fmt.Errorf("decode rule state %s: bad fingerprint: %w", key, err)
	}
	s.fp, s.stored = fp, true
	return &s, nil
}

// fingerprint hashes a label set independently of map order: each name/value pair is hashed
// eight bytes at a time, finalized, and the pair hashes are summed. The hash is fixed (no
// per-process seed), so fingerprints are stable across restarts and name stored state.
func fingerprint(labels map[string]string) uint64 {
	var sum uint64 = 0x9e3779b97f4a7c15
	for k, v := range labels {
		h := hashString(0x243f6a8885a308d3, k)
		h = hashString(h^0x13198a2e03707344, v)
		// splitmix64 finalizer, so that sums of pair hashes do not cancel out.
		h ^= h >> 30
		h *= 0xbf58476d1ce4e5b9
		h ^= h >> 27
		h *= 0x94d049bb133111eb
		h ^= h >> 31
		sum += h
	}
	return sum
}

func hashString(h uint64, s string) uint64 {
	const m = 0xff51afd7ed558ccd
	h ^= uint64(len(s)) * m
	for len(s) >= 8 {
		_ = s[7]
		c := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		h = (h ^ c) * m
		h ^= h >> 32
		s = s[8:]
	}
	var c uint64
	for i := 0; i < len(s); i++ {
		c |= uint64(s[i]) << (8 * i)
	}
	h = (h ^ c) * m
	h ^= h >> 29
	return h
}

// step advances s by one evaluation at t and reports whether a proposal is due now. As in
// Prometheus, `for` counts from the first evaluation at which the condition held.
func (s *seriesState) step(r *Rule, cond bool, t time.Time, value float64) bool {
	s.LastEval = t
	if !cond {
		switch s.State {
		case PhasePending:
			s.set(PhaseInactive)
			s.ActiveAt = time.Time{}
		case PhaseFiring, PhaseCooldown:
			s.set(PhaseResolved)
			s.ResolvedAt = t
			s.Suppressed = ""
		}
		return false
	}
	s.Value = value
	switch s.State {
	case PhaseInactive, PhaseResolved, "":
		s.set(PhasePending)
		s.ActiveAt = t
	}
	if s.State == PhasePending {
		if t.Sub(s.ActiveAt) < r.For {
			return false
		}
		s.set(PhaseFiring)
		s.FiredAt = t
		s.Proposed = false
	}
	due := !s.Proposed || (r.Cooldown > 0 && t.Sub(s.LastProposal) >= r.Cooldown)
	if !due {
		return false
	}
	if why := s.heldBack(r, t); why != "" {
		if s.Suppressed != why {
			s.Suppressed = why
			s.dirty = true
		}
		s.set(PhaseCooldown)
		return false
	}
	return true
}

// heldBack says why a proposal at t would break the rule's cooldown or max_runs, or "".
func (s *seriesState) heldBack(r *Rule, t time.Time) string {
	if r.Cooldown > 0 && !s.LastProposal.IsZero() && t.Sub(s.LastProposal) < r.Cooldown {
		return "cooldown until " + s.LastProposal.Add(r.Cooldown).UTC().Format(time.RFC3339)
	}
	if r.MaxRuns.Count > 0 {
		s.pruneProposals(r, t)
		if len(s.Proposals) >= r.MaxRuns.Count {
			return fmt.Sprintf("max_runs %d per %s reached until %s", r.MaxRuns.Count, formatDuration(r.MaxRuns.Per),
				s.Proposals[0].Add(r.MaxRuns.Per).UTC().Format(time.RFC3339))
		}
	}
	return ""
}

func (s *seriesState) pruneProposals(r *Rule, t time.Time) {
	cut := 0
	for cut < len(s.Proposals) && !s.Proposals[cut].After(t.Add(-r.MaxRuns.Per)) {
		cut++
	}
	if cut > 0 {
		s.Proposals = append(s.Proposals[:0], s.Proposals[cut:]...)
		s.dirty = true
	}
}

// proposed records a proposal made at t.
func (s *seriesState) proposed(r *Rule, t time.Time) {
	s.set(PhaseFiring)
	s.Proposed = true
	s.Suppressed = ""
	s.LastProposal = t
	if r.MaxRuns.Count > 0 {
		s.Proposals = append(s.Proposals, t)
	}
	s.dirty = true
}

func (s *seriesState) set(p Phase) {
	if s.State != p {
		s.State = p
		s.dirty = true
	}
}

// disposable reports whether the series can be forgotten: inactive, or resolved long enough,
// and no longer needed for cooldown or max_runs.
func (s *seriesState) disposable(r *Rule, t time.Time) bool {
	switch s.State {
	case PhaseInactive:
	case PhaseResolved:
		if t.Sub(s.ResolvedAt) < resolvedRetention {
			return false
		}
	default:
		return false
	}
	if r.Cooldown > 0 && !s.LastProposal.IsZero() && t.Sub(s.LastProposal) < r.Cooldown {
		return false
	}
	if r.MaxRuns.Count > 0 {
		s.pruneProposals(r, t)
		if len(s.Proposals) > 0 {
			return false
		}
	}
	return true
}
