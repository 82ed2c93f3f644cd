package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	pmodel "github.com/prometheus/common/model"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/detector/eval"
	"github.com/smartcloudops/smartcloudops/detector/model"
)

const detectUsage = `usage: smartcloudops detect <command> [flags]

commands:
  train   fit a model on history and write a model file
  eval    replay a NAB-layout corpus through the shipped model and score it
  once    run every configured check once and print what it finds

Run "smartcloudops detect <command> --help" for the flags of a command.
`

// runDetect runs the detect command family; args exclude "detect". It returns 0 on success, 1 on
// failure and 2 on a usage error.
func runDetect(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, detectUsage)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stdout, detectUsage)
		return 0
	case "train":
		return detectTrain(ctx, args[1:], stdout, stderr)
	case "eval":
		return detectEval(ctx, args[1:], stdout, stderr)
	case "once":
		return detectOnce(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "detect: unknown command %q\n%s", args[0], detectUsage)
	return 2
}

// parseFlags parses args into fs; it reports whether to stop and the exit code to return.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (stop bool, code int) {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		return true, 0
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n", fs.Name(), err)
		fs.SetOutput(stderr)
		fs.Usage()
		return true, 2
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "%s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return true, 2
	}
	return false, 0
}

func usageFor(fs *flag.FlagSet, synopsis string) func() {
	return func() {
		fmt.Fprintf(fs.Output(), "usage: smartcloudops %s %s\n\nflags:\n", fs.Name(), synopsis)
		fs.PrintDefaults()
	}
}

func modelFor(kind string) (detector.Model, error) {
	return newModel(kind, model.DefaultParams())
}

// newModel returns a fresh model of the named kind with parameters p.
func newModel(kind string, p model.Params) (detector.Model, error) {
	switch kind {
	case model.NameEnsemble:
		return model.NewEnsemble(p)
	case model.NameRobust:
		return model.NewRobust(p)
	case model.NameForest:
		return model.NewForest(p)
	}
	return nil, fmt.Errorf("unknown model %q (want robust, ensemble or forest)", kind)
}

func detectTrain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("detect train", flag.ContinueOnError)
	csvPath := fs.String("csv", "", "history as a CSV file with timestamp and value columns")
	promURL := fs.String("prometheus", "", "Prometheus base URL to read history from, such as http://localhost:9090")
	query := fs.String("query", "", "PromQL query returning exactly one series (with --prometheus)")
	from := fs.String("from", "", "start of history: RFC 3339 time or a duration before --to, such as 336h (with --prometheus)")
	to := fs.String("to", "", "end of history: RFC 3339 time; defaults to now (with --prometheus)")
	step := fs.Duration("step", time.Minute, "query resolution (with --prometheus)")
	timeout := fs.Duration("timeout", 2*time.Minute, "time limit for the Prometheus query")
	kind := fs.String("model", model.Default()().Name(), "model kind: robust (the default), ensemble or forest")
	out := fs.String("out", "", "model file to write (required)")
	fs.Usage = usageFor(fs, "(--csv FILE | --prometheus URL --query Q --from T [--to T]) --out FILE")
	if stop, code := parseFlags(fs, args, stdout, stderr); stop {
		return code
	}
	var problems []string
	if *out == "" {
		problems = append(problems, "--out is required")
	}
	if (*csvPath == "") == (*promURL == "") {
		problems = append(problems, "give exactly one of --csv and --prometheus")
	}
	if *promURL != "" && (*query == "" || *from == "") {
		problems = append(problems, "--prometheus needs --query and --from")
	}
	if *step <= 0 {
		problems = append(problems, "--step must be positive")
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "detect train: %s\n", strings.Join(problems, "; "))
		return 2
	}
	m, err := modelFor(*kind)
	if err != nil {
		fmt.Fprintf(stderr, "detect train: %v\n", err)
		return 2
	}
	var pts []detector.Point
	source := *csvPath
	if *csvPath != "" {
		pts, err = eval.ReadCSVFile(*csvPath)
	} else {
		var start, end time.Time
		start, end, err = parseRange(*from, *to, time.Now())
		if err != nil {
			fmt.Fprintf(stderr, "detect train: %v\n", err)
			return 2
		}
		source = *promURL
		qctx, cancel := context.WithTimeout(ctx, *timeout)
		pts, err = queryRange(qctx, *promURL, *query, promv1.Range{Start: start, End: end, Step: *step})
		cancel()
	}
	if err != nil {
		fmt.Fprintf(stderr, "detect train: %v\n", err)
		return 1
	}
	skipped := model.Train(m, pts)
	if skipped == len(pts) {
		fmt.Fprintf(stderr, "detect train: %s has no finite values to learn from\n", source)
		return 1
	}
	for _, w := range detector.InspectHistory(pts).Warnings(source, model.DefaultParams().Warmup) {
		fmt.Fprintf(stderr, "detect train: warning: %s\n", w)
	}
	if err := model.SaveFile(*out, m); err != nil {
		fmt.Fprintf(stderr, "detect train: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "trained %s model on %d points from %s; wrote %s\n", m.Name(), len(pts)-skipped, source, *out)
	return 0
}

// parseRange reads --from and --to: RFC 3339 times, or for --from a duration before the end.
func parseRange(from, to string, now time.Time) (time.Time, time.Time, error) {
	end := now
	if to != "" {
		t, err := time.Parse(time.RFC3339, to)
		if err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("--to %q: want an RFC 3339 time", to)
		}
		end = t
	}
	var start time.Time
	if d, err := time.ParseDuration(from); err == nil {
		start = end.Add(-d)
	} else if t, err := time.Parse(time.RFC3339, from); err == nil {
		start = t
	} else {
		return time.Time{}, time.Time{}, fmt.Errorf("--from %q: want an RFC 3339 time or a duration", from)
	}
	if !start.Before(end) {
		return time.Time{}, time.Time{}, fmt.Errorf("--from %s is not before --to %s", start.Format(time.RFC3339), end.Format(time.RFC3339))
	}
	return start, end, nil
}

