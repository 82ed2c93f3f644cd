package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// stageQueue is how many detector ticks may wait for the incident stage. A tick of a storm is
// one item however many series it holds, so the queue fills only when the store falls behind.
const stageQueue = 256

// stage carries detector ticks to the incident stage and the rules through a bounded queue, so a
// check's tick never waits for incident writes, rule evaluation or chat: the check enqueues its
// tick and goes on. When the queue is full the check waits (the store is the bottleneck, and
// dropping a tick would lose incidents); the wait is counted. At shutdown the stage finishes what
// is queued once the detector has stopped, so no episode's end is lost.
type stage struct {
	b        *Bot
	q        chan stageItem
	depth    prometheus.GaugeFunc
	full     prometheus.Counter
	detector <-chan struct{} // closed when the detector has stopped
}

type stageItem struct {
	cid  string
	tick detector.Tick
}

func newStage(b *Bot, detectorDone <-chan struct{}) *stage {
	s := &stage{b: b, q: make(chan stageItem, stageQueue), detector: detectorDone,
		full: prometheus.NewCounter(prometheus.CounterOpts{Name: "smartcloudops_incident_queue_full_total",
			Help: "Detector ticks that waited because the incident stage's queue was full."})}
	s.depth = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "smartcloudops_incident_queue_depth",
		Help: "Detector ticks waiting for the incident stage."}, func() float64 { return float64(len(s.q)) })
	b.regr.MustRegister(s.depth, s.full)
	return s
}

// enqueue hands a tick to the stage (the detector's OnTick).
func (s *stage) enqueue(ctx context.Context, t detector.Tick) {
	it := stageItem{cid: obs.Correlation(ctx), tick: t}
	select {
	case s.q <- it:
		return
	default:
	}
	s.full.Inc()
	select {
	case s.q <- it:
	case <-ctx.Done():
		// Only at shutdown, after the stage has drained: the series' next tick after a restart
		// reports its open episode again.
		s.b.log.WarnContext(ctx, "tick not handed to the incident stage: shutting down", obs.KeyCheck, t.Check)
	}
}

// run processes ticks until ctx ends, then, once the detector has stopped, what is still queued.
func (s *stage) run(ctx context.Context) error {
	for {
		select {
		case it := <-s.q:
			s.process(ctx, it)
			continue
		case <-ctx.Done():
		}
		break
	}
	drain := context.WithoutCancel(ctx)
	select {
	case <-s.detector:
	case <-time.After(30 * time.Second):
		s.b.log.Warn("the detector did not stop within 30s; the incident stage stops anyway")
	}
	for {
		select {
		case it := <-s.q:
			s.process(drain, it)
		default:
			return nil
		}
	}
}

func (s *stage) process(ctx context.Context, it stageItem) {
	s.b.processTick(obs.WithCorrelation(ctx, it.cid), it.tick)
}
