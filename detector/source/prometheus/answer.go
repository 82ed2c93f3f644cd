package prometheus

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// The decoder reads a /api/v1/query or /api/v1/query_range answer straight from the response
// body into series: the body is never held whole, no intermediate model.Value is built, points
// of many series share a few large arrays, and label strings repeated across series are shared.
// With a labelCache (a check's Source) a series whose label object is byte for byte the one of
// an earlier tick gets the same label map back, so a steady tick allocates nothing per series
// but its points.
//
// It follows the answers of client_golang's API client, which this package used before: the
// same error types for the same HTTP status codes and envelopes, the same timestamps to the
// millisecond and the same sample values. Where client_golang accepts a shape Prometheus never
// sends (a sample without a value, an answer without "status" or "data", a null where an array
// belongs), this decoder refuses it with a *shapeError instead of making up zero values.

// Error types of the Prometheus API, and of answers that are not one.
const (
	errBadData     = "bad_data"
	errTimeout     = "timeout"
	errCanceled    = "canceled"
	errBadResponse = "bad_response"
	errServer      = "server_error"
	errClient      = "client_error"
)

// apiError is an error the API answered with, or the HTTP status standing in for one.
type apiError struct {
	Type string
	Msg  string
}

func (e *apiError) Error() string { return e.Type + ": " + e.Msg }

// shapeError is well-formed JSON that is not a query answer this source can read.
type shapeError struct {
	msg    string
	offset int64
}

func (e *shapeError) Error() string { return fmt.Sprintf("%s at byte %d", e.msg, e.offset) }

func (s *scanner) shapef(format string, args ...any) error {
	return &shapeError{msg: fmt.Sprintf(format, args...), offset: s.offset()}
}

// result is a decoded query answer.
type result struct {
	series   []Series
	warnings []string
	// skipped counts native histogram samples, which are not float series.
	skipped int
}

// decodeResponse reads an API answer with its HTTP status code, as client_golang's API client
// would: an error status gives an *apiError typed from the body or the code, a 2xx status a
// result or an *apiError from an "error" envelope. Malformed bodies give a *syntaxError or a
// *shapeError, a body that could not be read a *readError. cache may be nil; hint is the
// number of series expected.
func decodeResponse(code int, body io.Reader, cache *labelCache, hint int) (result, error) {
	if code/100 != 2 {
		if code != http.StatusBadRequest && code != http.StatusUnprocessableEntity {
			return result{}, statusError(code)
		}
		d := newDecoder(body, nil, 0)
		env, err := d.envelope(false)
		if err != nil {
			if re, ok := err.(*readError); ok {
				return result{}, re
			}
			return result{}, statusError(code)
		}
		if env.status == "success" {
			return result{}, &apiError{Type: errBadResponse, Msg: "inconsistent body for response code"}
		}
		if env.errorType == "" {
			env.errorType = errClient
		}
		if env.err == "" {
			env.err = fmt.Sprintf("client error: %d", code)
		}
		return result{}, &apiError{Type: env.errorType, Msg: env.err}
	}
	d := newDecoder(body, cache, hint)
	env, err := d.envelope(true)
	switch {
	case err != nil:
		return result{}, err
	case env.status == "error":
		return result{}, &apiError{Type: env.errorType, Msg: env.err}
	case env.status != "success":
		return result{}, &shapeError{msg: fmt.Sprintf("status %q is neither success nor error", env.status)}
	case !env.data:
		return result{}, &shapeError{msg: "success without data"}
	}
	d.res.warnings = env.warnings
	if d.res.series == nil {
		d.res.series = []Series{}
	}
	return d.res, nil
}

// statusError stands for a body that is not an API error envelope.
func statusError(code int) *apiError {
	switch code / 100 {
	case 4:
		return &apiError{Type: errClient, Msg: fmt.Sprintf("client error: %d", code)}
	case 5:
		return &apiError{Type: errServer, Msg: fmt.Sprintf("server error: %d", code)}
	}
	return &apiError{Type: errBadResponse, Msg: fmt.Sprintf("bad response code %d", code)}
}