// queryRange reads one series from Prometheus' range-query API.
func queryRange(ctx context.Context, url, query string, r promv1.Range) ([]detector.Point, error) {
	client, err := api.NewClient(api.Config{Address: url, Client: &http.Client{}})
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", url, err)
	}
	val, _, _, err := promv1.NewAPI(client).QueryRange(ctx, query, r)
	if err != nil {
		return nil, fmt.Errorf("query %q on %s: %w", query, url, err)
	}
	mat, ok := val.(pmodel.Matrix)
	if !ok {
		return nil, fmt.Errorf("query %q on %s: got a %s result, want a range vector", query, url, val.Type())
	}
	if len(mat) != 1 {
		return nil, fmt.Errorf("query %q on %s: got %d series, want exactly one", query, url, len(mat))
	}
	pts := make([]detector.Point, 0, len(mat[0].Values))
	for _, sp := range mat[0].Values {
		pts = append(pts, detector.Point{T: sp.Timestamp.Time().UTC(), V: float64(sp.Value)})
	}
	if len(pts) == 0 {
		return nil, fmt.Errorf("query %q on %s: no samples in range", query, url)
	}
	return pts, nil
}

func detectEval(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("detect eval", flag.ContinueOnError)
	nab := fs.String("nab", "", "NAB layout root holding data/, labels/ and config/")
	cv := fs.Bool("cv", false, "with --nab: cross-validate over the development set's four folds, choosing the parameter set on three and scoring the fourth")
	synthetic := fs.Bool("synthetic", false, "evaluate on generated families of normal behaviour with injected anomalies instead of --nab")
	noise := fs.Bool("noise", false, "count false incidents on generated pure noise and pure daily patterns, warm-up included, instead of --nab")
	seed := fs.Uint64("seed", 1, "with --synthetic or --noise: the seed of the generated series")
	copies := fs.Int("copies", 3, "with --synthetic: independently generated copies of each family")
	series := fs.String("series", "1000,200", "with --noise: series of each family, one number per size (comma-separated)")
	points := fs.String("points", "3000,20000", "with --noise: points of each series, one number per size, paired with --series")
	cats := fs.String("categories", "", "comma-separated categories to evaluate; default all")
	thr := fs.Float64("threshold", model.DefaultThreshold, "anomaly score threshold")
	out := fs.String("out", "", "folder for per-row results in NAB's layout")
	asJSON := fs.Bool("json", false, "print the figures as JSON")
	md := fs.String("markdown", "", "also write the Markdown report to this file")
	fs.Usage = usageFor(fs, "--nab DIR [--cv]|--synthetic [--seed N] [--copies N]|--noise [--seed N] [--series N,N] [--points N,N] [--categories a,b] [--threshold T] [--out DIR] [--json] [--markdown FILE]")
	if stop, code := parseFlags(fs, args, stdout, stderr); stop {
		return code
	}
	modes := 0
	for _, on := range []bool{*nab != "", *synthetic, *noise} {
		if on {
			modes++
		}
	}
	switch {
	case modes == 0:
		fmt.Fprintln(stderr, "detect eval: --nab, --synthetic or --noise is required")
		return 2
	case modes > 1:
		fmt.Fprintln(stderr, "detect eval: --nab, --synthetic and --noise exclude each other")
		return 2
	case *nab == "" && *cats != "":
		fmt.Fprintln(stderr, "detect eval: --categories applies to --nab only")
		return 2
	case *cv && (*nab == "" || *cats != "" || *out != ""):
		fmt.Fprintln(stderr, "detect eval: --cv needs --nab and takes neither --categories nor --out")
		return 2
	case *synthetic && (*copies < 1 || *copies > 100):
		fmt.Fprintf(stderr, "detect eval: --copies %d must be in [1,100]\n", *copies)
		return 2
	}
	var sizes []eval.NoiseSize
	if *noise {
		var err error
		if sizes, err = noiseSizes(*series, *points); err != nil {
			fmt.Fprintf(stderr, "detect eval: %v\n", err)
			return 2
		}
	}
	if !(*thr >= 0 && *thr <= 1) {
		fmt.Fprintf(stderr, "detect eval: --threshold %v must be in [0,1]\n", *thr)
		return 2
	}
	var categories []string
	for c := range strings.SplitSeq(*cats, ",") {
		if c = strings.TrimSpace(c); c != "" {
			categories = append(categories, c)
		}
	}
	if err := ctx.Err(); err != nil {
		fmt.Fprintf(stderr, "detect eval: %v\n", err)
		return 1
	}
	command := "smartcloudops detect eval " + strings.Join(args, " ")
	switch {
	case *cv:
		return detectCV(*nab, *thr, *asJSON, *md, command, stdout, stderr)
	case *noise:
		rep, err := eval.FalseAlarms(model.Default(), *thr, *seed, sizes)
		if err != nil {
			fmt.Fprintf(stderr, "detect eval: %v\n", err)
			return 1
		}
		var b strings.Builder
		rep.WriteMarkdown(&b)
		return emit(rep, rep.WriteText, *asJSON, *md, "SmartCloudOps detector evaluation (false incidents)", command, b.String(), stdout, stderr)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := eval.RunOptions{Factory: model.Default(), Threshold: *thr, OutDir: *out, Logger: logger}
	var rep *eval.Report
	var err error
	if *synthetic {
		rep, err = eval.RunSynthetic(*seed, *copies, opts)
	} else {
		var corpus *eval.Corpus
		corpus, err = eval.LoadCorpus(*nab, eval.LoadOptions{Categories: categories})
		if err == nil {
			rep, err = eval.Run(corpus, opts)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "detect eval: %v\n", err)
		return 1
	}
	if *asJSON {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "detect eval: %v\n", err)
		return 1
	}
	if *md != "" {
		if err := writeMarkdown(*md, rep, command); err != nil {
			fmt.Fprintf(stderr, "detect eval: %v\n", err)
			return 1
		}
	}
	return 0
}

