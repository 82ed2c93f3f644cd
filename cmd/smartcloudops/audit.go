package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

const auditUsage = `usage: smartcloudops audit <command> [flags]

commands:
  verify                       check the hash chain of every audit record
  export --since TIME [--out DIR]  write records as JSON lines, one file per day

Each takes [--data-dir DIR | --config FILE] [--demo] to name the bot, as serve does. When the bot
runs, the command asks it (through its admin socket, DATA/admin.sock); when it is stopped, the
command reads its store. The demo keeps its state in DATA/demo: use --demo for the demo's log.
`

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return 2
	}
	switch args[0] {
	case "verify":
		return auditVerify(ctx, args[1:], stdout, stderr)
	case "export":
		return auditExport(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, auditUsage)
		return 0
	}
	fmt.Fprintf(stderr, "audit: unknown command %q\n%s", args[0], auditUsage)
	return 2
}

func auditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	bf := addBotFlags(fs)
	fs.Usage = usageFor(fs, botFlagsUsage)
	if stop, code := parseFlags(fs, args, stdout, stderr); stop {
		return code
	}
	a, _, done, err := openBot(ctx, bf, false, time.Now, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "audit verify: %v\n", err)
		return 1
	}
	defer done()
	rep, err := a.VerifyAudit(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "audit verify: %v\n", err)
		return 1
	}
	if rep.Problem != "" {
		fmt.Fprintf(stderr, "audit verify: FAILED after %d good records: %s\n", rep.Records, rep.Problem)
		return 1
	}
	fmt.Fprintf(stdout, "audit log intact: %d records, hash chain verified\n", rep.Records)
	return 0
}

func auditExport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit export", flag.ContinueOnError)
	bf := addBotFlags(fs)
	out := fs.String("out", "logs", "directory for the audit-YYYY-MM-DD.jsonl files")
	since := fs.String("since", "", "first record time: RFC 3339 (2026-11-01T00:00:00Z) or a duration back from now, as in the configuration (24h, 7d, 2w)")
	fs.Usage = usageFor(fs, "--since TIME [--out DIR] "+botFlagsUsage)
	if stop, code := parseFlags(fs, args, stdout, stderr); stop {
		return code
	}
	if *since == "" {
		fmt.Fprintln(stderr, "audit export: --since is required")
		return 2
	}
	from, err := sinceTime(*since, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "audit export: --since: %v\n", err)
		return 2
	}
	a, _, done, err := openBot(ctx, bf, false, time.Now, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "audit export: %v\n", err)
		return 1
	}
	defer done()
	recs, err := a.AuditRecords(ctx, from)
	if err != nil {
		fmt.Fprintf(stderr, "audit export: %v\n", err)
		return 1
	}
	files, err := writeDaily(*out, recs)
	if err != nil {
		fmt.Fprintf(stderr, "audit export: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "exported %d records into %d files under %s\n", len(recs), files, *out)
	return 0
}

// sinceTime reads --since: an RFC 3339 time, or a duration back from now written as the
// configuration writes durations ("90m", "24h", "7d", "2w").
func sinceTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := config.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a duration back from now (24h, 7d, 2w) nor an RFC 3339 time (2026-11-01T00:00:00Z)", s)
	}
	return now.Add(-d.D()), nil
}

// writeDaily writes records as JSON lines, one file per UTC day, each written whole and renamed
// into place so a reader never sees half a file.
func writeDaily(dir string, recs []audit.Record) (int, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, err
	}
	byDay := map[string][]audit.Record{}
	var days []string
	for _, r := range recs {
		d := r.Time.UTC().Format("2006-01-02")
		if _, ok := byDay[d]; !ok {
			days = append(days, d)
		}
		byDay[d] = append(byDay[d], r)
	}
	for _, d := range days {
		path := filepath.Join(dir, "audit-"+d+".jsonl")
		f, err := os.CreateTemp(dir, ".audit-*")
		if err != nil {
			return 0, err
		}
		w := bufio.NewWriter(f)
		enc := json.NewEncoder(w)
		for _, r := range byDay[d] {
			if err := enc.Encode(r); err != nil {
				f.Close()
				return 0, err
			}
		}
		if err := w.Flush(); err != nil {
			f.Close()
			return 0, err
		}
		if err := f.Close(); err != nil {
			return 0, err
		}
		if err := os.Rename(f.Name(), path); err != nil {
			return 0, err
		}
	}
	return len(days), nil
}
