package prometheus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// Series is one result series: its full label set and its points in time order. An instant
// query gives one point per series.
type Series struct {
	Labels map[string]string
	Points []detector.Point
}

// Error types reported in QueryError.Type besides the server's own ("bad_data", "execution",
// "timeout", "canceled", "server_error", "client_error", "bad_response").
const (
	// ErrTypeTransport means the server could not be reached or the connection failed.
	ErrTypeTransport = "transport"
	// ErrTypeUnsupported means the result had a type this source cannot turn into series.
	ErrTypeUnsupported = "unsupported_result"
)

// QueryError is returned by Instant and Range for every failed query.
type QueryError struct {
	// Query is the PromQL text as given.
	Query string
	// Type is the Prometheus API error type ("bad_data", "execution", "timeout", ...) or one of
	// ErrTypeTransport and ErrTypeUnsupported.
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
func (e *QueryError) UserError() bool { return e.Type == string(promv1.ErrBadData) }

// Instant evaluates query at t (the server's now when t is zero) and returns one Series per
// result element, each with a single point.
func (c *Client) Instant(ctx context.Context, query string, t time.Time) ([]Series, error) {
	if query == "" {
		return nil, &QueryError{Query: query, Type: string(promv1.ErrBadData), Err: errors.New("empty query")}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	v, warnings, _, err := c.api.Query(ctx, query, t, promv1.WithTimeout(c.timeout))
	if err != nil {
		return nil, c.wrap(ctx, query, err)
	}
	c.warn(query, warnings)
	return c.convert(query, v)
}

// Range evaluates query from start to end every step and returns one Series per result series.
func (c *Client) Range(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]Series, error) {
	switch {
	case query == "":
		return nil, &QueryError{Query: query, Type: string(promv1.ErrBadData), Err: errors.New("empty query")}
	case step <= 0:
		return nil, &QueryError{Query: query, Type: string(promv1.ErrBadData), Err: fmt.Errorf("step %s must be positive", step)}
	case start.IsZero() || end.IsZero():
		return nil, &QueryError{Query: query, Type: string(promv1.ErrBadData), Err: errors.New("start and end are required")}
	case end.Before(start):
		return nil, &QueryError{Query: query, Type: string(promv1.ErrBadData),
			Err: fmt.Errorf("end %s is before start %s", end.Format(time.RFC3339), start.Format(time.RFC3339))}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	r := promv1.Range{Start: start, End: end, Step: step}
	v, warnings, _, err := c.api.QueryRange(ctx, query, r, promv1.WithTimeout(c.timeout))
	if err != nil {
		return nil, c.wrap(ctx, query, err)
	}
	c.warn(query, warnings)
	return c.convert(query, v)
}

func (c *Client) warn(query string, warnings promv1.Warnings) {
	if len(warnings) > 0 {
		c.log.Warn("prometheus query returned warnings", "query", query, "warnings", []string(warnings))
	}
}

func (c *Client) wrap(ctx context.Context, query string, err error) error {
	var apiErr *promv1.Error
	switch {
	case errors.As(err, &apiErr):
		typ := string(apiErr.Type)
		if typ == "" {
			typ = string(promv1.ErrBadResponse)
		}
		return &QueryError{Query: query, Type: typ, Err: err}
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &QueryError{Query: query, Type: string(promv1.ErrTimeout), Err: fmt.Errorf("no answer from %s within %s: %w", c.url, c.timeout, err)}
	case errors.Is(err, context.Canceled):
		return &QueryError{Query: query, Type: string(promv1.ErrCanceled), Err: err}
	default:
		return &QueryError{Query: query, Type: ErrTypeTransport, Err: &obs.UnavailableError{Service: "Prometheus", Addr: c.url, Err: err}}
	}
}

func (c *Client) convert(query string, v model.Value) ([]Series, error) {
	out, skipped, err := translate(v)
	if err != nil {
		return nil, &QueryError{Query: query, Type: ErrTypeUnsupported, Err: err}
	}
	if skipped > 0 {
		c.log.Debug("prometheus query returned native histogram samples; skipped", "query", query, "samples", skipped)
	}
	return out, nil
}

// translate turns a query result into series. It returns how many native histogram samples it
// skipped.
func translate(v model.Value) ([]Series, int, error) {
	switch v := v.(type) {
	case nil:
		return nil, 0, nil
	case model.Vector:
		out := make([]Series, 0, len(v))
		skipped := 0
		for _, s := range v {
			if s == nil {
				continue
			}
			if s.Histogram != nil {
				skipped++
				continue
			}
			out = append(out, Series{
				Labels: labels(s.Metric),
				Points: []detector.Point{{T: s.Timestamp.Time(), V: float64(s.Value)}},
			})
		}
		return out, skipped, nil
	case model.Matrix:
		out := make([]Series, 0, len(v))
		skipped := 0
		for _, ss := range v {
			if ss == nil {
				continue
			}
			skipped += len(ss.Histograms)
			if len(ss.Values) == 0 {
				continue
			}
			pts := make([]detector.Point, len(ss.Values))
			for i, p := range ss.Values {
				pts[i] = detector.Point{T: p.Timestamp.Time(), V: float64(p.Value)}
			}
			out = append(out, Series{Labels: labels(ss.Metric), Points: pts})
		}
		return out, skipped, nil
	case *model.Scalar:
		if v == nil {
			return nil, 0, nil
		}
		return []Series{{
			Labels: map[string]string{},
			Points: []detector.Point{{T: v.Timestamp.Time(), V: float64(v.Value)}},
		}}, 0, nil
	default:
		return nil, 0, fmt.Errorf("result type %s cannot be turned into series", v.Type())
	}
}

func labels(m model.Metric) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[string(k)] = string(v)
	}
	return out
}
