// Command smartcloudops is the SmartCloudOps ChatOps bot: `serve` runs it, and the other
// subcommands check configuration and rules, evaluate the detector and verify the audit log.
// Exit codes: 0 ok, 1 failure, 2 usage.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `usage: smartcloudops <command> [flags]

commands:
  serve       run the bot (the console, chat platforms, checks, rules and the HTTP server)
  config      check a configuration file
  rules       validate, test, sync and backtest rule files
  detect      train models, evaluate the detector on NAB data, run the checks once
  audit       verify or export the audit log
  apikey      create, list and revoke API keys for the HTTP API
  store       check the configured store, migrate bbolt to etcd, compact bbolt
  version     print the version

Run "smartcloudops <command> --help" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	rest := args[1:]
	switch args[0] {
	case "serve":
		return runServe(ctx, rest, stdin, stdout, stderr)
	case "config":
		return runConfig(rest, stdout, stderr)
	case "rules":
		return runRules(ctx, rest, stdout, stderr)
	case "detect":
		return runDetect(ctx, rest, stdout, stderr)
	case "audit":
		return runAudit(ctx, rest, stdout, stderr)
	case "apikey":
		return runAPIKey(ctx, rest, stdout, stderr)
	case "store":
		return runStore(ctx, rest, stdout, stderr)
	case "version", "--version":
		return runVersion(rest, stdout, stderr)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "smartcloudops: unknown command %q\n\n%s", args[0], usage)
	return 2
}

const versionUsage = "usage: smartcloudops version\n\nPrints the version of this binary, as built into it.\n"

func runVersion(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		fmt.Fprintf(stdout, "smartcloudops %s\n", version)
		return 0
	case len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help"):
		fmt.Fprint(stdout, versionUsage)
		return 0
	}
	fmt.Fprintf(stderr, "version: takes no arguments, got %q\n%s", args, versionUsage)
	return 2
}
