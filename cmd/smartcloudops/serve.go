package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/smartcloudops/smartcloudops/detector/model"
	"github.com/smartcloudops/smartcloudops/examples"
	"github.com/smartcloudops/smartcloudops/internal/app"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// loadConfig reads the file, or the embedded default when path is empty.
func loadConfig(path string) (config.Config, error) {
	if path != "" {
		return config.Load(path, os.Environ())
	}
	data, err := examples.FS.ReadFile("smartcloudops.yaml")
	if err != nil {
		return config.Config{}, err
	}
	return config.LoadBytes("(embedded default)", data, os.Environ())
}

func runServe(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file (default: the embedded default, which watches this machine)")
	dataDir := fs.String("data-dir", "", "data directory (overrides data_dir)")
	listen := fs.String("listen", "", "HTTP address for health, metrics, webhooks and the API (overrides listen)")
	demo := fs.Bool("demo", false, "replay a bundled incident through the live path: an alert, a proposal and an approval within seconds")
	fs.Usage = usageFor(fs, "[--config FILE] [--data-dir DIR] [--listen ADDR] [--demo]")
	if stop, code := parseFlags(fs, args, stdout, stderr); stop {
		return code
	}
	cfg, err := loadConfig(*cfgPath)
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
		fmt.Fprintln(w, "usage: smartcloudops config check FILE\n\nChecks the file and reports every problem with its line and field.")
		return code
	}
	cfg, err := config.Load(args[1], os.Environ())
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	// Model files are read now, as serve would, so a missing or corrupt one is found here.
	bad := false
	for i, c := range cfg.Checks {
		if c.Model == "" || c.Model == "default" {
			continue
		}
		if _, err := model.LoadFile(c.Model); err != nil {
			fmt.Fprintf(stderr, "%s: checks[%d] (%s).model: %v\n", args[1], i, c.Name, err)
			bad = true
		}
	}
	if bad {
		return 1
	}
	fmt.Fprintf(stdout, "ok: %s: %d checks, %d roles, rules from %v\n", args[1], len(cfg.Checks), len(cfg.Roles), cfg.Rules.Paths)
	return 0
}
