package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// APIClient reads the bot's REST API with one key, waiting out its rate limit (429 and
// Retry-After) rather than failing.
type APIClient struct {
	URL    string // http://127.0.0.1:PORT
	Key    string
	client *http.Client
	// Limited counts the answers 429 it waited out.
	Limited int
}

// NewAPIClient returns a client of the API at base with key.
func NewAPIClient(base, key string) *APIClient {
	return &APIClient{URL: base, Key: key, client: &http.Client{Timeout: 2 * time.Minute}}
}

// Get fetches path (with its query) into out and says how long the answer took; a 429 is waited
// out and asked again, and its wait is not part of the time.
func (c *APIClient) Get(ctx context.Context, path string, out any) (time.Duration, error) {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+path, nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+c.Key)
		start := time.Now()
		resp, err := c.client.Do(req)
		if err != nil {
			return 0, fmt.Errorf("GET %s: %w", path, err)
		}
		body, err := io.ReadAll(resp.Body)
		took := time.Since(start)
		resp.Body.Close()
		if err != nil {
			return 0, fmt.Errorf("GET %s: %w", path, err)
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			c.Limited++
			wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			select {
			case <-time.After(time.Duration(max(wait, 1)) * time.Second):
				continue
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		if resp.StatusCode != http.StatusOK {
			return took, fmt.Errorf("GET %s: %s: %s", path, resp.Status, clip(body, 300))
		}
		if out != nil {
			if err := json.Unmarshal(body, out); err != nil {
				return took, fmt.Errorf("GET %s: %w", path, err)
			}
		}
		return took, nil
	}
}

func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// Incident is what the harness reads of an incident.
type Incident struct {
	ID        string            `json:"id"`
	Source    string            `json:"source"`
	State     string            `json:"state"`
	GroupKey  string            `json:"group_key"`
	Labels    map[string]string `json:"labels"`
	Proposals []string          `json:"proposals"`
	Alerts    []IncidentAlert   `json:"alerts"`
}

// IncidentAlert is one Alertmanager alert an incident holds.
type IncidentAlert struct {
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
}

// Proposal is what the harness reads of a proposal.
type Proposal struct {
	ID       string `json:"id"`
	State    string `json:"state"`
	Incident string `json:"incident"`
	Plan     struct {
		Rule   string         `json:"rule"`
		Params map[string]any `json:"params"`
	} `json:"plan"`
}

// Args are the proposal's script arguments.
func (p Proposal) Args() []string {
	raw, _ := p.Plan.Params["args"].([]any)
	out := make([]string, 0, len(raw))
	for _, a := range raw {
		if s, ok := a.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// listAll pages through one list endpoint, 500 items a page.
func listAll[T any](ctx context.Context, c *APIClient, path string) ([]T, error) {
	var out []T
	cursor := ""
	for {
		q := url.Values{"state": {"all"}, "limit": {"500"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var p page[T]
		if _, err := c.Get(ctx, path+"?"+q.Encode(), &p); err != nil {
			return out, err
		}
		out = append(out, p.Items...)
		if p.NextCursor == "" {
			return out, nil
		}
		cursor = p.NextCursor
	}
}

// Incidents lists every incident, open and resolved.
func (c *APIClient) Incidents(ctx context.Context) ([]Incident, error) {
	return listAll[Incident](ctx, c, "/api/v1/incidents")
}

// Proposals lists every proposal in every state.
func (c *APIClient) Proposals(ctx context.Context) ([]Proposal, error) {
	return listAll[Proposal](ctx, c, "/api/v1/proposals")
}
