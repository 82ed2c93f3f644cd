package app

import (
	"context"
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
	return s.c.CreateSilence(ctx, alertmanager.Silence{Matchers: ms, StartsAt: now, EndsAt: now.Add(d), CreatedBy: by, Comment: comment})
}

func (s amSilencer) List(ctx context.Context) ([]string, error) {
	ss, err := s.c.ListSilences(ctx)
	if err != nil {
		return nil, err
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

func (s amSilencer) Expire(ctx context.Context, id string) error { return s.c.ExpireSilence(ctx, id) }

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
