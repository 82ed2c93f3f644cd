package discord

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/bwmarrin/discordgo"
)

// call runs one REST request with discordgo's own 429 recursion turned off. A 429 is retried
// up to Options.MaxRetries times after the retry_after Discord sent, provided that wait is no
// longer than Options.MaxRetryWait; 401 and 403 are never retried, and a 401 also stops Run.
// do must build its request data afresh on every call, because attachments are read once.
func (a *Adapter) call(ctx context.Context, what string, do func(opts ...discordgo.RequestOption) error) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		err := do(discordgo.WithContext(ctx), discordgo.WithRetryOnRatelimit(false))
		if err == nil {
			return nil
		}
		var rl *discordgo.RateLimitError
		if errors.As(err, &rl) {
			a.m.rateLimited.Inc()
			wait := time.Duration(0)
			if rl.TooManyRequests != nil {
				wait = rl.RetryAfter
			}
			if attempt >= a.opts.MaxRetries || wait > a.opts.MaxRetryWait {
				return fmt.Errorf("%s: %w (%d attempts, retry_after %s): %v", what, ErrRateLimited, attempt+1, wait, err)
			}
			a.log.WarnContext(ctx, "rate limited, retrying", "what", what, "retry_after", wait, "attempt", attempt+1)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%s: %w", what, ctx.Err())
			case <-t.C:
			}
			continue
		}
		var re *discordgo.RESTError
		if errors.As(err, &re) && re.Response != nil {
			switch re.Response.StatusCode {
			case http.StatusUnauthorized:
				uerr := fmt.Errorf("%s: %w", what, ErrUnauthorized)
				a.fatal(uerr)
				return uerr
			case http.StatusForbidden:
				return fmt.Errorf("%s: %w: %s", what, ErrForbidden, apiMessage(re))
			}
		}
		return fmt.Errorf("%s: %w", what, err)
	}
}

func apiMessage(re *discordgo.RESTError) string {
	if re.Message != nil && re.Message.Message != "" {
		return fmt.Sprintf("%s (code %d)", re.Message.Message, re.Message.Code)
	}
	return string(re.ResponseBody)
}

// outcome names how a send ended for smartcloudops_chat_messages_sent_total.
func outcome(err error) string {
	switch {
	case err == nil:
		return outcomeOK
	case errors.Is(err, ErrRateLimited):
		return outcomeRateLimited
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return outcomeCanceled
	}
	return outcomeError
}

// rewrite sends every request to base instead of discord.com, keeping the path. Tests point
// a session at a loopback fake with it; it never touches discordgo's package variables.
type rewrite struct {
	base *url.URL
	next http.RoundTripper
}

func (r rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host, req.Host = r.base.Scheme, r.base.Host, r.base.Host
	return r.next.RoundTrip(req)
}
