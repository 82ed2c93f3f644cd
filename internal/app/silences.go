package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/alertmanager"
	"github.com/smartcloudops/smartcloudops/commands"
	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// amSilencer creates and lists silences through Alertmanager's API.
type amSilencer struct{ c *alertmanager.Client }

func (b *Bot) silencer() commands.Silencer {
	if b.cfg.Alertmanager.URL == "" {
		return nil
	}
	c, err := alertmanager.NewClient(alertmanager.ClientOptions{URL: b.cfg.Alertmanager.URL})
	if err != nil {
		b.log.Error("alertmanager silences disabled", obs.KeyErr, err)
		return nil
	}
	return amSilencer{c}
}

func (s amSilencer) Create(ctx context.Context, matchers string, d time.Duration, by, comment string) (string, error) {
	ms, err := alertmanager.ParseMatchers(matchers)
	if err != nil {
		return "", obs.UserErrorf("%v", err)
	}
	if comment == "" {
		comment = "silenced from chat"
	}
	now := time.Now()
	id, err := s.c.CreateSilence(ctx, alertmanager.Silence{Matchers: ms, StartsAt: now, EndsAt: now.Add(d), CreatedBy: by, Comment: comment})
	return id, s.shown(err)
}

// shown makes Alertmanager's refusals and failures something a person can read in chat: an
// unreachable Alertmanager is named as such by the client; an answer outside 2xx is shown with
// Alertmanager's own message.
func (s amSilencer) shown(err error) error {
	var api *alertmanager.APIError
	if !errors.As(err, &api) {
		return err
	}
	if api.StatusCode < 500 {
		return obs.UserErrorf("Alertmanager at %s refused to %s: %s", s.c.Addr(), api.Op, api.Message)
	}
	return obs.UserErrorf("Alertmanager at %s failed to %s: HTTP %d: %s", s.c.Addr(), api.Op, api.StatusCode, api.Message)
}

func (s amSilencer) List(ctx context.Context) ([]string, error) {
	ss, err := s.c.ListSilences(ctx)
	if err != nil {
		return nil, s.shown(err)
	}
	var out []string
	for _, sl := range ss {
		if sl.State == alertmanager.SilenceExpired {
			continue
		}
		ms := make([]string, len(sl.Matchers))
		for i, m := range sl.Matchers {
			ms[i] = m.String()
		}
		out = append(out, fmt.Sprintf("%s {%s} %s until %s by %s: %s", sl.ID, strings.Join(ms, ","), sl.State,
			sl.EndsAt.UTC().Format(time.RFC3339), sl.CreatedBy, sl.Comment))
	}
	return out, nil
}

func (s amSilencer) Expire(ctx context.Context, id string) error {
	return s.shown(s.c.ExpireSilence(ctx, id))
}

func (b *Bot) querier() commands.Querier {
	if b.prom == nil {
		return nil
	}
	return promQuerier{b}
}

// saveChart writes a chart made for a reply under the data dir, for platforms that show paths.
func (b *Bot) saveChart(name string, png []byte) string {
	path := filepath.Join(b.cfg.DataDir, "charts", name)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return ""
	}
	if err := os.WriteFile(path, png, 0o600); err != nil {
		return ""
	}
	return path
}
