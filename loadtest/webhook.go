package loadtest

import (
	"context"
	"fmt"
	"time"
)

// alertRule proposes the script for every alert of the flood, naming the alert, so each
// acknowledged alert must end as exactly one proposal that says which alert it is for.
const alertRule = `groups:
  - name: loadtest
    rules:
      - name: loadtest-alert
        description: One proposal for every alert of the load harness.
        alert: {alertname: ` + AlertName + `}
        action:
          name: script
          params: {script: ok.sh, args: ['{{ .labels.alert }}']}
`

// ThroughputOptions configures the webhook throughput scenario (wrk) and the API list
// measurement on the items it stores.
type ThroughputOptions struct {
	Duration    time.Duration // how long wrk floods
	Threads     int
	Connections int
	PerGroup    int
	// Items is how many incidents the API list is measured at; the flood's are topped up with
	// a Go client to reach it.
	Items         int
	TopUpDeadline time.Duration // bounds the top-up; the list is measured at what it reached
	APIRequests   int           // pages fetched of each list
}

// ThroughputReport is the webhook intake end to end, and the API's list pages at K items.
type ThroughputReport struct {
	Connections int     `json:"connections"`
	PerGroup    int     `json:"alerts_per_notification"`
	Seconds     float64 `json:"seconds"`
	Requests    int64   `json:"requests"`
	Non2xx      int64   `json:"non_2xx"`
	Errors      int64   `json:"socket_errors"`
	Timeouts    int64   `json:"timeouts"`
	AckedAlerts int64   `json:"acked_alerts"`
	AckRate     float64 `json:"acked_alerts_per_second"`
	P50ms       float64 `json:"latency_p50_ms"`
	P90ms       float64 `json:"latency_p90_ms"`
	P99ms       float64 `json:"latency_p99_ms"`
	MaxMS       float64 `json:"latency_max_ms"`
	// End to end: proposals made for the flood's alerts (smartcloudops_rule_firings_total) and
	// incidents opened, and the rate of alerts that had their proposal, from the first request
	// until the last proposal.
	Proposals    int     `json:"proposals"`
	Incidents    int     `json:"incidents"`
	LastProposal float64 `json:"seconds_until_last_proposal"`
	EndToEndRate float64 `json:"alerts_with_proposal_per_second"`
	AllProposed  bool    `json:"every_acked_alert_proposed"`
	RSSAfter     int64   `json:"rss_bytes_after"`
	Shutdown     float64 `json:"shutdown_seconds"` // SIGTERM until exit, with every card still queued
	Conditions   Conditions
	API          *APIReport `json:"api,omitempty"`
}

