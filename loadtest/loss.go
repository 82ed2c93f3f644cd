package loadtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"
)

// LossOptions configures the zero-loss scenario: three floods of Alerts alerts each against one
// bot, each delivered as Alertmanager does (retried until acknowledged), under client timeouts,
// under redelivery, and across a SIGKILL of the bot half-way.
type LossOptions struct {
	Alerts        int
	PerGroup      int
	Concurrency   int
	Rate          float64       // notifications started per second; 0: as fast as Concurrency allows
	ClientTimeout time.Duration // of the timeouts flood; the others wait 10 s
	// Settle bounds the wait for every acknowledged alert's incident and proposal to show in the
	// API after the last flood.
	Settle time.Duration
}

// PhaseReport is one flood of the zero-loss scenario.
type PhaseReport struct {
	Name           string         `json:"name"`
	Notifications  int            `json:"notifications"`
	Alerts         int            `json:"alerts"`
	Acked          int            `json:"acked_alerts"`
	Unacked        int            `json:"unacked_alerts"`
	Attempts       int            `json:"requests"`
	ClientTimeouts int            `json:"client_timeouts"`
	Refused        int            `json:"refused_or_broken"`
	Status         map[string]int `json:"status"`
	P50ms          float64        `json:"acked_latency_p50_ms"`
	P99ms          float64        `json:"acked_latency_p99_ms"`
	Rate           float64        `json:"acked_alerts_per_second"`
	Seconds        float64        `json:"seconds"`
	Killed         bool           `json:"killed,omitempty"`
	RestartSeconds float64        `json:"restart_seconds,omitempty"` // SIGKILL until /readyz answers again
	Loss           Loss           `json:"loss"`
	res            FloodResult
}

// LossReport is the zero-loss verdict of the three floods.
type LossReport struct {
	Phases     []PhaseReport `json:"phases"`
	Lost       bool          `json:"lost"`
	Settled    float64       `json:"seconds_until_verdict"`
	AckLog     string        `json:"ack_log"`
	Conditions Conditions
}

// ZeroLoss runs the zero-loss scenario.
func ZeroLoss(ctx context.Context, e Env, o LossOptions) (*LossReport, error) {
	dir, err := e.dir("loss")
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
	rep := &LossReport{AckLog: filepath.Join(dir, "acks.jsonl")}
	logf, err := os.Create(rep.AckLog)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	per := max(o.PerGroup, 1)
	notifications := max(o.Alerts/per, 1)
	url := b.URL + "/api/v1/alertmanager"
	base := FloodOptions{URL: url, Notifications: notifications, PerGroup: per, Concurrency: o.Concurrency, Rate: o.Rate,
		Timeout: 10 * time.Second, RetryFor: 2 * time.Minute, Log: logf}
	timeouts := base
	timeouts.Run, timeouts.Timeout = "timeouts", o.ClientTimeout
	redelivery := base
	redelivery.Run, redelivery.Copies = "redelivery", 2
	kill := base
	kill.Run = "kill"
	killed := &PhaseReport{Name: "kill -9 mid-flood", Killed: true}
	var once sync.Once
	var killErr error
	kill.OnAck = func(acked int) {
		if acked < notifications/2 {
			return
		}
		once.Do(func() {
			e.logf("loss: SIGKILL the bot at %d of %d notifications acknowledged", acked, notifications)
			b.Kill()
			start := time.Now()
			killErr = b.Start(ctx)
			killed.RestartSeconds = time.Since(start).Seconds()
			e.logf("loss: the bot is back after %.1fs", killed.RestartSeconds)
		})
	}
	for _, p := range []struct {
		rep *PhaseReport
		o   FloodOptions
	}{
		{&PhaseReport{Name: fmt.Sprintf("client timeout %s", o.ClientTimeout)}, timeouts},
		{&PhaseReport{Name: "each sent twice at once"}, redelivery},
		{killed, kill},
	} {
		e.logf("loss: %s, %d alerts", p.rep.Name, notifications*per)
		res, err := Flood(ctx, p.o)
		if err != nil {
			return rep, err
		}
		if killErr != nil {
			return rep, fmt.Errorf("restart after SIGKILL: %w", killErr)
		}
		p.rep.res = res
		p.rep.Notifications, p.rep.Alerts = notifications, notifications*per
		p.rep.Acked, p.rep.Unacked = len(res.Acked), len(res.Unacked)
		p.rep.Attempts, p.rep.ClientTimeouts, p.rep.Refused = res.Attempts, res.ClientTimeout, res.Refused
		p.rep.Status = map[string]int{}
		for code, n := range res.Status {
			p.rep.Status[strconv.Itoa(code)] = n
		}
		p.rep.P50ms, p.rep.P99ms = quantileMS(res.Latencies, 0.5), quantileMS(res.Latencies, 0.99)
		p.rep.Rate, p.rep.Seconds = res.Rate(), res.Took.Seconds()
		rep.Phases = append(rep.Phases, *p.rep)
		e.logf("loss: %d of %d alerts acknowledged in %.1fs, %d requests, %d client timeouts", p.rep.Acked, p.rep.Alerts,
			p.rep.Seconds, p.rep.Attempts, p.rep.ClientTimeouts)
	}
	// The verdict: read everything back until nothing acknowledged is missing, or Settle passes.
	start := time.Now()
	c := b.API()
	for {
		incs, err := c.Incidents(ctx)
		if err != nil {
			return rep, err
		}
		props, err := c.Proposals(ctx)
		if err != nil {
			return rep, err
		}
		rep.Lost = false
		for i := range rep.Phases {
			p := &rep.Phases[i]
			p.Loss = CheckLoss(p.res.Acked, p.res.Unacked, incs, props)
			rep.Lost = rep.Lost || p.Loss.Lost()
		}
		rep.Settled = time.Since(start).Seconds()
		if !rep.Lost || time.Since(start) > o.Settle {
			break
		}
		select {
		case <-ctx.Done():
			return rep, ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
	for _, p := range rep.Phases {
		l := p.Loss
		e.logf("loss: %s: %d acknowledged; %d without incident, %d without proposal, %d proposed twice, %d unlinked",
			p.Name, l.Acked, l.NoIncident, l.NoProposal, l.DuplicateProposals, l.Unlinked)
	}
	_, _ = b.Stop(5 * time.Minute)
	rep.Conditions = w.stop(b.CPU(), 0)
	return rep, nil
}

// quantileMS is the q-quantile of sorted or unsorted durations (nearest rank), in milliseconds.
func quantileMS(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s))+0.5) - 1
	i = min(max(i, 0), len(s)-1)
	return float64(s[i].Microseconds()) / 1000
}
