package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/detector/model"
	"github.com/smartcloudops/smartcloudops/internal/app"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
	awsactions "github.com/smartcloudops/smartcloudops/remediation/actions/aws"
	"github.com/smartcloudops/smartcloudops/remediation/actions/script"
	"github.com/smartcloudops/smartcloudops/remediation/actions/webhook"
	"github.com/smartcloudops/smartcloudops/rules"
)

const rulesUsage = `usage: smartcloudops rules <command> [flags] [args]

commands:
  validate PATH...   check rule files and directories (*.yaml, *.yml; *_test.yaml skipped)
                     and report every problem in every file; with --config FILE, also that
                     the checks the rules read are the configuration's
  test PATH...       run rule unit tests (files, or directories of *_test.yaml)
  sync DIR           load the rule files of a git checkout into the store, with the commit
  backtest PATH...   replay history through rules (--prometheus URL or --csv FILE)

Run "smartcloudops rules <command> --help" for a command's flags. See docs/rules.md.
`

// rulesActionSchemas is the schema lookup the rules commands check actions with: the
// parameter schemas of the actions built into the binary. Schema depends on no Action field,
// so a zero Action answers it.
func rulesActionSchemas(name string) (remediation.Schema, bool) {
	switch name {
	case script.Name:
		return (&script.Action{}).Schema(), true
	case webhook.Name:
		return (&webhook.Action{}).Schema(), true
	}
	s, ok := awsactions.Schemas()[name]
	return s, ok
}

// runRules runs "smartcloudops rules ..." (args exclude "rules"). It returns the exit code:
// 0 success, 1 failure, 2 usage error.
func runRules(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return rulesCommand{actions: rulesActionSchemas, stdout: stdout, stderr: stderr, now: time.Now}.run(ctx, args)
}

// rulesCommand holds what the rules subcommands share.
type rulesCommand struct {
	actions        func(string) (remediation.Schema, bool)
	stdout, stderr io.Writer
	now            func() time.Time
}

func (c rulesCommand) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, rulesUsage)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		fmt.Fprint(c.stdout, rulesUsage)
		return 0
	case "validate":
		return c.validate(args[1:])
	case "test":
		return c.test(ctx, args[1:])
	case "sync":
		return c.sync(ctx, args[1:])
	case "backtest":
		return c.backtest(ctx, args[1:])
	}
	fmt.Fprintf(c.stderr, "rules: unknown command %q\n%s", args[0], rulesUsage)
	return 2
}

// parse parses flags that may come before, between or after the positional arguments, and
// checks the count of positional arguments. It returns the positional arguments, whether to
// stop, and the exit code when stopping.
func (c rulesCommand) parse(fs *flag.FlagSet, synopsis string, args []string, minArgs, maxArgs int) ([]string, bool, int) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: smartcloudops rules %s %s\n", fs.Name(), synopsis)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(fs.Output(), "\nflags:")
			fs.PrintDefaults()
		}
	}
	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(c.stdout)
			fs.Usage()
			return nil, true, 0
		}
		if err != nil {
			fmt.Fprintf(c.stderr, "rules %s: %v\n", fs.Name(), err)
			fs.SetOutput(c.stderr)
			fs.Usage()
			return nil, true, 2
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			pos = append(pos, rest[1:]...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if len(pos) < minArgs || (maxArgs >= 0 && len(pos) > maxArgs) {
		want := fmt.Sprintf("%d", minArgs)
		switch {
		case maxArgs < 0:
			want = fmt.Sprintf("at least %d", minArgs)
		case maxArgs != minArgs:
			want = fmt.Sprintf("%d to %d", minArgs, maxArgs)
		}
		fmt.Fprintf(c.stderr, "rules %s: want %s argument(s), got %d\n", fs.Name(), want, len(pos))
		fs.SetOutput(c.stderr)
		fs.Usage()
		return nil, true, 2
	}
	return pos, false, 0
}

func (c rulesCommand) validate(args []string) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file whose checks the rules' check names must be (without it, they are listed as not verified)")
	paths, stop, code := c.parse(fs, "[--config FILE] PATH...", args, 1, -1)
	if stop {
		return code
	}
	opts := rules.LoadOptions{Actions: c.actions}
	if *cfgPath != "" {
		cfg, err := config.Load(*cfgPath, os.Environ())
		if err != nil {
			fmt.Fprintf(c.stderr, "rules validate: --config: invalid configuration:\n%v\n", err)
			return 1
		}
		opts.Checks = make([]string, 0, len(cfg.Checks))
		for _, ch := range cfg.Checks {
			opts.Checks = append(opts.Checks, ch.Name)
		}
	}
	set, err := rules.Load(paths, opts)
	if err != nil {
		n := printErrors(c.stderr, err)
		fmt.Fprintf(c.stderr, "%d problem(s) found\n", n)
		return 1
	}
	fmt.Fprintf(c.stdout, "ok: %d rules in %d files\n", set.Len(), len(set.Files))
	if unverified := set.CheckRules(); *cfgPath == "" && len(unverified) > 0 {
		fmt.Fprintln(c.stderr, "warning: these rules read detector checks that were not checked against a configuration:")
		for _, r := range unverified {
			fmt.Fprintf(c.stderr, "  %s:%d: rule %s reads check %q\n", r.File, r.Line, r.Name, r.Check)
		}
		fmt.Fprintln(c.stderr, "  a misspelt check name never fires; pass --config FILE to check the names against its checks")
	}
	return 0
}

