package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/smartcloudops/smartcloudops/detector/model"
	"github.com/smartcloudops/smartcloudops/detector/source/replay"
	"github.com/smartcloudops/smartcloudops/examples"
	"github.com/smartcloudops/smartcloudops/internal/app"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/remediation"
	awsactions "github.com/smartcloudops/smartcloudops/remediation/actions/aws"
	"github.com/smartcloudops/smartcloudops/remediation/actions/script"
	"github.com/smartcloudops/smartcloudops/remediation/actions/webhook"
	"github.com/smartcloudops/smartcloudops/rules"
)

// loadConfig reads the file, or the embedded default when path is empty.
func loadConfig(path string) (config.Config, error) {
	cfg, _, err := loadConfigWarn(path)
	return cfg, err
}

// loadConfigWarn is loadConfig that also returns the configuration's warnings (see
// config.Source.Warnings).
func loadConfigWarn(path string) (config.Config, []error, error) {
	if path != "" {
		cfg, src, err := config.LoadSource(path, os.Environ())
		return cfg, src.Warnings(), err
	}
	data, err := examples.FS.ReadFile("smartcloudops.yaml")
	if err != nil {
		return config.Config{}, nil, err
	}
	cfg, err := config.LoadBytes("(embedded default)", data, os.Environ())
	return cfg, nil, err
}

func runServe(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file (default: the embedded default, which watches this machine)")
	dataDir := fs.String("data-dir", "", "data directory (overrides data_dir)")
	listen := fs.String("listen", "", "HTTP address for health, metrics, webhooks and the API (overrides listen)")
	demo := fs.Bool("demo", false, "replay a bundled incident through the live path: an alert, a proposal and an approval within seconds")
	usage := usageFor(fs, "[--config FILE] [--data-dir DIR] [--listen ADDR] [--demo]")
	fs.Usage = func() { usage(); fmt.Fprint(fs.Output(), serveNotes) }
	if stop, code := parseFlags(fs, args, stdout, stderr); stop {
		return code
	}
	cfg, warnings, err := loadConfigWarn(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "smartcloudops: invalid configuration:\n%v\n", err)
		return 1
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	log := obs.NewLogger(stderr, obs.LogOptions{Level: cfg.Log.Level, Format: cfg.Log.Format})
	for _, w := range warnings {
		log.Warn("configuration: a relative path changed meaning", obs.KeyErr, w)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	err = app.Run(ctx, app.Options{Config: cfg, ConfigPath: *cfgPath, Reload: reload, Defaults: *cfgPath == "", Demo: *demo,
		In: stdin, Out: stdout, Logger: log, Version: version, Environ: os.Environ()})
	if err != nil {
		fmt.Fprintf(stderr, "smartcloudops: %v\n", err)
		return 1
	}
	return 0
}

const serveNotes = `
State: the store (smartcloudops.db), charts and the admin socket live in the data directory
(DATA: --data-dir, else data_dir of the configuration, else ./data). The demo keeps its own in
DATA/demo, wiped at every start, and prints an operator API key made for that run. While the bot
runs, "smartcloudops apikey" and "smartcloudops audit" reach it through DATA/admin.sock (add
--demo for the demo's).
`

const configCheckUsage = `usage: smartcloudops config check FILE

Checks the file as serve does before it starts: every field, the rule files of rules.paths (and
that the checks they read are the file's), the model and replay files of the checks, the script
directory and the secret references serve resolves, without opening the store or connecting
anywhere (ssm: references are not fetched). Every problem is reported with its file, line and
field. Relative paths are read relative to the file's directory; a warning names each one that
meant another place when read relative to the working directory, as before.`

func runConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
			fmt.Fprintln(stdout, "usage: smartcloudops config check FILE")
			return 0
		}
		fmt.Fprintln(stderr, "usage: smartcloudops config check FILE")
		return 2
	}
	if len(args) != 2 || args[1] == "--help" || args[1] == "-h" {
		w, code := stderr, 2
		if len(args) == 2 {
			w, code = stdout, 0
		}
		fmt.Fprintln(w, configCheckUsage)
		return code
	}
	path := args[1]
	cfg, src, err := config.LoadSource(path, os.Environ())
	var problems []error
	if err != nil {
		problems = append(problems, unjoin(err)...)
	}
	found, notes, nrules := checkAsServe(cfg, src)
	problems = append(problems, found...)
	// A warning may be why a problem arose (a relative path that now means another place).
	for _, w := range src.Warnings() {
		fmt.Fprintf(stderr, "warning: %v\n", w)
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, p)
		}
		fmt.Fprintf(stderr, "%d problem(s) found\n", len(problems))
		return 1
	}
	for _, n := range notes {
		fmt.Fprintf(stdout, "note: %v\n", n)
	}

	fmt.Fprintf(stdout, "ok: %s: %d checks, %d roles, %d rules from %v\n", path, len(cfg.Checks), len(cfg.Roles), nrules, cfg.Rules.Paths)
	return 0
}

// errSSMNotFetched stands for an ssm: reference that config check leaves to serve.
var errSSMNotFetched = errors.New("not fetched: config check does not connect to AWS; serve reads it from SSM Parameter Store")

