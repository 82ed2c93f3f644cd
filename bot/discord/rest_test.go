package discord

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/bot/discord/discordfake"
)

func countRoute(f *discordfake.Server, method, prefix string) int {
	n := 0
	for _, r := range f.Requests() {
		if r.Method == method && strings.HasPrefix(r.Path, prefix) {
			n++
		}
	}
	return n
}

var chartPNG = []byte("\x89PNG\r\n\x1a\nfake chart bytes")

// TestRESTRetries covers the bounded 429 retry and the no-retry answers, without a gateway.
func TestRESTRetries(t *testing.T) {
	t.Parallel()
	const path = "/api/v9/channels/C7/messages"
	card := bot.Message{Title: "CPU high", Severity: bot.SeverityCritical, Image: &bot.Image{Name: "inc-1.png", PNG: chartPNG}}
	for _, tc := range []struct {
		name        string
		inject      []discordfake.Response
		wantErr     error
		wantCalls   int
		wantLimited float64
		wantOutcome string
	}{
		{"429 twice then ok", []discordfake.Response{discordfake.RateLimited(0.05), discordfake.RateLimited(0.05)}, nil, 3, 2, outcomeOK},
		{"429 past MaxRetries", []discordfake.Response{
			discordfake.RateLimited(0.01), discordfake.RateLimited(0.01), discordfake.RateLimited(0.01), discordfake.RateLimited(0.01),
		}, ErrRateLimited, 4, 4, outcomeRateLimited},
		{"429 longer than MaxRetryWait", []discordfake.Response{discordfake.RateLimited(60)}, ErrRateLimited, 1, 1, outcomeRateLimited},
		{"401", []discordfake.Response{discordfake.Unauthorized()}, ErrUnauthorized, 1, 0, outcomeError},
		{"403", []discordfake.Response{discordfake.Forbidden()}, ErrForbidden, 1, 0, outcomeError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			for _, r := range tc.inject {
				e.fake.Inject("POST", path, r)
			}
			ref, err := e.a.Post(context.Background(), "C7", card)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Post = %v, want %v", err, tc.wantErr)
			}
			if n := countRoute(e.fake, "POST", path); n != tc.wantCalls {
				t.Errorf("%d requests, want %d", n, tc.wantCalls)
			}
			if got := testutil.ToFloat64(e.a.m.rateLimited); got != tc.wantLimited {
				t.Errorf("rate_limited_total = %v, want %v", got, tc.wantLimited)
			}
			if got := testutil.ToFloat64(e.a.m.sent.WithLabelValues(tc.wantOutcome)); got != 1 {
				t.Errorf("messages_sent_total{outcome=%q} = %v, want 1", tc.wantOutcome, got)
			}
			if tc.wantErr != nil {
				return
			}
			if ref.Platform != "discord" || ref.Channel != "C7" || ref.ID == "" {
				t.Errorf("ref = %+v", ref)
			}
			// Every attempt carried the whole chart, not a drained reader.
			for _, r := range e.fake.Requests() {
				if len(r.Files) != 1 || !bytes.Equal(r.Files[0].Data, chartPNG) || r.Files[0].Name != "inc-1.png" {
					t.Errorf("attempt %d uploaded %+v, want the chart", r.Status, r.Files)
				}
			}
		})
	}
}

// TestUnauthorizedStopsRun checks that a 401 on an outbound message also ends Run.
func TestUnauthorizedStopsRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.SkipCommandRegistration = true })
	stop, done := e.run(newRecorder(nil).handle)
	e.waitReady(1)
	e.fake.Inject("POST", "/api/v9/channels/", discordfake.Unauthorized())
	if _, err := e.a.Post(context.Background(), "", bot.Text("hello")); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Post = %v, want ErrUnauthorized", err)
	}
	if err := waitErr(t, done, stop); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Run = %v, want ErrUnauthorized", err)
	}
}

func TestPostUpdateThread(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	ref, err := e.a.Post(ctx, "", bot.Text("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if ref.Channel != "C1" {
		t.Errorf("Post without channel went to %q, want the default C1", ref.Channel)
	}
	if err := e.a.Update(ctx, ref, bot.Message{Title: "edited"}); err != nil {
		t.Fatal(err)
	}
	upd := e.waitRequest("edit", discordfake.Route("PATCH", "/api/v9/channels/C1/messages/"+ref.ID))
	if !strings.Contains(string(upd.Body), `"attachments":[]`) {
		t.Errorf("edit %s does not drop the old attachments", upd.Body)
	}
	reply, err := e.a.PostThread(ctx, ref, bot.Text("details"))
	if err != nil {
		t.Fatal(err)
	}
	if reply.ID == ref.ID {
		t.Error("reply has the parent's ID")
	}
	var body struct {
		Reference struct {
			MessageID string `json:"message_id"`
			ChannelID string `json:"channel_id"`
		} `json:"message_reference"`
		AllowedMentions struct {
			Parse []string `json:"parse"`
		} `json:"allowed_mentions"`
	}
	reqs := e.fake.Requests()
	if err := reqs[len(reqs)-1].JSON(&body); err != nil {
		t.Fatal(err)
	}
	if body.Reference.MessageID != ref.ID || body.Reference.ChannelID != "C1" {
		t.Errorf("reply reference = %+v, want message %s", body.Reference, ref.ID)
	}
	if body.AllowedMentions.Parse == nil || len(body.AllowedMentions.Parse) != 0 {
		t.Errorf("allowed_mentions.parse = %v, want an empty list", body.AllowedMentions.Parse)
	}

	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"update bad ref", e.a.Update(ctx, bot.Ref{Platform: "slack", Channel: "C1", ID: "1"}, bot.Text("x")), ErrInvalidRef},
		{"thread bad ref", func() error { _, err := e.a.PostThread(ctx, bot.Ref{}, bot.Text("x")); return err }(), ErrInvalidRef},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if _, err := e.a.Post(ctx, "C1", bot.Message{}); err == nil {
		t.Error("Post of an empty message succeeded")
	}
}

func TestPostNoChannel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.DefaultChannel = "" })
	if _, err := e.a.Post(context.Background(), "", bot.Text("x")); !errors.Is(err, ErrNoChannel) {
		t.Errorf("Post = %v, want ErrNoChannel", err)
	}
}
