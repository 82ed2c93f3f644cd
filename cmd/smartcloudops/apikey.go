package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"strings"
	"text/tabwriter"
	"time"

	"github.com/smartcloudops/smartcloudops/api"
	"github.com/smartcloudops/smartcloudops/internal/app"
)

// #nosec G101 -- usage text, not a credential
const apikeyUsage = `usage: smartcloudops apikey <command> [flags]

commands:
  create --name NAME --role viewer|operator|admin [--owner PLATFORM:ID] [--expires 90d]
         make a key for the HTTP API and print it once; only its SHA-256 hash is stored
  list   list every key with its role and status (active, expired, revoked)
  revoke NAME
         refuse the key from now on; it stays listed

Each takes [--data-dir DIR | --config FILE] [--demo] to name the bot, as serve does. When the bot
runs, the command goes through it (its admin socket, DATA/admin.sock) and takes effect at once;
when it is stopped, the command opens its store. The demo keeps its state in DATA/demo, wiped at
every start: use --demo for a key the running demo accepts.
`

// runAPIKey runs the apikey command family; args exclude "apikey". It returns 0 on success, 1 on
// failure and 2 on a usage error.
func runAPIKey(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, apikeyUsage)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stdout, apikeyUsage)
		return 0
	case "create":
		return apikeyCreate(ctx, args[1:], stdout, stderr, time.Now)
	case "list":
		return apikeyList(ctx, args[1:], stdout, stderr, time.Now)
	case "revoke":
		return apikeyRevoke(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "apikey: unknown command %q\n%s", args[0], apikeyUsage)
	return 2
}

func apikeyCreate(ctx context.Context, args []string, stdout, stderr io.Writer, now func() time.Time) int {
	fs := flag.NewFlagSet("apikey create", flag.ContinueOnError)
	name := fs.String("name", "", "name of the key, such as ci or pagerduty (required; a-z 0-9 . _ -)")
	role := fs.String("role", "", "role of the key: viewer (read only), operator or admin (required)")
	expires := fs.String("expires", "", "lifetime such as 90d or 12h; empty or 0 for a key that never expires")
	owner := fs.String("owner", "", "the person answerable for the key, as platform:id (slack:U0123ABCD); approval policies then treat the key as that person")
	bf := addBotFlags(fs)
	fs.Usage = usageFor(fs, "--name NAME --role viewer|operator|admin [--owner PLATFORM:ID] [--expires 90d] "+botFlagsUsage)
	if stop, code := parseFlags(fs, args, stdout, stderr); stop {
		return code
	}
	var probs []string
	if *name == "" {
		probs = append(probs, "--name is required")
	} else if err := api.ValidateName(*name); err != nil {
		probs = append(probs, "--name: "+err.Error())
	}
	if *role == "" {
		probs = append(probs, "--role is required")
	} else if err := api.ValidateRole(*role); err != nil {
		probs = append(probs, "--role: "+err.Error())
	}
	if plat, id, ok := strings.Cut(*owner, ":"); *owner != "" && (!ok || plat == "" || id == "") {
		probs = append(probs, fmt.Sprintf("--owner: %q is not platform:id, such as slack:U0123ABCD", *owner))
	}
	var ttl time.Duration
	if *expires != "" && *expires != "0" {
		d, err := api.ParseDuration(*expires)
		switch {
		case err != nil:
			probs = append(probs, "--expires: "+err.Error())
		case d == 0:
		default:
			ttl = d
		}
	}
	if len(probs) > 0 {
		fmt.Fprintf(stderr, "apikey create: %s\n", strings.Join(probs, "; "))
		return 2
	}
	a, via, done, err := openBot(ctx, bf, true, now, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "apikey create: %v\n", err)
		return 1
	}
	defer done()
	token, k, err := a.CreateKey(ctx, app.KeyRequest{Name: *name, Role: *role, Owner: *owner, TTL: ttl})
	if err != nil {
		fmt.Fprintf(stderr, "apikey create: %v\n", err)
		return 1
	}
	// The key alone goes to stdout, so that KEY=$(smartcloudops apikey create …) captures it.
	fmt.Fprintln(stdout, token)
	exp := "never expires"
	if !k.Expires.IsZero() {
		exp = "expires " + k.Expires.Format(time.RFC3339)
	}
	if k.Owner == "" && k.Role != "viewer" {
		fmt.Fprintln(stderr, "Note: this key has no --owner, so approval policies see it as a person of its own: someone holding it and a chat account could approve their own proposals. Give keys that act an owner.")
	}
	fmt.Fprintf(stderr, "Created API key %q with role %s (%s) in %s.\nStore it now: it is shown only this once and only its hash is kept.\nUse it as: Authorization: Bearer <key>\n", k.Name, k.Role, exp, via)
	return 0
}

func apikeyList(ctx context.Context, args []string, stdout, stderr io.Writer, now func() time.Time) int {
	fs := flag.NewFlagSet("apikey list", flag.ContinueOnError)
	bf := addBotFlags(fs)
	fs.Usage = usageFor(fs, botFlagsUsage)
	if stop, code := parseFlags(fs, args, stdout, stderr); stop {
		return code
	}
	a, _, done, err := openBot(ctx, bf, false, now, stderr)
	if errors.Is(err, app.ErrNoStore) {
		fmt.Fprintf(stdout, "No API keys (%v yet).\n", err)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "apikey list: %v\n", err)
		return 1
	}
	defer done()
	keys, err := a.ListKeys(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "apikey list: %v\n", err)
		return 1
	}
	if len(keys) == 0 {
		fmt.Fprintln(stdout, "No API keys. Create one with: smartcloudops apikey create --name NAME --role ROLE")
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tSTATUS\tCREATED\tEXPIRES\tREVOKED")
	stamp := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.Name, k.Role, k.Status(now()), stamp(k.Created), stamp(k.Expires), stamp(k.Revoked))
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(stderr, "apikey list: %v\n", err)
		return 1
	}
	return 0
}

func apikeyRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("apikey revoke", flag.ContinueOnError)
	bf := addBotFlags(fs)
	fs.Usage = usageFor(fs, "NAME "+botFlagsUsage)
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if stop, code := parseFlags(fs, args, stdout, stderr); stop {
		return code
	}
	if name == "" {
		fmt.Fprintln(stderr, "apikey revoke: the key's NAME is required, as in: smartcloudops apikey revoke ci")
		return 2
	}
	a, via, done, err := openBot(ctx, bf, true, time.Now, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "apikey revoke: %v\n", err)
		return 1
	}
	defer done()
	k, err := a.RevokeKey(ctx, name)
	if err != nil {
		fmt.Fprintf(stderr, "apikey revoke: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "API key %q revoked at %s in %s; requests with it are refused.\n", k.Name, k.Revoked.Format(time.RFC3339), via)
	return 0
}