// printErrors prints each joined error on its own line and returns how many there were.
func printErrors(w io.Writer, err error) int {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		fmt.Fprintln(w, e)
	}
	return len(errs)
}

func (c rulesCommand) test(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	files, stop, code := c.parse(fs, "PATH...", args, 1, -1)
	if stop {
		return code
	}
	results, err := rules.RunTests(ctx, files, rules.TestOptions{Load: rules.LoadOptions{Actions: c.actions}})
	failed := 0
	for _, r := range results {
		if len(r.Failures) == 0 {
			fmt.Fprintf(c.stdout, "ok   %s: %s\n", r.File, r.Name)
			continue
		}
		failed++
		fmt.Fprintf(c.stdout, "FAIL %s: %s\n", r.File, r.Name)
		for _, f := range r.Failures {
			fmt.Fprintf(c.stdout, "  %s\n", strings.ReplaceAll(f, "\n", "\n  "))
		}
	}
	if err != nil {
		printErrors(c.stderr, err)
	}
	fmt.Fprintf(c.stdout, "%d tests, %d failed\n", len(results), failed)
	if failed > 0 || err != nil {
		return 1
	}
	return 0
}

func (c rulesCommand) sync(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "./data", "directory of the bbolt store (smartcloudops.db)")
	cfgPath := fs.String("config", "", "configuration whose store to write: with the etcd store, the\nrules are synced beside the running replicas")
	pos, stop, code := c.parse(fs, "DIR [--data-dir DIR | --config FILE]", args, 1, 1)
	if stop {
		return code
	}
	var st store.Store
	if *cfgPath != "" {
		cfg, err := config.Load(*cfgPath, os.Environ())
		if err != nil {
			printErrors(c.stderr, err)
			return 1
		}
		if cfg.Store.Backend == "etcd" {
			es, err := app.OpenEtcdStore(ctx, cfg)
			if err != nil {
				fmt.Fprintf(c.stderr, "rules sync: %v\n", err)
				return 1
			}
			st = es
		} else {
			*dataDir = cfg.DataDir
		}
	}
	if st == nil {
		if err := os.MkdirAll(*dataDir, 0o700); err != nil {
			fmt.Fprintf(c.stderr, "rules sync: %v\n", err)
			return 1
		}
		bs, err := store.OpenBolt(filepath.Join(*dataDir, "smartcloudops.db"), store.BoltOptions{EtcdLimits: true})
		if err != nil {
			fmt.Fprintf(c.stderr, "rules sync: open store: %v\n", err)
			return 1
		}
		st = bs
	}
	defer st.Close()
	rep, err := rules.Sync(ctx, st, pos[0], rules.SyncOptions{Load: rules.LoadOptions{Actions: c.actions}, Now: c.now})
	if err != nil {
		fmt.Fprintf(c.stderr, "rules sync: %v\n", err)
		return 1
	}
	fmt.Fprint(c.stdout, rep.String())
	return 0
}

