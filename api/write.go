package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// Bounds on what a request body may hold, beyond its size cap.
const (
	maxActionLen = 128
	maxParams    = 64
	maxReasonLen = 1000
)

// ProposeRequest is the body of POST /api/v1/proposals: a manual run of an action.
type ProposeRequest struct {
	Action   string         `json:"action"`
	Params   map[string]any `json:"params,omitempty"`
	Incident string         `json:"incident,omitempty"` // the incident it remedies, if any
	DryRun   bool           `json:"dry_run,omitempty"`  // describe, never execute
}

// ApproveRequest is the optional body of POST /api/v1/proposals/{id}/approve. With PlanHash
// set, the approval counts only if the proposal still has that plan, as a chat button's does.
type ApproveRequest struct {
	PlanHash string `json:"plan_hash,omitempty"`
}

// parseApproveRequest decodes the optional body of an approval.
func parseApproveRequest(body io.Reader) (ApproveRequest, *Error) {
	var req ApproveRequest
	if e := decodeJSON(body, &req, true); e != nil {
		return req, e
	}
	if len(req.PlanHash) > 64 || strings.ContainsFunc(req.PlanHash, func(r rune) bool { return !strings.ContainsRune("0123456789abcdef", r) }) {
		return req, badRequest("plan_hash: the hex plan_hash of the proposal, such as 9c1e2d3f4a5b6c7d")
	}
	return req, nil
}

// ResolveRequest is the body of POST /api/v1/proposals/{id}/resolve: what the caller found out
// about an unknown proposal's action.
type ResolveRequest struct {
	Outcome string `json:"outcome"` // "ran" or "not-run"
	Note    string `json:"note"`    // how the caller knows
}

// parseResolveRequest decodes and checks the body of a resolution.
func parseResolveRequest(body io.Reader) (ResolveRequest, *Error) {
	var req ResolveRequest
	if e := decodeJSON(body, &req, false); e != nil {
		return req, e
	}
	var probs []string
	if req.Outcome != remediation.OutcomeRan && req.Outcome != remediation.OutcomeNotRun {
		probs = append(probs, fmt.Sprintf("outcome: want %q (the action took effect) or %q (it did not)", remediation.OutcomeRan, remediation.OutcomeNotRun))
	}
	switch {
	case strings.TrimSpace(req.Note) == "":
		probs = append(probs, "note: required: say how you know")
	case len(req.Note) > remediation.MaxNoteLen || !utf8.ValidString(req.Note):
		probs = append(probs, fmt.Sprintf("note: at most %d characters of UTF-8 text", remediation.MaxNoteLen))
	}
	if len(probs) > 0 {
		return req, badRequest("%s", strings.Join(probs, "; "))
	}
	return req, nil
}

// RejectRequest is the optional body of POST /api/v1/proposals/{id}/reject.
type RejectRequest struct {
	Reason string `json:"reason,omitempty"`
}

