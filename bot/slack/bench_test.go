package slack

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/bot/slack/slackfake"
)

// BenchmarkAckLatency drives the adapter through the loopback fake at a steady 200 events/s
// (a mix of mentions, slash commands and button clicks) and measures, for every envelope,
// the time from the fake writing it to the fake reading its ack. One benchmark op is one
// event; run it with -benchtime=2000x for ten seconds of load. It reports p50/p99 in
// milliseconds, how many envelopes were acked, and how many events never reached the
// handler (lost).
func BenchmarkAckLatency(b *testing.B) {
	const rate = 200    // events per second
	var sentAt sync.Map // envelope ID → time.Time
	var mu sync.Mutex
	var lat []time.Duration
	fo := slackfake.Options{OnAck: func(a slackfake.Ack) {
		if v, ok := sentAt.Load(a.EnvelopeID); ok {
			mu.Lock()
			lat = append(lat, a.At.Sub(v.(time.Time)))
			mu.Unlock()
		}
	}}
	h := newHarnessWith(b, fo, func(o *Options) { o.Workers = 8 })
	h.record = false
	var handled atomic.Int64
	h.run(func(ctx context.Context, e bot.Event) bot.Message {
		handled.Add(1)
		// Some work per event, as a command lookup would do.
		select {
		case <-time.After(2 * time.Millisecond):
		case <-ctx.Done():
		}
		return bot.Message{}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute+time.Duration(b.N)*time.Second/rate)
	defer cancel()

	b.ResetTimer()
	start := time.Now()
	i := 0
	for b.Loop() {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / rate)); d > 0 {
			time.Sleep(d)
		}
		env := fmt.Sprintf("e%d", i)
		var frame []byte
		switch i % 3 {
		case 0:
			frame = slackfake.AppMention(env, fmt.Sprintf("Ev%d", i), "U2", "C1", "<@UBOT> status")
		case 1:
			frame = slackfake.SlashCommand(env, "/ops", "incidents", "U2", "alice", "C1", "")
		default:
			frame = slackfake.BlockAction(env, "U2", "alice", "C1", "1700000000.000200", "approve", fmt.Sprintf("p-%d", i), "")
		}
		sentAt.Store(env, time.Now())
		if err := h.fake.Send(ctx, frame); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.StopTimer()
	for handled.Load() < int64(i) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	// Acks travel in order on one socket: once the last is in, all are.
	if _, err := h.fake.WaitAck(ctx, fmt.Sprintf("e%d", i-1)); err != nil {
		b.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(len(lat)), "acked")
	b.ReportMetric(float64(int64(i)-handled.Load()), "lost")
	b.ReportMetric(float64(i)/time.Since(start).Seconds(), "events/s")
}
