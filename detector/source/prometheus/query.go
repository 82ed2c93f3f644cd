package prometheus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// Series is one result series: its full label set and its points in time order. An instant
// query gives one point per series.
type Series = detector.Series

// ErrTypeTransport is the QueryError.Type of a query that could not reach the server or whose
// connection failed. The other types are the server's own ("bad_data", "execution", "timeout",
// "canceled", ...) or say what stood in for them ("server_error" and "client_error" for an HTTP
// status without an API answer, "bad_response" for an answer that could not be read).
const ErrTypeTransport = "transport"

// QueryError is returned by Instant, Range and Source.Fetch for every failed query.
type QueryError struct {
	// Query is the PromQL text as given.
	Query string
	// Type is the Prometheus API error type ("bad_data", "execution", "timeout", ...) or
	// ErrTypeTransport.
	Type string
	// Err is the underlying error.
	Err error
}

func (e *QueryError) Error() string {
	// The API's own errors already start with their type; say it once.
	msg := strings.TrimPrefix(e.Err.Error(), e.Type+": ")
	return fmt.Sprintf("prometheus: query %q: %s: %s", e.Query, e.Type, msg)
}

func (e *QueryError) Unwrap() error { return e.Err }

// UserError reports whether the query itself is at fault (bad PromQL or a bad range), so the
// message is safe and useful to show to the person who typed it.
func (e *QueryError) UserError() bool { return e.Type == errBadData }

// Instant evaluates query at t (the server's now when t is zero) and returns one Series per
// result element, each with a single point.
func (c *Client) Instant(ctx context.Context, query string, t time.Time) ([]Series, error) {
	if query == "" {
		return nil, &QueryError{Query: query, Type: errBadData, Err: errors.New("empty query")}
	}
	form := url.Values{"query": {query}}
	if !t.IsZero() {
		form.Set("time", formatTime(t))
	}
	res, err := c.query(ctx, query, "api/v1/query", form, nil, 0)
	return res.series, err
}

// Range evaluates query from start to end every step and returns one Series per result series.
func (c *Client) Range(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]Series, error) {
	switch {
	case query == "":
		return nil, &QueryError{Query: query, Type: errBadData, Err: errors.New("empty query")}
	case step <= 0:
		return nil, &QueryError{Query: query, Type: errBadData, Err: fmt.Errorf("step %s must be positive", step)}
	case start.IsZero() || end.IsZero():
		return nil, &QueryError{Query: query, Type: errBadData, Err: errors.New("start and end are required")}
	case end.Before(start):
		return nil, &QueryError{Query: query, Type: errBadData,
			Err: fmt.Errorf("end %s is before start %s", end.Format(time.RFC3339), start.Format(time.RFC3339))}
	}
	res, err := c.query(ctx, query, "api/v1/query_range", rangeForm(query, start, end, step), nil, 0)
	return res.series, err
}

func rangeForm(query string, start, end time.Time, step time.Duration) url.Values {
	return url.Values{"query": {query}, "start": {formatTime(start)}, "end": {formatTime(end)},
		"step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}}
}

// formatTime writes t as seconds since the epoch, as the API takes it.
func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.Unix())+float64(t.Nanosecond())/1e9, 'f', -1, 64)
}

// query runs one query within the client's timeout, which covers the wait for a free query
// slot, the request and the reading of the answer; the server is told to give up when the
// client will.
func (c *Client) query(ctx context.Context, query, endpoint string, form url.Values, cache *labelCache, hint int) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	waitStart := time.Now()
	if err := c.acquire(ctx); err != nil {
		return result{}, c.waitError(ctx, query, time.Since(waitStart), err)
	}
	defer c.release()
	if dl, ok := ctx.Deadline(); ok {
		form.Set("timeout", strconv.FormatFloat(time.Until(dl).Truncate(time.Millisecond).Seconds(), 'f', -1, 64))
	}
	res, err := c.post(ctx, endpoint, form, cache, hint)
	if err != nil {
		return result{}, c.wrap(ctx, query, err)
	}
	if len(res.warnings) > 0 {
		c.log.Warn("prometheus query returned warnings", "query", query, "warnings", res.warnings)
	}
	if res.skipped > 0 {
		c.log.Debug("prometheus query returned native histogram samples; skipped", "query", query, "samples", res.skipped)
	}
	return res, nil
}

// post sends the query as a form, and again as a GET when the server (or a proxy in front of
// it) refuses POST, as client_golang's API client does.
func (c *Client) post(ctx context.Context, endpoint string, form url.Values, cache *labelCache, hint int) (result, error) {
	u := c.base.JoinPath(endpoint) // #nosec G125 -- endpoint is one of the API's fixed paths, never input
	encoded := form.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(encoded))
	if err != nil {
		return result{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// An idempotent request may be retried by the transport on a connection that broke.
	req.Header["Idempotency-Key"] = nil
	resp, err := c.hc.Do(req)
	if err != nil {
		return result{}, err
	}
	switch resp.StatusCode {
	case http.StatusForbidden, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		drain(resp.Body)
		u.RawQuery = encoded
		if req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil); err != nil {
			return result{}, err
		}
		if resp, err = c.hc.Do(req); err != nil {
			return result{}, err
		}
	}
	defer resp.Body.Close()
	if cache != nil {
		cache.begin()
	}
	res, err := decodeResponse(resp.StatusCode, resp.Body, cache, hint)
	if err == nil && cache != nil {
		cache.sweep()
	}
	drain(resp.Body)
	return res, err
}

// drain reads what is left of a small body so the connection can be used again.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}

func (c *Client) acquire(ctx context.Context) error {
	select {
	case c.slots <- struct{}{}:
		return nil
	default:
	}
	select {
	case c.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) release() { <-c.slots }

// waitError says that a query never got a slot.
func (c *Client) waitError(ctx context.Context, query string, waited time.Duration, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &QueryError{Query: query, Type: errTimeout, Err: fmt.Errorf(
			"waited %s for one of the %d query slots to %s (prometheus.max_concurrent_queries): %w",
			waited.Round(time.Millisecond), cap(c.slots), c.url, err)}
	}
	return &QueryError{Query: query, Type: errCanceled, Err: err}
}

func (c *Client) wrap(ctx context.Context, query string, err error) error {
	var apiErr *apiError
	var syn *syntaxError
	var shape *shapeError
	switch {
	case errors.As(err, &apiErr):
		typ := apiErr.Type
		if typ == "" {
			typ = errBadResponse
		}
		return &QueryError{Query: query, Type: typ, Err: err}
	case errors.As(err, &syn) || errors.As(err, &shape):
		return &QueryError{Query: query, Type: errBadResponse, Err: err}
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &QueryError{Query: query, Type: errTimeout, Err: fmt.Errorf("no answer from %s within %s: %w", c.url, c.timeout, err)}
	case errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled):
		return &QueryError{Query: query, Type: errCanceled, Err: err}
	default:
		return &QueryError{Query: query, Type: ErrTypeTransport, Err: &obs.UnavailableError{Service: "Prometheus", Addr: c.url, Err: err}}
	}
}
