package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/smartcloudops/smartcloudops/remediation"
)

// send delivers r, retrying connection errors and 5xx responses with exponential backoff.
func (a *Action) send(ctx context.Context, r *request) (remediation.Result, error) {
	attempts := a.o.MaxRetries + 1
	wait := a.o.Backoff
	var lastErr error
	for attempt := 1; attempt <= attempts; attempt++ {
		if attempt > 1 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return remediation.Result{}, fmt.Errorf("webhook %s: stopped before attempt %d: %w (last error: %w)", redact(r.u), attempt, ctx.Err(), lastErr)
			case <-t.C:
			}
			wait = min(2*wait, a.o.MaxBackoff)
		}
		res, err, retry := a.attempt(ctx, r, attempt)
		log := a.log.With("url", redact(r.u), "attempt", attempt, "of", attempts)
		if err == nil {
			log.InfoContext(ctx, "webhook delivered", "summary", res.Summary)
			return res, nil
		}
		lastErr = err
		if retry && ctx.Err() != nil {
			// Stopped while a retry was due: say so, with the last failure.
			err = fmt.Errorf("webhook %s: stopped after attempt %d: %w (last error: %w)", redact(r.u), attempt, ctx.Err(), lastErr)
		}
		if !retry || ctx.Err() != nil {
			log.WarnContext(ctx, "webhook failed", "err", err)
			return res, err
		}
		log.WarnContext(ctx, "webhook attempt failed, retrying", "err", err, "backoff", wait)
	}
	return remediation.Result{}, lastErr
}

// attempt makes one request. retry reports whether a failure is worth another attempt.
func (a *Action) attempt(ctx context.Context, r *request, n int) (res remediation.Result, err error, retry bool) {
	ctx, cancel := context.WithTimeout(ctx, a.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.method, r.u.String(), bytes.NewReader(r.body))
	if err != nil {
		return res, fmt.Errorf("webhook %s: %w", redact(r.u), err), false
	}
	req.Header.Set("Content-Type", r.contentType)
	req.Header.Set("User-Agent", "smartcloudops-webhook")
	if r.key != "" {
		req.Header.Set(HeaderIdempotency, r.key)
	}
	if len(a.o.Secret) > 0 {
		ts := strconv.FormatInt(a.o.Now().Unix(), 10)
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, Sign(a.o.Secret, ts, r.body))
	}
	resp, err := a.client.Do(req)
	if err != nil {
		// A refused address stays refused: retrying it is no use.
		return res, fmt.Errorf("webhook %s: attempt %d: %w", redact(r.u), n, err), !errors.Is(err, ErrHostNotAllowed)
	}
	defer resp.Body.Close()
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, int64(a.o.OutputCap)+1))
	// Drain a little more so the connection can be reused, but never wait on an endless body.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	out := capText(body, a.o.OutputCap)
	res.Output = out
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		serr := &StatusError{URL: redact(r.u), Code: resp.StatusCode, Body: firstLine(out), Attempts: n}
		return res, serr, serr.Retryable()
	}
	if readErr != nil {
		// The receiver accepted the request; a cut-off response body does not undo that.
		out += "\n[response body incomplete: " + readErr.Error() + "]"
		res.Output = out
	}
	res.Summary = fmt.Sprintf("%s %s -> %s", r.method, redact(r.u), resp.Status)
	if n > 1 {
		res.Summary += fmt.Sprintf(" (attempt %d)", n)
	}
	return res, nil, false
}

func capText(b []byte, limit int) string {
	truncated := len(b) > limit
	if truncated {
		b = b[:limit]
	}
	s := strings.ToValidUTF8(string(b), string(utf8.RuneError))
	if truncated {
		s += "\n[truncated]"
	}
	return s
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return truncate(s, 200)
}
