package app

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
	"github.com/smartcloudops/smartcloudops/rules"
)

// afterRun follows up a finished proposal: a success is verified after the settle time, and a
// rule whose actions keep failing is disabled.
func (b *Bot) afterRun(ctx context.Context, p remediation.Proposal) {
	if p.Plan.Rule == "" || (p.State != remediation.StateSucceeded && p.State != remediation.StateFailed) {
		return
	}
	failed := p.State == remediation.StateFailed
	if err := b.countFailure(ctx, p, failed); err != nil {
		b.log.ErrorContext(ctx, "rule failure count not updated", obs.KeyRule, p.Plan.Rule, obs.KeyErr, err)
	}
	if !failed && !p.Plan.DryRun && b.cfg.Executor.Settle > 0 {
		b.verifyLater(ctx, p, b.cfg.Executor.Settle.D())
	}
}

func cardKey(p remediation.Proposal) string {
	if p.Incident != "" {
		return p.Incident
	}
	return p.ID
}

// countFailure keeps the number of failures in a row of a rule's actions in the store.
func (b *Bot) countFailure(ctx context.Context, p remediation.Proposal, failed bool) error {
	key := "remediation/failures/" + p.Plan.Rule
	if !failed {
		return b.Store.Delete(ctx, key)
	}
	n := 0
	_, err := store.Modify(ctx, b.Store, key, func(old []byte) ([]byte, error) {
		n, _ = strconv.Atoi(string(old))
		n++
		return []byte(strconv.Itoa(n)), nil
	})
	if err != nil {
		return err
	}
	if max := b.cfg.Executor.MaxFailures; max > 0 && n >= max {
		return b.disableRule(ctx, p, n)
	}
	return nil
}

func (b *Bot) disableRule(ctx context.Context, p remediation.Proposal, n int) error {
	r, ok := b.Rules.Rule(p.Plan.Rule)
	if !ok || !r.Enabled {
		return nil
	}
	if err := b.Rules.SetEnabled(ctx, r.Name, false); err != nil {
		return err
	}
	msg := fmt.Sprintf("Rule %s is disabled: its action failed %d times in a row (last: %s). Fix the cause, then `rules enable %s`.", r.Name, n, p.Error, r.Name)
	if _, err := b.Audit.Append(ctx, audit.Record{Kind: "rule.disabled", User: "bot", Rule: r.Name, RuleVersion: r.Version, Proposal: p.ID, Detail: msg}); err != nil {
		return err
	}
	b.log.WarnContext(ctx, "rule disabled after repeated failures", obs.KeyRule, r.Name, "failures", n)
	return b.Notifier.Note(ctx, cardKey(p), bot.Message{Title: "Rule disabled", Severity: bot.SeverityWarning, Text: msg})
}

// verifyLater checks, after the settle time, whether what the action was for has cleared, and
// says so in the card's thread.
func (b *Bot) verifyLater(ctx context.Context, p remediation.Proposal, settle time.Duration) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		select {
		case <-time.After(settle):
		case <-b.runCtx.Done():
			return
		}
		ctx := context.WithoutCancel(ctx)
		verdict, err := b.verdict(ctx, p)
		if err != nil {
			b.log.WarnContext(ctx, "verification failed", obs.KeyProposal, p.ID, obs.KeyErr, err)
			return
		}
		text := fmt.Sprintf("Verification %s after %s: %s.", p.ID, settle, verdict)
		if _, err := b.Audit.Append(ctx, audit.Record{Kind: "action.verified", User: "bot", Proposal: p.ID, Incident: p.Incident,
			Rule: p.Plan.Rule, RuleVersion: p.Plan.RuleVersion, PlanHash: p.PlanHash, Target: p.Plan.Target, Outcome: verdict}); err != nil {
			b.log.ErrorContext(ctx, "audit append failed", obs.KeyErr, err)
		}
		if err := b.Notifier.Note(ctx, cardKey(p), bot.Message{Text: text}); err != nil {
			b.log.WarnContext(ctx, "verification not posted", obs.KeyProposal, p.ID, obs.KeyErr, err)
		}
	}()
}

// verdict is "cleared" when the incident resolved (or no series of the rule fires any more),
// and "still firing" otherwise.
func (b *Bot) verdict(ctx context.Context, p remediation.Proposal) (string, error) {
	if p.Incident != "" {
		inc, err := b.Incidents.Get(ctx, p.Incident)
		if err != nil {
			return "", err
		}
		if inc.State == incident.StateResolved {
			return "cleared", nil
		}
		return "still firing", nil
	}
	for _, st := range b.Rules.State(p.Plan.Rule) {
		if st.State == rules.PhaseFiring || st.State == rules.PhasePending {
			return "still firing", nil
		}
	}
	return "cleared", nil
}
