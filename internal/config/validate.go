package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// fieldError is one validation problem at a field path such as "checks[1].schedule".
type fieldError struct {
	path string
	msg  string
}

func (e fieldError) located(file string, lines map[string]int) error {
	// Use the line of the field, or of its closest ancestor that the file spelled out.
	for p := e.path; p != ""; p = parent(p) {
		if l, ok := lines[p]; ok {
			return fmt.Errorf("%s:%d: %s: %s", file, l, e.path, e.msg)
		}
	}
	return fmt.Errorf("%s: %s: %s", file, e.path, e.msg)
}

func parent(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

var (
	nameRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)
	platforms   = map[string]bool{"slack": true, "discord": true, "console": true, "api": true}
	severities  = map[string]bool{"": true, "info": true, "warning": true, "critical": true}
	procMetrics = map[string]bool{"cpu": true, "memory": true, "load": true, "disk": true}
	cronParser  = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
)

// ParseSchedule parses a check schedule: a five-field cron spec or a descriptor such as "@every 15s".
func ParseSchedule(spec string) (cron.Schedule, error) { return cronParser.Parse(spec) }

func (c *Config) validate() []fieldError {
	var errs []fieldError
	add := func(path, format string, args ...any) {
		errs = append(errs, fieldError{path, fmt.Sprintf(format, args...)})
	}
	if strings.TrimSpace(c.DataDir) == "" {
		add("data_dir", "must not be empty")
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			add("listen", "%q is not host:port (%v)", c.Listen, err)
		}
	}
	if c.Memory.GCPercent < -1 {
		add("memory.gc_percent", "%d: want a percentage of the live heap, or -1 for none", c.Memory.GCPercent)
	}
	if c.Debug.Pprof && c.Listen == "" {
		add("debug.pprof", "needs listen: the profiling endpoints are served by the HTTP server, behind its API keys")
	}
	switch strings.ToLower(c.Log.Level) {
	case "", "debug", "info", "warn", "warning", "error":
	default:
		add("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "", "text", "json":
	default:
		add("log.format", "%q is not text or json", c.Log.Format)
	}
	for _, s := range []struct {
		path string
		v    Secret
	}{
		{"slack.bot_token", c.Slack.BotToken}, {"slack.app_token", c.Slack.AppToken},
		{"discord.token", c.Discord.Token}, {"prometheus.bearer_token", c.Prometheus.BearerToken},
		{"alertmanager.webhook_token", c.Alertmanager.WebhookToken}, {"actions.webhook.secret", c.Actions.Webhook.Secret},
	} {
		if err := s.v.check(); err != nil {
			add(s.path, "%v", err)
		}
	}
	if c.Prometheus.BasicAuth != nil {
		if err := c.Prometheus.BasicAuth.Password.check(); err != nil {
			add("prometheus.basic_auth.password", "%v", err)
		}
	}
	if c.Slack.Enabled {
		if c.Slack.BotToken == "" {
			add("slack.bot_token", "required when slack is enabled (e.g. env:SLACK_BOT_TOKEN)")
		}
		if c.Slack.AppToken == "" {
			add("slack.app_token", "required when slack is enabled (e.g. env:SLACK_APP_TOKEN)")
		}
		if c.Slack.DefaultChannel == "" {
			add("slack.default_channel", "required when slack is enabled: where cards go")
		}
	}
	if c.Slack.APIURL != "" && !strings.HasSuffix(c.Slack.APIURL, "/") {
		add("slack.api_url", "must end with a slash")
	}
	if c.Discord.Enabled {
		if c.Discord.Token == "" {
			add("discord.token", "required when discord is enabled (e.g. env:DISCORD_TOKEN)")
		}
		if c.Discord.ApplicationID == "" {
			add("discord.application_id", "required when discord is enabled")
		}
		if c.Discord.DefaultChannel == "" {
			add("discord.default_channel", "required when discord is enabled: where cards go")
		}
	}
	if k := c.Discord.PublicKey; k != "" && !regexp.MustCompile(`^[0-9a-fA-F]{64}$`).MatchString(k) {
		add("discord.public_key", "must be the 64 hex digits of the application's public key")
	}
	for name, r := range c.Roles {
		if !nameRE.MatchString(name) {
			add("roles."+name, "role names are lower-case letters, digits, '-', '_' or '.'")
		}
		for i, m := range r.Users {
			if err := checkMember(m); err != nil {
				add(fmt.Sprintf("roles.%s.users[%d]", name, i), "%v", err)
			}
		}
		for i, m := range r.Groups {
			if err := checkMember(m); err != nil {
				add(fmt.Sprintf("roles.%s.groups[%d]", name, i), "%v", err)
			}
		}
	}
	if d := c.Alertmanager.ResendInterval.D(); d != 0 && (d < time.Second || d > 24*time.Hour) {
		add("alertmanager.resend_interval", "%s is outside [1s, 24h]", d)
	}
	if n := c.Prometheus.MaxConcurrentQueries; n < 0 || n > 256 {
		add("prometheus.max_concurrent_queries", "%d is outside [0,256] (0 means 4)", n)
	}
	for _, u := range []struct{ path, v string }{{"prometheus.url", c.Prometheus.URL}, {"alertmanager.url", c.Alertmanager.URL}} {
		if u.v == "" {
			continue
		}
		if pu, err := url.Parse(u.v); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			add(u.path, "%q is not an http(s) URL", u.v)
		}
	}
	seen := map[string]int{}
	for i, ch := range c.Checks {
		p := fmt.Sprintf("checks[%d]", i)
		if !nameRE.MatchString(ch.Name) {
			add(p+".name", "%q: names are lower-case letters, digits, '-', '_' or '.'", ch.Name)
		} else if j, dup := seen[ch.Name]; dup {
			add(p+".name", "%q is already used by checks[%d]", ch.Name, j)
		} else {
			seen[ch.Name] = i
		}
		switch ch.Source {
		case "procfs":
			if !procMetrics[ch.Metric] {
				add(p+".metric", "%q is not one of cpu, memory, load, disk", ch.Metric)
			}
		case "prometheus":
			if strings.TrimSpace(ch.Query) == "" {
				add(p+".query", "required for a prometheus check")
			}
			if c.Prometheus.URL == "" {
				add(p+".source", "prometheus checks need prometheus.url")
			}
		case "replay":
			if ch.File == "" {
				add(p+".file", "required for a replay check")
			}
		default:
			add(p+".source", "%q is not one of procfs, prometheus, replay", ch.Source)
		}
		if ch.Schedule == "" {
			add(p+".schedule", "required, e.g. \"@every 15s\" or \"*/1 * * * *\"")
		} else if _, err := ParseSchedule(ch.Schedule); err != nil {
			add(p+".schedule", "%q: %v", ch.Schedule, err)
		}
		if ch.Threshold < 0 || ch.Threshold > 1 {
			add(p+".threshold", "%v is outside [0,1]", ch.Threshold)
		}
		if ch.Speed < 0 {
			add(p+".speed", "must not be negative")
		}
		if ch.FastForward < 0 {
			add(p+".fast_forward", "must not be negative")
		}
		if r := ch.MinChange.Relative; !(r >= 0 && r <= 10) {
			add(p+".min_change.relative", "%v is outside [0,10] (a share of the expected value: 0.02 is 2 %%)", r)
		}
		if a := ch.MinChange.Absolute; !(a >= 0) || math.IsInf(a, 1) {
			add(p+".min_change.absolute", "%v must be a finite value of at least 0", a)
		}
		if ch.RecurWithin < 0 {
			add(p+".recur_within", "must not be negative")
		}
		if ch.ResolveAfter < 0 || ch.ResolveAfter > 10000 {
			add(p+".resolve_after", "%d is outside [0,10000] points", ch.ResolveAfter)
		}
		if !severities[ch.Severity] {
			add(p+".severity", "%q is not one of info, warning, critical", ch.Severity)
		}
	}
	for i, r := range c.Slack.Routes {
		errs = append(errs, checkRoute(fmt.Sprintf("slack.routes[%d]", i), r)...)
	}
	for i, r := range c.Discord.Routes {
		errs = append(errs, checkRoute(fmt.Sprintf("discord.routes[%d]", i), r)...)
	}
	if c.Executor.Timeout <= 0 {
		add("executor.timeout", "must be positive")
	}
	// An action allowed to run longer than the executor waits is cut off and left unknown.
	for _, a := range []struct {
		path string
		d    Duration
	}{{"actions.script.timeout", c.Actions.Script.Timeout}, {"actions.webhook.timeout", c.Actions.Webhook.Timeout}} {
		if c.Executor.Timeout > 0 && a.d > c.Executor.Timeout {
			add(a.path, "%s is longer than executor.timeout (%s), which would stop the action before it reports; shorten it or raise executor.timeout", a.d.D(), c.Executor.Timeout.D())
		}
	}
	if c.Executor.MaxFailures < 0 {
		add("executor.max_failures", "must not be negative")
	}
	if c.Executor.MaxPerHour < 0 {
		add("executor.max_per_hour", "must not be negative")
	}
	errs = append(errs, c.Notify.validate()...)
	return append(errs, c.Store.validate()...)
}

