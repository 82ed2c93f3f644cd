package prometheus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/smartcloudops/smartcloudops/detector"
)

// The reference is how this package read answers before it had its own decoder: client_golang's
// API client, which reads the whole body and decodes it into a model.Value, then translate. The
// tests hold the decoder to it.

// answerTransport answers every request with one status code and body, without a network.
type answerTransport struct {
	code int
	body []byte
}

func (t answerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: t.code, Status: http.StatusText(t.code), Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(t.body)), Request: r, ContentLength: int64(len(t.body))}, nil
}

// referenceAnswer is what the reference made of an answer.
type referenceAnswer struct {
	series   []Series
	warnings []string
	skipped  int
	errType  string // empty when it succeeded
	err      error
}

// referenceDecode decodes an answer to an instant query as the reference did.
func referenceDecode(code int, body []byte) referenceAnswer {
	c, err := promapi.NewClient(promapi.Config{Address: "http://prometheus.test", RoundTripper: answerTransport{code, body}})
	if err != nil {
		panic(err)
	}
	v, warnings, _, err := promv1.NewAPI(c).Query(context.Background(), "q", time.Time{})
	if err != nil {
		var apiErr *promv1.Error
		if !errors.As(err, &apiErr) {
			return referenceAnswer{errType: "other", err: err}
		}
		typ := string(apiErr.Type)
		if typ == "" {
			typ = errBadResponse
		}
		return referenceAnswer{errType: typ, err: err}
	}
	series, skipped, err := translate(v)
	if err != nil {
		return referenceAnswer{errType: "unsupported_result", err: err}
	}
	if series == nil {
		series = []Series{}
	}
	return referenceAnswer{series: series, warnings: warnings, skipped: skipped}
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

// sameSeries says how got differs from want, or returns "" when they are equal: labels, point
// times to the nanosecond and values to the bit (every NaN alike).
func sameSeries(got, want []Series) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d series, want %d", len(got), len(want))
	}
	for i := range want {
		if len(got[i].Labels) != len(want[i].Labels) {
			return fmt.Sprintf("series %d labels %v, want %v", i, got[i].Labels, want[i].Labels)
		}
		for k, v := range want[i].Labels {
			if g, ok := got[i].Labels[k]; !ok || g != v {
				return fmt.Sprintf("series %d labels %q, want %q", i, got[i].Labels, want[i].Labels)
			}
		}
		if len(got[i].Points) != len(want[i].Points) {
			return fmt.Sprintf("series %d has %d points, want %d", i, len(got[i].Points), len(want[i].Points))
		}
		for j, w := range want[i].Points {
			g := got[i].Points[j]
			if !g.T.Equal(w.T) || !sameFloat(g.V, w.V) {
				return fmt.Sprintf("series %d point %d = %v, want %v", i, j, g, w)
			}
		}
	}
	return ""
}

func sameFloat(a, b float64) bool { return a == b && (a != 0 || 1/a == 1/b) || (a != a && b != b) }