// noiseSizes pairs the comma-separated --series and --points of `detect eval --noise`.
func noiseSizes(series, points string) ([]eval.NoiseSize, error) {
	ss, ps := strings.Split(series, ","), strings.Split(points, ",")
	if len(ss) != len(ps) {
		return nil, fmt.Errorf("--series %q and --points %q must name as many sizes", series, points)
	}
	var out []eval.NoiseSize
	var errs []string
	for i := range ss {
		n, err1 := strconv.Atoi(strings.TrimSpace(ss[i]))
		p, err2 := strconv.Atoi(strings.TrimSpace(ps[i]))
		if err1 != nil || err2 != nil || n < 1 || n > 100000 || p < 1 || p > 1000000 {
			errs = append(errs, fmt.Sprintf("size %d: --series %q must be in [1,100000] and --points %q in [1,1000000]", i+1, ss[i], ps[i]))
			continue
		}
		out = append(out, eval.NoiseSize{Series: n, Points: p})
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "; "))
	}
	return out, nil
}

// detectCV cross-validates the shipped model's candidate parameter sets over the development
// set's four folds.
func detectCV(nab string, thr float64, asJSON bool, md, command string, stdout, stderr io.Writer) int {
	corpus, err := eval.LoadCorpus(nab, eval.LoadOptions{})
	if err != nil {
		fmt.Fprintf(stderr, "detect eval: %v\n", err)
		return 1
	}
	kind := model.Default()().Name()
	var cands []eval.Candidate
	for _, c := range model.Candidates() {
		p := c.Params
		if _, err := newModel(kind, p); err != nil {
			fmt.Fprintf(stderr, "detect eval: candidate %s: %v\n", c.Name, err)
			return 1
		}
		cands = append(cands, eval.Candidate{Name: c.Name, Factory: func() detector.Model {
			m, _ := newModel(kind, p)
			return m
		}})
	}
	rep, err := eval.CrossValidate(corpus, eval.DevFolds(), cands, thr)
	if err != nil {
		fmt.Fprintf(stderr, "detect eval: %v\n", err)
		return 1
	}
	var b strings.Builder
	rep.WriteMarkdown(&b)
	return emit(rep, rep.WriteText, asJSON, md, "SmartCloudOps detector evaluation (cross-validation)", command, b.String(), stdout, stderr)
}

