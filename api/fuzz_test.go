package api

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/smartcloudops/smartcloudops/internal/index"
)

// FuzzParseProposeRequest feeds arbitrary bodies to the manual-run decoder: it must never panic,
// must refuse with a 4xx API error, and what it accepts must satisfy the documented bounds.
func FuzzParseProposeRequest(f *testing.F) {
	for _, s := range []string{
		`{"action":"test.scale","params":{"group":"web-asg","to":3}}`,
		`{"action":"script","params":{"args":["a","b"]},"incident":"inc-1a2b3c","dry_run":true}`,
		`{"action":""}`, `{"action":"a b"}`, `{}`, `[]`, `null`, `{"action":"x"} {}`, `{"action":"x","extra":1}`,
		`{"action":"x","params":{"a":{"b":[1,2,{"c":null}]}}}`, `{"action":"\u0000"}`, `{"action":"x","params":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, e := parseProposeRequest(bytes.NewReader(body))
		if e != nil {
			if e.Status < 400 || e.Status > 499 || e.Code == "" || e.Message == "" {
				t.Fatalf("bad refusal %+v", e)
			}
			return
		}
		if req.Action == "" || len(req.Action) > maxActionLen || strings.ContainsAny(req.Action, " \t\n\x00") || len(req.Params) > maxParams {
			t.Fatalf("accepted %+v", req)
		}
	})
}

// FuzzParseRejectRequest does the same for the rejection body, which may be empty.
func FuzzParseApproveRequest(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"plan_hash":"9c1e2d3f4a5b6c7d"}`, `{"plan_hash":"XYZ"}`, `{"plan_hash":1}`, `{"plan":"x"}`, `{} []`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, e := parseApproveRequest(bytes.NewReader(body))
		if e != nil {
			if e.Status != http.StatusBadRequest || e.Code != CodeBadRequest {
				t.Fatalf("bad refusal %+v", e)
			}
			return
		}
		if len(req.PlanHash) > 64 || strings.Trim(req.PlanHash, "0123456789abcdef") != "" {
			t.Fatalf("accepted plan_hash %q", req.PlanHash)
		}
	})
}

func FuzzParseRejectRequest(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"reason":"not now"}`, `{"reason":1}`, `{"why":"x"}`, `{"reason":"\xff"}`, `{} []`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, e := parseRejectRequest(bytes.NewReader(body))
		if e != nil {
			if e.Status != http.StatusBadRequest || e.Code != CodeBadRequest {
				t.Fatalf("bad refusal %+v", e)
			}
			return
		}
		if len(req.Reason) > maxReasonLen {
			t.Fatalf("accepted a reason of %d bytes", len(req.Reason))
		}
	})
}

func TestDecodeOversized(t *testing.T) {
	body := http.MaxBytesReader(nil, nopCloser{strings.NewReader(`{"action":"` + strings.Repeat("a", 100) + `"}`)}, 16)
	if _, e := parseProposeRequest(body); e == nil || e.Status != http.StatusRequestEntityTooLarge || e.Code != CodeTooLarge {
		t.Fatalf("oversized: %+v", e)
	}
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

// FuzzCursor feeds arbitrary cursors to the paged lists' parser: it must never panic, must refuse
// with 400 naming the cursor, and a position it accepts is one the index can read; the cursor
// of any position it gives back is read as that position again.
func FuzzCursor(f *testing.F) {
	for _, s := range []string{
		positionCursor(index.Pos(t0, "inc-0a1b2c3d")), cursorOf("20261125T120000.000000000|inc-0a1b2c3d"), cursorOf("disk-full"),
		"", "***", "dDE6", "dDE6MDEyMzQ1Njc4OWFiY2RlZi94", "djE6fA", strings.Repeat("A", 300),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, c string) {
		r, err := http.NewRequest("GET", "/api/v1/incidents?cursor="+url.QueryEscape(c), nil)
		if err != nil {
			t.Skip()
		}
		p, e := pageOf(r)
		if e == nil {
			var pos string
			if pos, e = p.position(); e == nil {
				if pos != "" && !index.ValidPos(pos) {
					t.Fatalf("cursor %q gave position %q", c, pos)
				}
				if pos != "" {
					back, _ := pageOf(httptest.NewRequest("GET", "/?cursor="+positionCursor(pos), nil))
					if again, e := back.position(); e != nil || again != pos {
						t.Fatalf("position %q does not read back: %q %v", pos, again, e)
					}
				}
				return
			}
		}
		if e.Status != http.StatusBadRequest || e.Code != CodeBadRequest || !strings.HasPrefix(e.Message, "cursor ") && !strings.HasPrefix(e.Message, "limit ") {
			t.Fatalf("bad refusal %+v", e)
		}
	})
}
