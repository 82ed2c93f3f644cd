package loadtest

import (
	"context"
	"math"
	"time"
)

// StormOptions configures the storm scenario: one check over Series series every Interval,
// CalmTicks ticks of the normal pattern, then every series far outside it at once.
type StormOptions struct {
	Series    int
	Interval  time.Duration
	CalmTicks int
	// Deadline bounds the waits for every incident after the storm starts and for every
	// incident to resolve after it ends.
	Deadline time.Duration
	// CardSettle is how long the storm goes on after every incident is recorded, for the cards to
	// go out (past group_wait and group_interval) before they are counted.
	CardSettle time.Duration
}

// StormReport is what an anomaly storm did to the live bot.
type StormReport struct {
	Series         int    `json:"series"`
	Interval       string `json:"interval"`
	FalseIncidents int    `json:"incidents_before_storm"` // opened by the calm pattern
	OpenBefore     int    `json:"open_before_storm"`
	// Expected is the incidents the storm must open: one for every series without one open.
	Expected int `json:"incidents_expected"`
	// Incidents recorded (smartcloudops_incidents_opened_total, scraped every second) from the
	// moment the storm switched on, and how long until all N were.
	Recorded    int     `json:"incidents_recorded"`
	AllRecorded bool    `json:"all_recorded"`
	TimeToAll   float64 `json:"seconds_until_all_recorded"` // or until the deadline
	FirstAfter  float64 `json:"seconds_until_first_recorded"`
	PerSecond   float64 `json:"incidents_per_second"` // N / (all − first)
	PeakPerSec  float64 `json:"incidents_per_second_peak"`
	// The ticks of the whole storm: from its start until the cards settled.
	StormSeconds float64 `json:"storm_seconds"`
	TicksDue     int     `json:"ticks_due"` // schedule slots in the storm
	TicksRan     int     `json:"ticks_ran"`
	TicksSkipped int     `json:"ticks_skipped"`
	EveryTickRan bool    `json:"every_tick_ran"`
	TickP50      float64 `json:"storm_tick_p50_seconds"`
	TickP99      float64 `json:"storm_tick_p99_seconds"`
	QueueWaits   int     `json:"incident_queue_full_waits"`
	// Cards the console adapter got (the one channel) once they settled; the storm's incidents
	// all share one group (notify.group_by [check, rule]).
	CardPosts         int     `json:"card_posts"`
	CardEdits         int     `json:"card_edits"`
	CardThreads       int     `json:"card_thread_replies"`
	Groups            int     `json:"groups"`
	Channels          int     `json:"channels"`
	CardsPerGroupChan float64 `json:"cards_per_group_per_channel"`
	// After the storm ends, how long until no incident is open.
	Resolved   bool    `json:"all_resolved"`
	TimeToCalm float64 `json:"seconds_until_all_resolved"`
	RSSPeak    int64   `json:"rss_peak_bytes"`
	ScrapeMax  float64 `json:"metrics_scrape_max_seconds"` // the harness' polling has a cost too
	Shutdown   float64 `json:"shutdown_seconds"`
	Conditions Conditions
}