// decodeJSON reads one JSON value into v, refusing unknown fields and trailing data. An empty
// body is allowed only when allowEmpty is set, and leaves v as it was.
func decodeJSON(body io.Reader, v any, allowEmpty bool) *Error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if errors.Is(err, io.EOF) {
		if allowEmpty {
			return nil
		}
		return badRequest("the request body is empty; send a JSON object")
	}
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			err = terr
			if err == nil {
				return badRequest("unexpected data after the JSON object at byte %d", dec.InputOffset())
			}
		}
	}
	if err == nil {
		return nil
	}
	var tooBig *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body is over the limit of %d bytes", tooBig.Limit)
	case errors.As(err, &syn):
		return badRequest("malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("malformed JSON: the body ends early")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "the body"
		}
		return badRequest("%s: got a JSON %s, want %s", field, typ.Value, typeName(typ.Type.String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return badRequest("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return badRequest("malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

func typeName(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "api."), strings.HasPrefix(goType, "struct"):
		return "an object"
	}
	return goType
}

// parseProposeRequest decodes and checks the body of a manual run.
func parseProposeRequest(body io.Reader) (ProposeRequest, *Error) {
	var req ProposeRequest
	if e := decodeJSON(body, &req, false); e != nil {
		return req, e
	}
	var probs []string
	switch {
	case req.Action == "":
		probs = append(probs, "action: required")
	case len(req.Action) > maxActionLen || !utf8.ValidString(req.Action) || strings.ContainsFunc(req.Action, isSpaceOrControl):
		probs = append(probs, fmt.Sprintf("action: want a name such as aws.ecs.restart of at most %d characters", maxActionLen))
	}
	if len(req.Params) > maxParams {
		probs = append(probs, fmt.Sprintf("params: %d parameters, at most %d allowed", len(req.Params), maxParams))
	}
	if len(req.Incident) > maxActionLen || strings.ContainsFunc(req.Incident, isSpaceOrControl) {
		probs = append(probs, "incident: want an incident ID such as inc-1a2b3c")
	}
	if len(probs) > 0 {
		return req, badRequest("%s", strings.Join(probs, "; "))
	}
	return req, nil
}

// parseRejectRequest decodes the optional body of a rejection.
func parseRejectRequest(body io.Reader) (RejectRequest, *Error) {
	var req RejectRequest
	if e := decodeJSON(body, &req, true); e != nil {
		return req, e
	}
	if len(req.Reason) > maxReasonLen || !utf8.ValidString(req.Reason) {
		return req, badRequest("reason: at most %d characters of UTF-8 text", maxReasonLen)
	}
	return req, nil
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

func (a *API) propose(w http.ResponseWriter, r *http.Request, k Key) error {
	req, e := parseProposeRequest(r.Body)
	if e != nil {
		return e
	}
	if req.Incident != "" {
		if _, err := a.o.Incidents.Get(r.Context(), req.Incident); obs.IsUser(err) {
			return badRequest("incident %s: no such incident", quoteClipped(req.Incident))
		} else if err != nil {
			return fmt.Errorf("get incident %q: %w", req.Incident, err)
		}
	}
	// The same policy as the chat `run` command: another operator (or an admin) must approve.
	p, err := a.o.Proposals.Propose(r.Context(), remediation.Request{Action: req.Action, Params: req.Params,
		Incident: req.Incident, Requester: k.Actor(), DryRun: req.DryRun,
		Policy: remediation.Policy{Roles: []string{RoleOperator}, MinApprovers: 1}})
	var refused *remediation.RefusedError
	if errors.As(err, &refused) && refused.Unavailable {
		return errorf(http.StatusServiceUnavailable, CodeUnavailable, "%s", err.Error())
	}
	if obs.IsUser(err) {
		return badRequest("%s", err.Error())
	}
	if err != nil {
		return fmt.Errorf("propose %s: %w", req.Action, err)
	}
	w.Header().Set("Location", "/api/v1/proposals/"+p.ID)
	return writeJSON(w, http.StatusCreated, p)
}

func (a *API) approve(w http.ResponseWriter, r *http.Request, k Key) error {
	req, e := parseApproveRequest(r.Body)
	if e != nil {
		return e
	}
	id := r.PathValue("id")
	if e := a.exists(r, id); e != nil {
		return e
	}
	who := k.Actor()
	p, err := a.o.Proposals.ApprovePlan(r.Context(), id, req.PlanHash, who)
	if obs.IsUser(err) {
		return a.refused(r, k, id, req.PlanHash, err)
	}
	if err != nil {
		return fmt.Errorf("approve %s: %w", id, err)
	}
	return writeJSON(w, http.StatusOK, p)
}

func (a *API) reject(w http.ResponseWriter, r *http.Request, k Key) error {
	req, e := parseRejectRequest(r.Body)
	if e != nil {
		return e
	}
	id := r.PathValue("id")
	if e := a.exists(r, id); e != nil {
		return e
	}
	p, err := a.o.Proposals.Reject(r.Context(), id, k.Actor(), req.Reason)
	if obs.IsUser(err) {
		return a.refused(r, k, id, "", err)
	}
	if err != nil {
		return fmt.Errorf("reject %s: %w", id, err)
	}
	return writeJSON(w, http.StatusOK, p)
}

func (a *API) resolve(w http.ResponseWriter, r *http.Request, k Key) error {
	req, e := parseResolveRequest(r.Body)
	if e != nil {
		return e
	}
	id := r.PathValue("id")
	if e := a.exists(r, id); e != nil {
		return e
	}
	p, err := a.o.Proposals.Resolve(r.Context(), id, k.Actor(), req.Outcome, req.Note)
	if obs.IsUser(err) {
		if p.State != remediation.StateUnknown {
			return errorf(http.StatusConflict, CodeConflict, "%s", err.Error())
		}
		e := errorf(http.StatusForbidden, CodeForbidden, "%s", err.Error())
		a.denied(r, k, route{pattern: r.Pattern}, e)
		return e
	}
	if err != nil {
		return fmt.Errorf("resolve %s: %w", id, err)
	}
	return writeJSON(w, http.StatusOK, p)
}

// exists answers 404 for an unknown proposal, so that a Manager refusal later means a decision.
func (a *API) exists(r *http.Request, id string) *Error {
	if _, err := a.o.Proposals.Get(r.Context(), id); obs.IsUser(err) {
		return notFound("no proposal %s", quoteClipped(id))
	}
	return nil
}

// refused maps the Manager's refusal of a decision to 409 when the proposal's state is in the
// way (decided, expired, already approved by this key, not the plan the approval named,
// remediation paused) and to 403 when the key may not decide it; either way the Manager's
// message is shown. Forbidden requests are also audited as api.denied.
func (a *API) refused(r *http.Request, k Key, id, plan string, err error) error {
	msg := err.Error()
	conflict := errorf(http.StatusConflict, CodeConflict, "%s", msg)
	if paused, _ := a.o.Proposals.Paused(r.Context()); paused {
		return conflict
	}
	p, gerr := a.o.Proposals.Get(r.Context(), id)
	if gerr != nil {
		if obs.IsUser(gerr) {
			return notFound("no proposal %s", quoteClipped(id))
		}
		return fmt.Errorf("re-read proposal %s: %w", id, gerr)
	}
	actorID := k.Actor().ID
	if p.State != remediation.StatePending || !a.o.Now().Before(p.ExpiresAt) || (plan != "" && plan != p.PlanHash) ||
		slices.ContainsFunc(p.Approvals, func(ap remediation.Approval) bool { return ap.Actor.ID == actorID }) {
		return conflict
	}
	e := errorf(http.StatusForbidden, CodeForbidden, "%s", msg)
	a.denied(r, k, route{pattern: r.Pattern}, e)
	return e
}
