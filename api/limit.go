package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// limiter is a token bucket per API key: each key may make rate requests a second on average and
// burst requests at once. Buckets exist only for authenticated keys, so their number is bounded
// by the number of stored keys.
type limiter struct {
	rate  float64
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// allow takes a token from key's bucket, or says how long until one is available.
func (l *limiter) allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(l.burst, b.tokens+el*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, wait
}

// retryAfter is the Retry-After value for wait: whole seconds, at least 1.
func retryAfter(wait time.Duration) string {
	return fmt.Sprint(max(1, int64(math.Ceil(wait.Seconds()))))
}

// timeoutWriter buffers a handler's response so that the timeout can replace it.
type timeoutWriter struct {
	mu       sync.Mutex
	h        http.Header
	buf      bytes.Buffer
	code     int
	timedOut bool
}

func (tw *timeoutWriter) Header() http.Header { return tw.h }

func (tw *timeoutWriter) Write(p []byte) (int, error) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.timedOut {
		return 0, http.ErrHandlerTimeout
	}
	if tw.code == 0 {
		tw.code = http.StatusOK
	}
	return tw.buf.Write(p)
}

func (tw *timeoutWriter) WriteHeader(code int) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.timedOut || tw.code != 0 {
		return
	}
	tw.code = code
}

// withDeadline runs h with a deadline of d on its context, for handlers that only read the store
// and so return soon after their context ends; serve answers their context error as 503 timeout.
// It saves the goroutine and buffer of withTimeout on the busiest routes. A panic in h is logged
// with its stack and answered as an internal error, never shown.
func withDeadline(h http.Handler, d time.Duration, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		r = r.WithContext(ctx)
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(ctx, "api handler panicked", obs.KeyErr, fmt.Sprint(p), "stack", string(debug.Stack()))
				writeError(w, r, internalError(r))
			}
		}()
		h.ServeHTTP(w, r)
	})
}

// withTimeout runs h with a deadline of d on its context and answers 503 timeout when h has not
// finished by then, for handlers that may wait on more than the store. A handler that does not
// watch its context (an approval waiting for its action) goes on in the background; its response
// is dropped. A panic in h is logged with its stack and answered as an internal error.
func withTimeout(h http.Handler, d time.Duration, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		r = r.WithContext(ctx)
		tw := &timeoutWriter{h: make(http.Header)}
		done := make(chan struct{})
		panicked := make(chan any, 1)
		go func() {
			defer func() {
				if p := recover(); p != nil {
					log.ErrorContext(ctx, "api handler panicked", obs.KeyErr, fmt.Sprint(p), "stack", string(debug.Stack()))
					panicked <- p
					return
				}
				close(done)
			}()
			h.ServeHTTP(tw, r)
		}()
		select {
		case <-panicked:
			writeError(w, r, internalError(r))
		case <-done:
			tw.mu.Lock()
			defer tw.mu.Unlock()
			dst := w.Header()
			for k, v := range tw.h {
				dst[k] = v
			}
			if tw.code == 0 {
				tw.code = http.StatusOK
			}
			w.WriteHeader(tw.code)
			_, _ = w.Write(tw.buf.Bytes())
		case <-ctx.Done():
			tw.mu.Lock()
			tw.timedOut = true
			tw.mu.Unlock()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				log.WarnContext(ctx, "api handler timed out", "method", r.Method, "path", r.URL.Path, "timeout", d)
				writeError(w, r, timeoutError(r, d))
				return
			}
			// The client went away; nobody reads the answer.
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
}

func timeoutError(r *http.Request, d time.Duration) *Error {
	return errorf(http.StatusServiceUnavailable, CodeTimeout,
		"the request took longer than %s and was abandoned; it may still complete (ref %s)", d, obs.Correlation(r.Context()))
}