// Throughput runs wrk against the webhook of a fresh bot, then measures the API's list pages.
func Throughput(ctx context.Context, e Env, o ThroughputOptions) (*ThroughputReport, error) {
	dir, err := e.dir("webhook")
	if err != nil {
		return nil, err
	}
	w := startWatch(ctx)
	defer w.close()
	b, err := NewBot(ctx, e.Bin, dir, BotSpec{Rules: alertRule})
	if err != nil {
		return nil, err
	}
	defer b.Kill()
	if err := b.Start(ctx); err != nil {
		return nil, err
	}
	rep := &ThroughputReport{Connections: o.Connections, PerGroup: max(o.PerGroup, 1)}
	m0, err := b.Scrape(ctx)
	if err != nil {
		return rep, err
	}
	e.logf("webhook: wrk, %d connections, %s, alerts per notification: %d", o.Connections, o.Duration, rep.PerGroup)
	start := time.Now()
	wr, err := Wrk(ctx, WrkOptions{URL: b.URL + "/api/v1/alertmanager", Run: "wrk", PerGroup: rep.PerGroup,
		Threads: o.Threads, Connections: o.Connections, Duration: o.Duration, Timeout: 10 * time.Second, Dir: dir})
	if err != nil {
		return rep, err
	}
	rep.Seconds = float64(wr.DurationUS) / 1e6
	rep.Requests, rep.Non2xx, rep.Timeouts = wr.Requests, wr.StatusErrors, wr.Timeouts
	rep.Errors = wr.ConnectErrors + wr.ReadErrors + wr.WriteErrors
	rep.AckedAlerts = wr.Acked() * int64(rep.PerGroup)
	rep.AckRate = float64(rep.AckedAlerts) / rep.Seconds
	rep.P50ms, rep.P90ms, rep.P99ms, rep.MaxMS = wr.P50US/1000, wr.P90US/1000, wr.P99US/1000, wr.MaxUS/1000
	// Proposals may follow the answers; wait for the last one.
	want := float64(rep.AckedAlerts)
	m1, err := waitMetrics(ctx, b, time.Second, 2*time.Minute, "a proposal for every acknowledged alert", func(m Metrics) bool {
		return m.Sum(mFirings, nil)-m0.Sum(mFirings, nil) >= want
	})
	rep.AllProposed = err == nil
	rep.Proposals = int(m1.Sum(mFirings, nil) - m0.Sum(mFirings, nil))
	rep.Incidents = int(m1.Sum(mOpened, nil) - m0.Sum(mOpened, nil))
	rep.LastProposal = m1.At.Sub(start).Seconds()
	if rep.AllProposed {
		rep.EndToEndRate = float64(rep.AckedAlerts) / max(rep.LastProposal, rep.Seconds)
	}
	rep.RSSAfter, _ = b.ProcStatus()
	e.logf("webhook: %d alerts acknowledged in %.1fs (%.0f/s), p50 %.1fms p99 %.1fms; %d proposals, %.0f alerts/s end to end",
		rep.AckedAlerts, rep.Seconds, rep.AckRate, rep.P50ms, rep.P99ms, rep.Proposals, rep.EndToEndRate)
	if o.Items > 0 {
		api, err := apiList(ctx, e, b, o, rep.Incidents)
		rep.API = api
		if err != nil {
			return rep, err
		}
	}
	took, _ := b.Stop(5 * time.Minute)
	rep.Shutdown = took.Seconds()
	rep.Conditions = w.stop(b.CPU(), wr.CPU)
	return rep, nil
}

// APIReport is the latency of list pages of 50 at K stored items.
type APIReport struct {
	Incidents    int     `json:"incidents_stored"`
	Proposals    int     `json:"proposals_stored"`
	TopUp        float64 `json:"seconds_to_top_up"`
	TopUpRate    float64 `json:"top_up_alerts_per_second"` // the intake again, as the store grows
	TopUpCut     bool    `json:"top_up_cut_at_deadline,omitempty"`
	Requests     int     `json:"requests_per_list"`
	IncidentsP50 float64 `json:"incidents_page_p50_ms"`
	IncidentsP99 float64 `json:"incidents_page_p99_ms"`
	ProposalsP50 float64 `json:"proposals_page_p50_ms"`
	ProposalsP99 float64 `json:"proposals_page_p99_ms"`
	RateLimited  int     `json:"rate_limited_waits"`
	// Drain is how long the bot took, after the last acknowledgement, to process what its
	// intake had accepted. The lists are read once it has, while the bot still works on what
	// followed (the Busy* figures: its cards, charts and index), and again once it is at rest
	// (its CPU under restCPU for a second), Settle seconds after the drain.
	Drain         float64    `json:"seconds_to_drain_intake"`
	Settle        float64    `json:"seconds_to_rest_after_drain"`
	BusyIncidents [2]float64 `json:"incidents_page_p50_p99_ms_busy"`
	BusyProposals [2]float64 `json:"proposals_page_p50_p99_ms_busy"`
}

// restCPU is the bot's CPU use, in cores, under which it is at rest for the API's second reading.
const restCPU = 0.1

// settle waits, up to limit, until the bot uses less than restCPU of a core over a second, and
// returns how long that took.
func settle(ctx context.Context, b *Bot, limit time.Duration) time.Duration {
	start := time.Now()
	prev := b.CPU()
	for time.Since(start) < limit && ctx.Err() == nil {
		time.Sleep(time.Second)
		cur := b.CPU()
		if cur-prev < restCPU {
			break
		}
		prev = cur
	}
	return time.Since(start)
}

