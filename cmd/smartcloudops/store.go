package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/store"
	etcdstore "github.com/smartcloudops/smartcloudops/internal/store/etcd"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

const storeUsage = `usage: smartcloudops store <command> [flags]

commands:
  check   --config FILE                       connect to the configured store and check it, writing nothing
  migrate --from bbolt --to etcd --config FILE [--overwrite]
                                              copy the bbolt file of data_dir into the etcd store of
                                              the configuration (bot stopped), then verify the copy
  compact --config FILE                       rewrite the bbolt file of data_dir without its free pages
                                              (bot stopped)
`

func runStore(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, storeUsage)
		return 2
	}
	switch args[0] {
	case "check":
		return storeCheck(ctx, args[1:], stdout, stderr)
	case "migrate":
		return storeMigrate(ctx, args[1:], stdout, stderr)
	case "compact":
		return storeCompact(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, storeUsage)
		return 0
	}
	fmt.Fprintf(stderr, "store: unknown command %q\n%s", args[0], storeUsage)
	return 2
}

// boltPath is where serve keeps the bbolt store of a configuration.
func boltPath(cfg config.Config) string { return filepath.Join(cfg.DataDir, "smartcloudops.db") }

// etcdOptions turns the store.etcd section into the store's options, resolving the password
// reference.
func etcdOptions(ctx context.Context, cfg config.Config) (etcdstore.Options, error) {
	e := cfg.Store.Etcd
	pw, err := e.Password.Resolve(ctx, os.LookupEnv, nil)
	if err != nil {
		return etcdstore.Options{}, fmt.Errorf("store.etcd.password: %w", err)
	}
	return etcdstore.Options{Endpoints: e.Endpoints, Prefix: e.Prefix, Deployment: e.Deployment,
		Username: e.Username, Password: pw.Reveal(), CAFile: e.TLS.CAFile, CertFile: e.TLS.CertFile, KeyFile: e.TLS.KeyFile,
		DialTimeout: e.DialTimeout.D()}, nil
}

// loadStoreConfig parses the --config flag set and loads the configuration.
func loadStoreConfig(fs *flag.FlagSet, path string, stderr io.Writer) (config.Config, bool) {
	if path == "" {
		fmt.Fprintf(stderr, "%s: --config is required\n", fs.Name())
		return config.Config{}, false
	}
	cfg, err := config.Load(path, os.Environ())
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", fs.Name(), err)
		return config.Config{}, false
	}
	return cfg, true
}

func storeCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("store check", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file, as for serve")
	fs.Usage = usageFor(fs, "--config FILE")
	if stop, code := parseFlags(fs, args, stdout, stderr); stop {
		return code
	}
	cfg, ok := loadStoreConfig(fs, *path, stderr)
	if !ok {
		return 1
	}
	if cfg.Store.Backend != "etcd" {
		st, err := store.OpenBolt(boltPath(cfg), store.BoltOptions{ReadOnly: true})
		if errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(stdout, "ok: bbolt store %s does not exist yet; serve creates it\n", boltPath(cfg))
			return 0
		}
		if err != nil {
			fmt.Fprintf(stderr, "store check: %v\n", err)
			return 1
		}
		defer st.Close()
		fmt.Fprintf(stdout, "ok: bbolt store %s, schema %d\n", boltPath(cfg), store.SchemaVersion)
		return 0
	}
	o, err := etcdOptions(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "store check: %v\n", err)
		return 1
	}
	o.CheckOnly = true
	st, err := etcdstore.Open(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "store check: %v\n", err)
		return 1
	}
	defer st.Close()
	if !st.Claimed() {
		fmt.Fprintf(stdout, "ok: etcd at %s answers; prefix %s is empty: the first replica claims it for deployment %q\n",
			strings.Join(o.Endpoints, ", "), st.Prefix(), o.Deployment)
		return 0
	}
	fmt.Fprintf(stdout, "ok: etcd at %s; prefix %s belongs to deployment %q, schema %d\n",
		strings.Join(o.Endpoints, ", "), st.Prefix(), o.Deployment, store.SchemaVersion)
	return 0
}

func storeMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("store migrate", flag.ContinueOnError)
	from := fs.String("from", "", "source backend: bbolt")
	to := fs.String("to", "", "target backend: etcd")
	path := fs.String("config", "", "configuration with store.backend etcd; its data_dir holds the bbolt file")
	overwrite := fs.Bool("overwrite", false, "copy into a prefix that already holds keys, replacing those copied")
	fs.Usage = usageFor(fs, "--from bbolt --to etcd --config FILE [--overwrite]")
	if stop, code := parseFlags(fs, args, stdout, stderr); stop {
		return code
	}
	if *from != "bbolt" || *to != "etcd" {
		fmt.Fprintln(stderr, "store migrate: only --from bbolt --to etcd is supported")
		return 2
	}
	cfg, ok := loadStoreConfig(fs, *path, stderr)
	if !ok {
		return 1
	}
	if cfg.Store.Backend != "etcd" {
		fmt.Fprintf(stderr, "store migrate: %s: store.backend is %q; set it to etcd, with its store.etcd section, in the configuration the replicas will run with\n", *path, cfg.Store.Backend)
		return 1
	}
	src, err := store.OpenBolt(boltPath(cfg), store.BoltOptions{ReadOnly: true})
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			err = fmt.Errorf("%w: stop the bot before migrating", err)
		}
		fmt.Fprintf(stderr, "store migrate: %v\n", err)
		return 1
	}
	defer src.Close()
	o, err := etcdOptions(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "store migrate: %v\n", err)
		return 1
	}
	dst, err := etcdstore.Open(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "store migrate: %v\n", err)
		return 1
	}
	defer dst.Close()
	srcAudit, err := audit.New(audit.Options{Store: src})
	if err != nil {
		fmt.Fprintf(stderr, "store migrate: %v\n", err)
		return 1
	}
	nsrc, err := srcAudit.Verify(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "store migrate: the source's audit log does not verify after %d records, so nothing was copied: %v\n", nsrc, err)
		return 1
	}
	rep, err := store.Copy(ctx, dst, src, store.CopyOptions{Overwrite: *overwrite, Skip: []string{"leader/"}})
	if err != nil {
		if errors.Is(err, store.ErrTargetNotEmpty) {
			err = fmt.Errorf("prefix %s: %w (--overwrite)", dst.Prefix(), err)
		}
		fmt.Fprintf(stderr, "store migrate: %v\n", err)
		return 1
	}
	dstAudit, err := audit.New(audit.Options{Store: dst})
	if err != nil {
		fmt.Fprintf(stderr, "store migrate: %v\n", err)
		return 1
	}
	ndst, err := dstAudit.Verify(ctx)
	if err != nil || ndst != nsrc {
		fmt.Fprintf(stderr, "store migrate: the copied audit log does not verify (%d of %d records): %v\n", ndst, nsrc, err)
		return 1
	}
	fmt.Fprintf(stdout, "copied %d keys (%d bytes of values) in %d transactions from %s to etcd prefix %s\n",
		rep.Keys, rep.Bytes, rep.Txns, boltPath(cfg), dst.Prefix())
	fmt.Fprintf(stdout, "verified: every key read back equal; audit log intact on etcd: %d records, hash chain verified\n", ndst)
	return 0
}

func storeCompact(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("store compact", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file; its data_dir holds the bbolt file")
	fs.Usage = usageFor(fs, "--config FILE")
	if stop, code := parseFlags(fs, args, stdout, stderr); stop {
		return code
	}
	cfg, ok := loadStoreConfig(fs, *path, stderr)
	if !ok {
		return 1
	}
	if cfg.Store.Backend == "etcd" {
		fmt.Fprintln(stderr, "store compact: compacts the bbolt file; for etcd use etcd's --auto-compaction-retention and `etcdctl defrag` (docs/deployment.md)")
		return 2
	}
	before, after, err := store.CompactBolt(boltPath(cfg))
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			err = fmt.Errorf("%w: stop the bot before compacting", err)
		}
		fmt.Fprintf(stderr, "store compact: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "compacted %s: %d bytes, now %d\n", boltPath(cfg), before, after)
	return 0
}