type envelope struct {
	status, errorType, err string
	data                   bool
	warnings               []string
}

// envelope reads the whole answer; the data only when wantData.
func (d *decoder) envelope(wantData bool) (envelope, error) {
	var env envelope
	s := d.s
	c, err := s.peek()
	if err != nil {
		return env, err
	}
	if c != '{' {
		if err := s.skip(); err != nil {
			return env, err
		}
		return env, s.shapef("the answer is not a JSON object")
	}
	s.pos++
	for first := true; ; first = false {
		ok, err := s.more('}', first)
		if err != nil {
			return env, err
		}
		if !ok {
			break
		}
		if d.key, err = s.key(d.key); err != nil {
			return env, err
		}
		switch {
		case bytes.EqualFold(d.key, []byte("status")):
			err = d.optString(&env.status)
		case bytes.EqualFold(d.key, []byte("errorType")):
			err = d.optString(&env.errorType)
		case bytes.EqualFold(d.key, []byte("error")):
			err = d.optString(&env.err)
		case bytes.EqualFold(d.key, []byte("warnings")):
			env.warnings, err = d.strings()
		case bytes.EqualFold(d.key, []byte("infos")):
			_, err = d.strings() // not shown, but as strict as client_golang
		case wantData && bytes.EqualFold(d.key, []byte("data")):
			var null bool
			if null, err = s.isNull(); err == nil && !null {
				d.res = result{series: d.res.series[:0]}
				d.pts = nil
				err = d.data()
				env.data = err == nil
			}
		default:
			err = s.skip()
		}
		if err != nil {
			return env, err
		}
	}
	return env, s.atEnd()
}

// optString reads a string or null (which leaves *v alone).
func (d *decoder) optString(v *string) error {
	if null, err := d.s.isNull(); err != nil || null {
		return err
	}
	b, err := d.s.str(d.str[:0])
	if err != nil {
		return err
	}
	*v = string(b)
	return nil
}

// strings reads an array of strings, or null.
func (d *decoder) strings() ([]string, error) {
	s := d.s
	if null, err := s.isNull(); err != nil || null {
		return nil, err
	}
	if err := d.open('['); err != nil {
		return nil, err
	}
	out := []string{}
	for first := true; ; first = false {
		ok, err := s.more(']', first)
		if err != nil || !ok {
			return out, err
		}
		var v string
		if err := d.optString(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

// data reads {"resultType": ..., "result": ...}.
func (d *decoder) data() error {
	s := d.s
	if err := d.open('{'); err != nil {
		return err
	}
	typ, read := "", ""
	var pending []byte // a result that came before its resultType
	for first := true; ; first = false {
		ok, err := s.more('}', first)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if d.key, err = s.key(d.key); err != nil {
			return err
		}
		switch {
		case bytes.EqualFold(d.key, []byte("resultType")):
			b, err := s.str(d.str[:0])
			if err != nil {
				return err
			}
			switch string(b) {
			case "vector", "matrix", "scalar":
				typ = string(b)
			case "string":
				return s.shapef(`unexpected value type "string"`)
			default:
				return s.shapef("unknown value type %q", b)
			}
			if read != "" && read != typ {
				return s.shapef("resultType %q after a %s result", typ, read)
			}
		case bytes.EqualFold(d.key, []byte("result")):
			if typ == "" {
				raw, err := s.raw()
				if err != nil {
					return err
				}
				pending = append(pending[:0], raw...)
				continue
			}
			d.res.series, d.res.skipped, d.pts = d.res.series[:0], 0, nil
			if err := d.result(typ); err != nil {
				return err
			}
			read = typ
		default:
			if err := s.skip(); err != nil {
				return err
			}
		}
	}
	switch {
	case typ == "":
		return s.shapef(`unexpected value type "<ValNone>"`)
	case pending != nil && read == "":
		outer := d.s
		d.s = bytesScanner(pending)
		err := d.result(typ)
		if err == nil {
			err = d.s.atEnd()
		}
		d.s = outer
		return err
	case read == "":
		return s.shapef("%s answer without a result", typ)
	}
	return nil
}
