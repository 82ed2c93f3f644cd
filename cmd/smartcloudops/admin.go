package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/app"
)

// botFlags are the flags of the commands that act on a bot's state (apikey, audit): which bot,
// found as serve finds its data directory.
type botFlags struct {
	dataDir, config *string
	demo            *bool
}

func addBotFlags(fs *flag.FlagSet) botFlags {
	return botFlags{
		dataDir: fs.String("data-dir", "", "data directory of the bot, as given to serve (default: data_dir of --config, else ./data)"),
		config:  fs.String("config", "", "configuration file of the bot, for its data_dir"),
		demo:    fs.Bool("demo", false, "the demo's state (serve --demo keeps it in demo/ below the data directory)"),
	}
}

const botFlagsUsage = "[--data-dir DIR | --config FILE] [--demo]"

// dir returns the data directory the flags name: --data-dir, else the data_dir of --config (or
// of the embedded default, with SMARTCLOUDOPS_DATA_DIR applied), and demo/ below it for --demo.
func (f botFlags) dir() (string, error) {
	dir := *f.dataDir
	if dir == "" {
		cfg, err := loadConfig(*f.config)
		if err != nil {
			return "", fmt.Errorf("--config: invalid configuration:\n%v", err)
		}
		dir = cfg.DataDir
	}
	if *f.demo {
		dir = filepath.Join(dir, "demo")
	}
	return dir, nil
}

// openBot returns the Admin of the bot the flags name: the running bot's, through its admin
// socket, or its store when no bot runs. It adds to errors and notes what the person may have
// meant instead: the demo keeps its state apart.
func openBot(ctx context.Context, f botFlags, write bool, now func() time.Time, stderr io.Writer) (app.Admin, string, func(), error) {
	dir, err := f.dir()
	if err != nil {
		return nil, "", nil, err
	}
	o := app.AdminOptions{DataDir: dir, Write: write, Now: now}
	if *f.config != "" && !*f.demo {
		// Replicas on etcd: the commands work on the store itself, beside them.
		if cfg, err := loadConfig(*f.config); err == nil && cfg.Store.Backend == "etcd" {
			o.Config = &cfg
		}
	}
	a, via, done, err := app.OpenAdmin(ctx, o)
	demoDir := filepath.Join(dir, "demo")
	switch {
	case *f.demo:
	case err != nil && errors.Is(err, app.ErrNoStore) && (app.AdminAnswers(ctx, demoDir) || exists(filepath.Join(demoDir, "smartcloudops.db"))):
		err = fmt.Errorf("%w; the demo keeps its state apart, in %s: add --demo", err, demoDir)
	case err == nil && app.AdminAnswers(ctx, demoDir):
		fmt.Fprintf(stderr, "Note: a demo is running with its own state in %s, which this command does not touch; add --demo for the demo's.\n", demoDir)
	}
	return a, via, done, err
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