// Storm runs the storm scenario.
func Storm(ctx context.Context, e Env, o StormOptions) (*StormReport, error) {
	dir, err := e.dir("storm")
	if err != nil {
		return nil, err
	}
	w := startWatch(ctx)
	defer w.close()
	rep := &StormReport{Series: o.Series, Interval: o.Interval.String(), Groups: 1, Channels: 1}
	prom := NewFakeProm(o.Series, DefaultPattern())
	if err := prom.Start(); err != nil {
		return nil, err
	}
	defer prom.Close()
	model, err := e.train(ctx, prom, o.Interval, dir)
	if err != nil {
		return nil, err
	}
	b, err := NewBot(ctx, e.Bin, dir, BotSpec{Prometheus: prom.URL, Checks: []map[string]any{checkSpec(model, o.Interval)}})
	if err != nil {
		return nil, err
	}
	defer b.Kill()
	if err := b.Start(ctx); err != nil {
		return nil, err
	}
	e.logf("storm: %d series every %s; %d calm ticks first", o.Series, o.Interval, o.CalmTicks)
	m0, err := waitMetrics(ctx, b, time.Second, o.Deadline+time.Duration(o.CalmTicks)*o.Interval, "the calm ticks", func(m Metrics) bool {
		return m.Sum(mPoints, checkLoad) >= float64(o.Series*o.CalmTicks)
	})
	if err != nil {
		return rep, err
	}
	rep.FalseIncidents = int(m0.Sum(mOpened, nil))
	// A series the calm pattern already has an incident open for opens none in the storm.
	rep.OpenBefore = int(m0.Sum(mOpen, nil))
	rep.Expected = o.Series - rep.OpenBefore
	prom.SetStorm(true)
	start := time.Now()
	e.logf("storm: on")
	last, lastAt := 0.0, start
	var grew time.Time // the scrape at which the count last grew
	_, err = waitMetrics(ctx, b, time.Second, o.Deadline, "every incident of the storm", func(m Metrics) bool {
		rep.ScrapeMax = max(rep.ScrapeMax, m.Took.Seconds())
		n := m.Sum(mOpened, nil) - m0.Sum(mOpened, nil)
		if n > 0 && rep.FirstAfter == 0 {
			rep.FirstAfter = m.At.Sub(start).Seconds()
		}
		if n > last {
			if dt := m.At.Sub(lastAt).Seconds(); dt > 0 {
				rep.PeakPerSec = max(rep.PeakPerSec, (n-last)/dt)
			}
			grew = m.At
		}
		last, lastAt = n, m.At
		rep.Recorded = int(n)
		return n >= float64(rep.Expected)
	})
	rep.AllRecorded = err == nil
	rep.TimeToAll = time.Since(start).Seconds()
	if rep.AllRecorded {
		rep.TimeToAll = grew.Sub(start).Seconds()
	}
	if rep.Recorded > 0 {
		// The counter is read once a second: a span shorter than that is not resolved.
		rep.PerSecond = float64(rep.Recorded) / max(grew.Sub(start).Seconds()-rep.FirstAfter, 1)
	}
	e.logf("storm: %d of %d incidents in %.1fs; the storm goes on for %s while the cards settle", rep.Recorded, rep.Expected,
		rep.TimeToAll, o.CardSettle)
	// The storm goes on (every series stays anomalous, its card edited with new values) past
	// group_wait and group_interval, then the cards and the ticks of the whole storm are counted.
	settled := time.Now().Add(o.CardSettle)
	m2, err := waitMetrics(ctx, b, time.Second, o.CardSettle+time.Minute, "the cards to settle", func(m Metrics) bool {
		rep.ScrapeMax = max(rep.ScrapeMax, m.Took.Seconds())
		return m.At.After(settled)
	})
	if err != nil {
		return rep, err
	}
	h := m2.Histogram(mTick, checkLoad).Sub(m0.Histogram(mTick, checkLoad))
	rep.StormSeconds = m2.At.Sub(start).Seconds()
	rep.TicksRan, rep.TickP50, rep.TickP99 = int(h.Count), h.Quantile(0.5), h.Quantile(0.99)
	rep.TicksDue = int(math.Floor(m2.At.Sub(m0.At).Seconds() / o.Interval.Seconds()))
	rep.TicksSkipped = int(m2.Sum(mSkipped, checkLoad) - m0.Sum(mSkipped, checkLoad))
	// A tick in progress at either end of the window may be counted or not.
	rep.EveryTickRan = rep.TicksSkipped == 0 && rep.TicksRan >= rep.TicksDue-1
	rep.QueueWaits = int(m2.Sum(mQueue, nil) - m0.Sum(mQueue, nil))
	cards := func(m Metrics, op string) int {
		return int(m.Sum(mCards, map[string]string{"platform": "console", "op": op}))
	}
	// Posts since the bot started: a card the group got for an incident before the storm is the
	// card the storm's incidents join. Edits and thread replies are the storm's.
	rep.CardPosts = cards(m2, "post")
	rep.CardEdits, rep.CardThreads = cards(m2, "edit")-cards(m0, "edit"), cards(m2, "thread")-cards(m0, "thread")
	rep.CardsPerGroupChan = float64(rep.CardPosts) / float64(rep.Groups*rep.Channels)
	e.logf("storm: ticks %d ran of %d due, %d skipped; %d card posts, %d edits", rep.TicksRan, rep.TicksDue, rep.TicksSkipped,
		rep.CardPosts, rep.CardEdits)
	prom.SetStorm(false)
	calm := time.Now()
	e.logf("storm: off")
	_, err = waitMetrics(ctx, b, 2*time.Second, o.Deadline, "every incident to resolve", func(m Metrics) bool {
		return m.Sum(mOpen, nil) == 0
	})
	rep.Resolved = err == nil
	rep.TimeToCalm = time.Since(calm).Seconds()
	_, rep.RSSPeak = b.ProcStatus()
	took, _ := b.Stop(5 * time.Minute)
	rep.Shutdown = took.Seconds()
	rep.Conditions = w.stop(b.CPU(), 0)
	return rep, nil
}