// pages reads o.APIRequests pages of 50 from path, one at a time from the first, and returns
// the p50 and p99 of their latencies in milliseconds.
func pages(ctx context.Context, c *APIClient, path string, n int) (float64, float64, error) {
	var lat []time.Duration
	cursor := ""
	for range n {
		q := "?state=all&limit=50"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		var p page[struct {
			ID string `json:"id"`
		}]
		took, err := c.Get(ctx, path+q, &p)
		if err != nil {
			return 0, 0, err
		}
		lat = append(lat, took)
		cursor = p.NextCursor
		// Stay under the key's rate limit (50 a second) rather than measure its 429s.
		time.Sleep(max(25*time.Millisecond-took, 0))
	}
	return quantileMS(lat, 0.5), quantileMS(lat, 0.99), nil
}

// apiList tops the bot's incidents up to o.Items and fetches pages of 50 from both lists, the
// first page and the pages after it in turn, one request at a time.
func apiList(ctx context.Context, e Env, b *Bot, o ThroughputOptions, have int) (*APIReport, error) {
	rep := &APIReport{Requests: o.APIRequests}
	if more := o.Items - have; more > 0 {
		e.logf("api: topping up with %d notifications to %d incidents (at most %s)", more, o.Items, o.TopUpDeadline)
		tctx, cancel := context.WithTimeout(ctx, o.TopUpDeadline)
		res, err := Flood(tctx, FloodOptions{URL: b.URL + "/api/v1/alertmanager", Run: "topup", Notifications: more,
			PerGroup: 1, Concurrency: max(o.Connections, 1), Timeout: 30 * time.Second, OnAck: func(n int) {
				if n%max(more/10, 1) == 0 {
					e.logf("api: %d of %d acknowledged", n, more)
				}
			}})
		cancel()
		rep.TopUp, rep.TopUpRate = res.Took.Seconds(), res.Rate()
		switch {
		case ctx.Err() != nil:
			return rep, ctx.Err()
		case err != nil:
			rep.TopUpCut = true
			e.logf("api: the top-up reached %d of %d in %s; measuring there", len(res.Acked), more, o.TopUpDeadline)
		case len(res.Unacked) > 0:
			return rep, fmt.Errorf("api: %d top-up notifications were not acknowledged", len(res.Unacked))
		}
	}
	drained := time.Now()
	m, err := waitMetrics(ctx, b, time.Second, 15*time.Minute, "the intake to process what it accepted", func(m Metrics) bool {
		return m.Sum(mIntakeQueue, nil) == 0
	})
	if err != nil {
		return rep, err
	}
	rep.Drain = time.Since(drained).Seconds()
	rep.Incidents, rep.Proposals = int(m.Sum(mOpened, nil)), int(m.Sum(mFirings, nil))
	e.logf("api: %d pages of 50 of each list at %d incidents and %d proposals", o.APIRequests, rep.Incidents, rep.Proposals)
	c := b.API()
	if rep.BusyIncidents[0], rep.BusyIncidents[1], err = pages(ctx, c, "/api/v1/incidents", o.APIRequests); err != nil {
		return rep, err
	}
	if rep.BusyProposals[0], rep.BusyProposals[1], err = pages(ctx, c, "/api/v1/proposals", o.APIRequests); err != nil {
		return rep, err
	}
	e.logf("api: while the bot is busy after the drain: incidents page p50 %.1fms p99 %.1fms; proposals page p50 %.1fms p99 %.1fms",
		rep.BusyIncidents[0], rep.BusyIncidents[1], rep.BusyProposals[0], rep.BusyProposals[1])
	settle(ctx, b, 3*time.Minute)
	rep.Settle = time.Since(drained).Seconds() - rep.Drain
	if rep.IncidentsP50, rep.IncidentsP99, err = pages(ctx, c, "/api/v1/incidents", o.APIRequests); err != nil {
		return rep, err
	}
	if rep.ProposalsP50, rep.ProposalsP99, err = pages(ctx, c, "/api/v1/proposals", o.APIRequests); err != nil {
		return rep, err
	}
	rep.RateLimited = c.Limited
	e.logf("api: at rest, %.0fs after the drain: incidents page p50 %.1fms p99 %.1fms; proposals page p50 %.1fms p99 %.1fms",
		rep.Settle, rep.IncidentsP50, rep.IncidentsP99, rep.ProposalsP50, rep.ProposalsP99)
	return rep, nil
}