// validate checks the store section's shape; whether etcd answers is `config check --connect`.
func (s Store) validate() []fieldError {
	var errs []fieldError
	add := func(path, format string, args ...any) {
		errs = append(errs, fieldError{path, fmt.Sprintf(format, args...)})
	}
	e := s.Etcd
	if err := e.Password.check(); err != nil {
		add("store.etcd.password", "%v", err)
	}
	switch s.Backend {
	case "", "bbolt":
		return errs
	case "etcd":
	default:
		add("store.backend", "%q is not bbolt or etcd", s.Backend)
		return errs
	}
	if len(e.Endpoints) == 0 {
		add("store.etcd.endpoints", "required with the etcd backend, e.g. [https://10.0.0.5:2379]")
	}
	for i, ep := range e.Endpoints {
		if u, err := url.Parse(ep); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			add(fmt.Sprintf("store.etcd.endpoints[%d]", i), "%q is not a client URL such as https://10.0.0.5:2379", ep)
		}
	}
	switch p := strings.Trim(e.Prefix, "/"); {
	case p == "":
		add("store.etcd.prefix", "required with the etcd backend, e.g. /smartcloudops/prod/ (never the whole keyspace)")
	case len(e.Prefix) > 128:
		add("store.etcd.prefix", "is %d bytes; at most 128", len(e.Prefix))
	case !strings.HasPrefix(e.Prefix, "/"):
		add("store.etcd.prefix", "%q must start with /", e.Prefix)
	}
	if !nameRE.MatchString(e.Deployment) {
		add("store.etcd.deployment", "required with the etcd backend: lower-case letters, digits, '-', '_' or '.', e.g. prod-eu")
	}
	if (e.Username == "") != (e.Password == "") {
		add("store.etcd.password", "username and password go together (password as a reference, e.g. env:ETCD_PASSWORD)")
	}
	if (e.TLS.CertFile == "") != (e.TLS.KeyFile == "") {
		add("store.etcd.tls.key_file", "cert_file and key_file go together")
	}
	if e.TLS.InsecureSkipVerify {
		add("store.etcd.tls.insecure_skip_verify", "is not supported for the store: give ca_file instead")
	}
	if e.DialTimeout < 0 {
		add("store.etcd.dial_timeout", "must not be negative")
	}
	if e.Models.MaxSeries < 0 {
		add("store.etcd.models.max_series", "must not be negative (default 8000)")
	}
	if e.Models.SaveEvery < 0 || (e.Models.SaveEvery > 0 && e.Models.SaveEvery.D() < time.Minute) {
		add("store.etcd.models.save_every", "is %v; at least 1m (default 5m): each write adds to etcd's history", e.Models.SaveEvery.D())
	}
	return errs
}

func checkRoute(p string, r Route) []fieldError {
	var errs []fieldError
	if r.Channel == "" {
		errs = append(errs, fieldError{p + ".channel", "required"})
	}
	if !severities[r.Severity] {
		errs = append(errs, fieldError{p + ".severity", fmt.Sprintf("%q is not one of info, warning, critical", r.Severity)})
	}
	return errs
}

func checkMember(m string) error {
	plat, id, ok := strings.Cut(m, ":")
	if !ok || id == "" || !platforms[plat] {
		return fmt.Errorf("%q is not platform:id with platform one of slack, discord, console, api", m)
	}
	return nil
}
