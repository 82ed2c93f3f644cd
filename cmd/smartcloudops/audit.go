package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

const auditUsage = `usage: smartcloudops audit <command> [flags]

commands:
  verify [--data-dir DIR]                       check the hash chain of every audit record
  export --since TIME [--data-dir DIR] [--out DIR]  write records as JSON lines, one file per day

Both read the store, which a running bot keeps locked: stop the bot first, or copy
smartcloudops.db into an empty directory and pass that directory as --data-dir.
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

// openAudit opens the store of a data dir read-only. It cannot while a bot has that store open:
// the bot holds bbolt's file lock for as long as it runs, and the lock is not to be broken.
func openAudit(dataDir string) (*audit.Log, func(), error) {
	path := filepath.Join(dataDir, "smartcloudops.db")
	if _, err := os.Stat(path); err != nil {
		return nil, nil, fmt.Errorf("no store at %s: %w", path, err)
	}
	st, err := store.OpenBolt(path, store.BoltOptions{ReadOnly: true})
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return nil, nil, fmt.Errorf("%w: a running bot holds it; stop the bot and run this again, "+
				"or copy %s into an empty directory and pass that directory as --data-dir", err, path)
		}
		return nil, nil, err
	}
	l, err := audit.New(audit.Options{Store: st})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return l, func() { st.Close() }, nil
}

func auditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "./data", "data directory of the bot")
	fs.Usage = usageFor(fs, "[--data-dir DIR]")
	if stop, code := parseFlags(fs, args, stdout, stderr); stop {
		return code
	}
	l, done, err := openAudit(*dataDir)
	if err != nil {
		fmt.Fprintf(stderr, "audit verify: %v\n", err)
		return 1
	}
	defer done()
	n, err := l.Verify(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "audit verify: FAILED after %d good records: %v\n", n, err)
		return 1
	}
	fmt.Fprintf(stdout, "audit log intact: %d records, hash chain verified\n", n)
	return 0
}

func auditExport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit export", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "./data", "data directory of the bot")
	out := fs.String("out", "logs", "directory for the audit-YYYY-MM-DD.jsonl files")
	since := fs.String("since", "", "first record time: RFC 3339 (2026-11-01T00:00:00Z) or a duration back from now, as in the configuration (24h, 7d, 2w)")
	fs.Usage = usageFor(fs, "--since TIME [--data-dir DIR] [--out DIR]")
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
	l, done, err := openAudit(*dataDir)
	if err != nil {
		fmt.Fprintf(stderr, "audit export: %v\n", err)
		return 1
	}
	defer done()
	recs, err := l.List(ctx, audit.Filter{Since: from})
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