// checkAsServe does with a loaded configuration what serve does with it before it starts, short
// of opening the store and connecting anywhere: it resolves the secret references serve
// resolves, builds the script and webhook actions, loads the model and replay files of the
// checks and loads the rule files with the actions the configuration enables. It returns every
// problem at the line of its field, notes on what it could not check, and the number of rules.
func checkAsServe(cfg config.Config, src config.Source) (problems, notes []error, nrules int) {
	ctx := context.Background()
	// serve reads ssm: references with the settings under actions.aws, enabled or not.
	ssm := func(context.Context, string) (string, error) { return "", errSSMNotFetched }
	for _, s := range cfg.SecretsInUse() {
		if _, err := s.Ref.Resolve(ctx, os.LookupEnv, ssm); errors.Is(err, errSSMNotFetched) {
			notes = append(notes, src.Errorf(s.Path, "%s %v", s.Ref, errSSMNotFetched))
		} else if err != nil {
			problems = append(problems, src.Errorf(s.Path, "%v", err))
		}
	}
	log := slog.New(slog.DiscardHandler)
	ac := cfg.Actions
	if ac.Script.Dir != "" {
		if _, err := script.New(script.Options{Dir: ac.Script.Dir, Timeout: ac.Script.Timeout.D(), Logger: log}); err != nil {
			problems = append(problems, src.Errorf("actions.script.dir", "%v", err))
		}
	}
	if ac.AWS.Enabled {
		// Reads the region as serve does (the setting, AWS_REGION, the shared config); no call.
		if _, err := awsactions.New(ctx, awsactions.Options{Region: ac.AWS.Region, Endpoint: ac.AWS.Endpoint, Logger: log}); err != nil {
			problems = append(problems, src.Errorf("actions.aws.region", "%v", err))
		}
	}
	if _, err := webhook.New(webhook.Options{Timeout: ac.Webhook.Timeout.D(), AllowedHosts: ac.Webhook.AllowedHosts,
		AllowPrivateNetworks: ac.Webhook.AllowPrivateNetworks, Logger: log}); err != nil {
		problems = append(problems, src.Errorf("actions.webhook.allowed_hosts", "%v", err))
	}
	for i, c := range cfg.Checks {
		if c.Model != "" && c.Model != "default" {
			if _, err := model.LoadFile(c.Model); err != nil {
				problems = append(problems, src.Errorf(fmt.Sprintf("checks[%d].model", i), "%v", err))
			}
		}
		if c.Source == "replay" && c.File != "" {
			if _, err := replay.Open(c.File, replay.Options{Speed: int(c.Speed), Rebase: true}); err != nil {
				problems = append(problems, src.Errorf(fmt.Sprintf("checks[%d].file", i), "%v", err))
			}
		}
	}
	if len(cfg.Rules.Paths) == 0 {
		return problems, notes, 0
	}
	checks := make([]string, 0, len(cfg.Checks))
	for _, c := range cfg.Checks {
		checks = append(checks, c.Name)
	}
	opts := rules.LoadOptions{Actions: remediation.LimitRunTime(serveActionSchemas(ac), cfg.Executor.Timeout.D()), Checks: checks}
	set, err := rules.Load(cfg.Rules.Paths, opts)
	for _, e := range unjoin(err) {
		problems = append(problems, placeRuleError(e, cfg, src))
	}
	if set != nil {
		nrules = set.Len()
	}
	return problems, notes, nrules
}

// serveActionSchemas is the schema lookup serve loads rules with: the actions the configuration
// enables. The webhook action always is; the script action with actions.script.dir, the AWS
// actions with actions.aws.enabled.
func serveActionSchemas(ac config.Actions) func(string) (remediation.Schema, bool) {
	return func(name string) (remediation.Schema, bool) {
		if actionDisabled(ac, name) != "" {
			return nil, false
		}
		return rulesActionSchemas(name)
	}
}

// actionDisabled names the setting that leaves a built-in action out, or is empty.
func actionDisabled(ac config.Actions, name string) string {
	switch {
	case name == webhook.Name:
		return ""
	case name == script.Name:
		if ac.Script.Dir == "" {
			return "actions.script.dir is not set"
		}
		return ""
	case !ac.AWS.Enabled:
		return "actions.aws.enabled is false"
	}
	return ""
}

// placeRuleError puts a rule path that cannot be read at its line in the configuration, and
// says which setting leaves out a built-in action a rule names.
func placeRuleError(e error, cfg config.Config, src config.Source) error {
	var re *rules.Error
	if !errors.As(e, &re) {
		return e
	}
	if re.Line == 0 {
		for i, p := range cfg.Rules.Paths {
			if p == re.File {
				return src.Errorf(fmt.Sprintf("rules.paths[%d]", i), "%v", e)
			}
		}
	}
	if re.Msg == "unknown action" {
		if _, builtIn := rulesActionSchemas(re.Text); builtIn {
			if why := actionDisabled(cfg.Actions, re.Text); why != "" {
				return fmt.Errorf("%w (the action is built in, but %s)", e, why)
			}
		}
	}
	return e
}

// unjoin splits an errors.Join, and the joins within it, into single errors.
func unjoin(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		if err == nil {
			return nil
		}
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, unjoin(e)...)
	}
	return out
}