// emit prints a report as text or JSON and writes its Markdown form when md is set.
func emit(rep any, text func(*strings.Builder), asJSON bool, md, title, command, body string, stdout, stderr io.Writer) int {
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "detect eval: %v\n", err)
			return 1
		}
	} else {
		var b strings.Builder
		text(&b)
		fmt.Fprint(stdout, b.String())
	}
	if md == "" {
		return 0
	}
	doc := fmt.Sprintf("# %s\n\nGenerated by `%s`; do not edit by hand.\n\nModel: `%s` (model.Default), threshold %.4g for every series.\n\n%s",
		title, command, model.Default()().Name(), model.DefaultThreshold, body)
	if err := os.MkdirAll(filepath.Dir(md), 0o750); err != nil {
		fmt.Fprintf(stderr, "detect eval: write report: %v\n", err)
		return 1
	}
	if err := os.WriteFile(md, []byte(doc), 0o644); err != nil { // #nosec G306 G703 -- a report meant to be read, at the path the operator gave
		fmt.Fprintf(stderr, "detect eval: write report: %v\n", err)
		return 1
	}
	return 0
}

func writeMarkdown(path string, rep *eval.Report, command string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	info := eval.MarkdownInfo{
		Command: command,
		Model:   fmt.Sprintf("`%s` (model.Default)", model.Default()().Name()),
		Notes: []string{"NAB's published scores pick the threshold per profile using the labels (\"swept\" above); " +
			"the fixed column is what a user of the shipped threshold gets."},
	}
	if rep.Synthetic != nil {
		info.Title = "SmartCloudOps detector evaluation (synthetic families)"
		info.Notes = []string{"Each family of normal behaviour (a category above) is generated clean and with one " +
			"anomaly of each kind injected three quarters of the way through; a window runs from the onset to 200 " +
			"rows later, or to the end of the series for an anomaly that persists (shift, ramp, variance). Alarms " +
			"outside it, such as on the return to normal, are false runs. None of these series was used to choose " +
			"the model's parameters; they check that what the model learnt on NAB carries over to shapes it has not seen."}
	}
	if err := rep.WriteMarkdown(f, info); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
