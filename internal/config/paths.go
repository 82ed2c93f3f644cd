package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Relative paths in a configuration file are read relative to the file's directory, as
// Prometheus reads them, so that a configuration means the same wherever the bot is started
// from. This covers every path field (data_dir, rules.paths, actions.script.dir, the replay and
// model files of checks, the TLS files) and file: secret references. Paths from environment
// overrides and command-line flags, and the fields the file leaves to their defaults, keep their
// meaning relative to the working directory.

// pathField is one path of the configuration: its field path and where its value is.
type pathField struct {
	path string
	v    *string
}

// pathFields lists the path fields of c, with file: secret references given as their path.
func (c *Config) pathFields() (paths []pathField, secrets []secretField) {
	paths = []pathField{
		{"data_dir", &c.DataDir},
		{"prometheus.tls.ca_file", &c.Prometheus.TLS.CAFile},
		{"prometheus.tls.cert_file", &c.Prometheus.TLS.CertFile},
		{"prometheus.tls.key_file", &c.Prometheus.TLS.KeyFile},
		{"actions.script.dir", &c.Actions.Script.Dir},
	}
	for i := range c.Rules.Paths {
		paths = append(paths, pathField{fmt.Sprintf("rules.paths[%d]", i), &c.Rules.Paths[i]})
	}
	for i := range c.Checks {
		ch := &c.Checks[i]
		paths = append(paths, pathField{fmt.Sprintf("checks[%d].file", i), &ch.File})
		if ch.Model != "default" {
			paths = append(paths, pathField{fmt.Sprintf("checks[%d].model", i), &ch.Model})
		}
	}
	secrets = []secretField{
		{"slack.bot_token", &c.Slack.BotToken}, {"slack.app_token", &c.Slack.AppToken},
		{"discord.token", &c.Discord.Token}, {"prometheus.bearer_token", &c.Prometheus.BearerToken},
		{"alertmanager.webhook_token", &c.Alertmanager.WebhookToken}, {"actions.webhook.secret", &c.Actions.Webhook.Secret},
	}
	if c.Prometheus.BasicAuth != nil {
		secrets = append(secrets, secretField{"prometheus.basic_auth.password", &c.Prometheus.BasicAuth.Password})
	}
	return paths, secrets
}

type secretField struct {
	path string
	v    *Secret
}

const fileRef = "file:"

// resolvePaths rewrites the relative paths that the file sets (lines holds the fields it sets)
// to be relative to dir, the file's directory. It returns a warning for each path that, read
// relative to the working directory as before, names something other than what it names now.
func (c *Config) resolvePaths(dir string, lines map[string]int) []fieldError {
	var moved []fieldError
	resolve := func(path, p string) string {
		if _, set := lines[path]; !set || p == "" || filepath.IsAbs(p) {
			return p
		}
		now := filepath.Join(dir, p)
		if w := oldReading(p, now); w != "" {
			moved = append(moved, fieldError{path, w})
		}
		return now
	}
	paths, secrets := c.pathFields()
	for _, f := range paths {
		*f.v = resolve(f.path, *f.v)
	}
	for _, f := range secrets {
		if p, ok := strings.CutPrefix(string(*f.v), fileRef); ok {
			*f.v = Secret(fileRef + resolve(f.path, p))
		}
	}
	return moved
}

// oldReading says how a relative path p, now read as now, was read before — relative to the
// working directory — when that finds something and now does not find the same thing; else "".
func oldReading(p, now string) string {
	before := filepath.Clean(p)
	if before == filepath.Clean(now) {
		return ""
	}
	old, err := os.Stat(before)
	if err != nil {
		return "" // the old reading found nothing either
	}
	found := "does not exist"
	if cur, err := os.Stat(now); err == nil {
		if os.SameFile(old, cur) {
			return ""
		}
		found = "is another file"
	}
	return fmt.Sprintf("%q is read relative to this file, as %s, which %s; before, it was read relative to the working directory, as %s: "+
		"write it relative to the file's directory or as an absolute path", p, now, found, before)
}

// Warnings are what the configuration asks for that still works but may not be what was meant,
// each at its field's line: paths whose meaning changed when relative paths came to be read
// relative to the file.
func (s Source) Warnings() []error {
	moved := slices.Clone(s.moved)
	slices.SortStableFunc(moved, func(a, b fieldError) int { return s.lines[a.path] - s.lines[b.path] })
	var out []error
	for _, fe := range moved {
		out = append(out, fe.located(s.file, s.lines))
	}
	return out
}
