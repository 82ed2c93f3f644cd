//go:build loadtest

package failover

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// proposal is what the API returns of a proposal.
type proposal struct {
	ID        string    `json:"id"`
	State     string    `json:"state"`
	DecidedAt time.Time `json:"decided_at"`
	StartedAt time.Time `json:"started_at"`
}

// client calls one replica's REST API with one key, waiting out its rate limit (429 with
// Retry-After) rather than failing.
type client struct {
	url, key string
	http     *http.Client
}

// limited counts the 429 answers waited out, over every client.
var limited atomic.Int64

func newClient(url, key string) *client {
	return &client{url: url, key: key, http: &http.Client{Timeout: time.Minute}}
}

// do sends a request and returns the status and body; a transport error is returned as such.
func (c *client) do(method, path string, body any) (int, []byte, error) {
	for {
		var rd *bytes.Reader
		if body != nil {
			b, err := json.Marshal(body)
			if err != nil {
				return 0, nil, err
			}
			rd = bytes.NewReader(b)
		} else {
			rd = bytes.NewReader(nil)
		}
		req, err := http.NewRequest(method, c.url+path, rd)
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+c.key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.http.Do(req)
		if err != nil {
			return 0, nil, err
		}
		data := drain(resp)
		if resp.StatusCode == http.StatusTooManyRequests {
			limited.Add(1)
			wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			time.Sleep(time.Duration(max(wait, 1)) * time.Second)
			continue
		}
		return resp.StatusCode, data, nil
	}
}

// propose asks for record.sh (or slow.sh, with seconds) with tag as its first argument.
func (c *client) propose(script, tag string, seconds int) (proposal, error) {
	args := []string{tag}
	if seconds > 0 {
		args = append(args, strconv.Itoa(seconds))
	}
	code, body, err := c.do(http.MethodPost, "/api/v1/proposals", map[string]any{"action": "script",
		"params": map[string]any{"script": script, "args": args}})
	if err != nil {
		return proposal{}, err
	}
	if code != http.StatusCreated {
		return proposal{}, fmt.Errorf("propose %s %s: HTTP %d: %s", script, tag, code, body)
	}
	var p proposal
	return p, json.Unmarshal(body, &p)
}

// approve approves id; it returns the HTTP status (200 approved, 409 already decided).
func (c *client) approve(id string) (int, proposal, error) {
	code, body, err := c.do(http.MethodPost, "/api/v1/proposals/"+id+"/approve", nil)
	if err != nil {
		return 0, proposal{}, err
	}
	var p proposal
	if code == http.StatusOK {
		err = json.Unmarshal(body, &p)
	}
	return code, p, err
}

// get reads proposal id.
func (c *client) get(id string) (proposal, error) {
	code, body, err := c.do(http.MethodGet, "/api/v1/proposals/"+id, nil)
	if err != nil {
		return proposal{}, err
	}
	if code != http.StatusOK {
		return proposal{}, fmt.Errorf("get %s: HTTP %d: %s", id, code, body)
	}
	var p proposal
	return p, json.Unmarshal(body, &p)
}