func (c rulesCommand) backtest(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("backtest", flag.ContinueOnError)
	promURL := fs.String("prometheus", "", "Prometheus base URL to read history from (query_range)")
	csvFile := fs.String("csv", "", "CSV file of history: timestamp,value[,label=value...]")
	from := fs.String("from", "", "start: RFC 3339, Unix seconds, or a negative duration from now such as -24h")
	to := fs.String("to", "now", "end: RFC 3339, Unix seconds, now, or a negative duration from now")
	step := fs.String("step", "", "evaluation step such as 1m (default: each group's interval)")
	cfgPath := fs.String("config", "", "configuration whose checks score the history for check rules\n(threshold, min_change, resolve_after, model, and with --prometheus the query);\nwithout it check rules use the shipped model and threshold")
	paths, stop, code := c.parse(fs, "(--prometheus URL | --csv FILE) --from T --to T [--step D] [--config FILE] PATH...", args, 1, -1)
	if stop {
		return code
	}
	usage := func(msg string) int {
		fmt.Fprintf(c.stderr, "rules backtest: %s\n", msg)
		return 2
	}
	if (*promURL == "") == (*csvFile == "") {
		return usage("give exactly one of --prometheus or --csv")
	}
	now := c.now()
	var o rules.BacktestOptions
	var err error
	if *from == "" {
		return usage("--from is required")
	}
	if o.From, err = rulesTime(*from, now); err != nil {
		return usage("--from: " + err.Error())
	}
	if o.To, err = rulesTime(*to, now); err != nil {
		return usage("--to: " + err.Error())
	}
	if *step != "" {
		if o.Step, err = rules.ParseDuration(*step); err != nil || o.Step <= 0 {
			return usage(fmt.Sprintf("--step %q: want a positive duration such as 1m", *step))
		}
	}
	set, err := rules.Load(paths, rules.LoadOptions{Actions: c.actions})
	if err != nil {
		printErrors(c.stderr, err)
		return 1
	}
	checks := []config.Check{}
	if *cfgPath != "" {
		cfg, err := config.Load(*cfgPath, os.Environ())
		if err != nil {
			printErrors(c.stderr, err)
			return 1
		}
		checks = cfg.Checks
	}
	if o.Check, err = backtestChecks(checks); err != nil {
		fmt.Fprintf(c.stderr, "rules backtest: %v\n", err)
		return 1
	}
	var data rules.RangeFunc
	if *csvFile != "" {
		f, err := os.Open(*csvFile)
		if err != nil {
			fmt.Fprintf(c.stderr, "rules backtest: %v\n", err)
			return 1
		}
		data, err = rules.ReadCSV(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(c.stderr, "rules backtest: %s: %v\n", *csvFile, err)
			return 1
		}
	} else {
		client, err := api.NewClient(api.Config{Address: *promURL})
		if err != nil {
			return usage(fmt.Sprintf("--prometheus %q: %v", *promURL, err))
		}
		data = checkQueries(rules.PrometheusRange(promv1.NewAPI(client)), checks)
	}
	rep, err := rules.Backtest(ctx, set, data, o)
	if err != nil {
		fmt.Fprintf(c.stderr, "rules backtest: %v\n", err)
		return 1
	}
	fmt.Fprint(c.stdout, rep.String())
	return 0
}

// rulesTime parses RFC 3339, Unix seconds, "now" or a negative duration relative to now.
func rulesTime(s string, now time.Time) (time.Time, error) {
	switch {
	case s == "now":
		return now.UTC(), nil
	case strings.HasPrefix(s, "-") && !strings.ContainsAny(s, ":T"):
		d, err := rules.ParseDuration(s[1:])
		if err != nil {
			return time.Time{}, err
		}
		return now.Add(-d).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if sec, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(sec, 0).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not RFC 3339, Unix seconds, now or -DURATION", s)
}

// backtestChecks says how each check scores history for the check rules that watch it: as the
// configured check would (its model file, threshold, min_change and resolve_after), or with the
// shipped model and threshold for a check the configuration does not name.
func backtestChecks(checks []config.Check) (func(string) rules.BacktestCheck, error) {
	byName := map[string]rules.BacktestCheck{}
	for _, ch := range checks {
		bc := rules.BacktestCheck{Model: model.Default(), Lifecycle: detector.Lifecycle{Threshold: ch.Threshold,
			MinChange: detector.MinChange{Relative: ch.MinChange.Relative, Absolute: ch.MinChange.Absolute}, ResolveAfter: ch.ResolveAfter,
			RecurWithin: ch.RecurWithin.D()}}
		if bc.Lifecycle.Threshold == 0 {
			bc.Lifecycle.Threshold = model.DefaultThreshold
		}
		if ch.Model != "" && ch.Model != "default" {
			f, err := model.LoadFile(ch.Model)
			if err != nil {
				return nil, fmt.Errorf("check %s: model: %w", ch.Name, err)
			}
			bc.Model = f
		}
		byName[ch.Name] = bc
	}
	return func(name string) rules.BacktestCheck {
		if bc, ok := byName[name]; ok {
			return bc
		}
		return rules.BacktestCheck{Model: model.Default(), Lifecycle: detector.Lifecycle{Threshold: model.DefaultThreshold}}
	}, nil
}

// checkQueries answers check rules from Prometheus with their check's query, which only the
// configuration knows.
func checkQueries(data rules.RangeFunc, checks []config.Check) rules.RangeFunc {
	return func(ctx context.Context, r *rules.Rule, from, to time.Time, step time.Duration) ([]rules.RangeSeries, error) {
		if r.Input != rules.InputCheck {
			return data(ctx, r, from, to, step)
		}
		for _, ch := range checks {
			if ch.Name == r.Check && ch.Source == "prometheus" {
				q := *r
				q.Query = ch.Query
				return data(ctx, &q, from, to, step)
			}
		}
		return nil, fmt.Errorf("check %q has no Prometheus query here: give --config with the check, or --csv", r.Check)
	}
}
