package script

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/remediation"
)

// Name is the action name rules use.
const Name = "script"

// Defaults applied by New when the corresponding option is zero.
const (
	DefaultTimeout   = 30 * time.Second
	DefaultOutputCap = 64 << 10
	DefaultPath      = "PATH=/usr/local/bin:/usr/bin:/bin"
)

// Options configures the script action. Logger and at least one of Dir or Allow are required.
type Options struct {
	// Dir is the allow-listed scripts directory: any executable regular file inside it (after
	// resolving symbolic links) may run, named relative to Dir.
	Dir string
	// Allow lists further executable files that may run, named by their full path or, when no
	// other entry shares it, by their base name.
	Allow []string
	// Timeout bounds one run; the process group is killed when it passes. Defaults to 30s.
	Timeout time.Duration
	// OutputCap bounds the captured output in bytes. Defaults to 64 KiB.
	OutputCap int
	// Env is the complete environment of the child as KEY=VALUE entries. When it sets no PATH,
	// DefaultPath is added. Nothing else from the smartcloudops process is passed on.
	Env []string
	// Logger receives one record per run.
	Logger *slog.Logger
}

// Action runs allow-listed scripts. It implements remediation.Action and is safe for concurrent use.
type Action struct {
	allow     *allowList
	timeout   time.Duration
	outputCap int
	env       []string
	log       *slog.Logger
}

var _ remediation.Action = (*Action)(nil)

// New checks the options and returns the action. It reports every problem at once.
func New(o Options) (*Action, error) {
	var errs []error
	if o.Logger == nil {
		errs = append(errs, errors.New("Logger is required"))
	}
	if o.Dir == "" && len(o.Allow) == 0 {
		errs = append(errs, errors.New("Dir or Allow is required"))
	}
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("Timeout %s is negative", o.Timeout))
	}
	if o.OutputCap < 0 {
		errs = append(errs, fmt.Errorf("OutputCap %d is negative", o.OutputCap))
	}
	env, err := buildEnv(o.Env)
	if err != nil {
		errs = append(errs, err)
	}
	allow, err := newAllowList(o.Dir, o.Allow)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("script action: %w", err)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.OutputCap == 0 {
		o.OutputCap = DefaultOutputCap
	}
	return &Action{
		allow:     allow,
		timeout:   o.Timeout,
		outputCap: o.OutputCap,
		env:       env,
		log:       o.Logger.With("component", "action", "action", Name),
	}, nil
}

func buildEnv(in []string) ([]string, error) {
	env := make([]string, 0, len(in)+1)
	hasPath := false
	var errs []error
	for i, kv := range in {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t\n\x00") || strings.ContainsRune(kv, 0) {
			errs = append(errs, fmt.Errorf("Env[%d] %q: want KEY=VALUE", i, kv))
			continue
		}
		if k == "PATH" {
			hasPath = true
		}
		env = append(env, kv)
	}
	if !hasPath {
		env = append(env, DefaultPath)
	}
	return env, errors.Join(errs...)
}

// Name implements remediation.Action.
func (a *Action) Name() string { return Name }

// Schema implements remediation.Action: "script" is the allow-listed name, "args" the arguments,
// passed verbatim as separate argv entries.
func (a *Action) Schema() remediation.Schema {
	return remediation.Schema{
		{Name: "script", Type: remediation.TypeString, Required: true,
			Description: "name of an allow-listed script, relative to the scripts directory"},
		{Name: "args", Type: remediation.TypeList,
			Description: "arguments, each passed verbatim without a shell"},
	}
}

// Target implements remediation.Action. It is "script/<name>" or, when there are arguments,
// "script/<name>/<first arg>", since scripts conventionally take the resource they touch first
// (scale_up.sh web-asg 2 3 locks "script/scale_up.sh/web-asg").
func (a *Action) Target(p remediation.Params) string {
	t := "script/" + p.String("script")
	if args := p.List("args"); len(args) > 0 {
		t += "/" + args[0]
	}
	return t
}

// Describe implements remediation.Action. It checks the script against the allow-list and returns
// the command line that Execute would run, arguments quoted only where a reader needs it, such as
// "script scale_up.sh web-asg 2 3".
func (a *Action) Describe(_ context.Context, p remediation.Params) (string, error) {
	name, args, err := params(p)
	if err != nil {
		return "", err
	}
	if _, err := a.allow.resolve(name); err != nil {
		return "", err
	}
	return commandLine(name, args), nil
}

// Execute implements remediation.Action. It runs the script and returns its captured output. On a
// non-zero exit it returns an *ExitError; on timeout an error wrapping ErrTimeout. In both cases
// the Result still carries the output captured so far.
func (a *Action) Execute(ctx context.Context, p remediation.Params) (remediation.Result, error) {
	name, args, err := params(p)
	if err != nil {
		return remediation.Result{}, err
	}
	path, err := a.allow.resolve(name)
	if err != nil {
		return remediation.Result{}, err
	}
	start := time.Now()
	out, code, err := a.run(ctx, path, args)
	res := remediation.Result{Output: out}
	elapsed := time.Since(start).Round(time.Millisecond)
	switch {
	case errors.Is(err, ErrTimeout):
		a.log.WarnContext(ctx, "script timed out", "script", name, "elapsed", elapsed, "err", err)
		res.Summary = fmt.Sprintf("%s timed out after %s", commandLine(name, args), elapsed)
		return res, fmt.Errorf("script %s: %w", name, err)
	case err != nil:
		a.log.WarnContext(ctx, "script failed to run", "script", name, "err", err)
		res.Summary = fmt.Sprintf("%s failed: %v", commandLine(name, args), err)
		return res, fmt.Errorf("script %s: %w", name, err)
	case code != 0:
		a.log.InfoContext(ctx, "script exited non-zero", "script", name, "code", code, "elapsed", elapsed)
		res.Summary = fmt.Sprintf("%s exited with status %d", commandLine(name, args), code)
		return res, &ExitError{Script: name, Code: code, Output: out}
	}
	a.log.InfoContext(ctx, "script ran", "script", name, "elapsed", elapsed)
	res.Summary = fmt.Sprintf("%s succeeded in %s", commandLine(name, args), elapsed)
	return res, nil
}

// params extracts the typed parameters, refusing values that still hold an unrendered template.
func params(p remediation.Params) (string, []string, error) {
	name, ok := p["script"].(string)
	if !ok || name == "" {
		return "", nil, errors.New("script: param \"script\" is required")
	}
	if strings.Contains(name, "{{") {
		return "", nil, fmt.Errorf("script: param \"script\" holds an unrendered template %q", name)
	}
	var args []string
	switch v := p["args"].(type) {
	case nil:
	case []string:
		args = v
	case string:
		return "", nil, fmt.Errorf("script %s: param \"args\" holds an unrendered template %q", name, v)
	default:
		return "", nil, fmt.Errorf("script %s: param \"args\" is %T, want a list of strings", name, v)
	}
	for i, arg := range args {
		if strings.ContainsRune(arg, 0) {
			return "", nil, fmt.Errorf("script %s: args[%d] contains a NUL byte", name, i)
		}
	}
	return name, args, nil
}

// commandLine renders name and args the way a POSIX shell user would type them, so the card
// shows exactly which argv the script receives.
func commandLine(name string, args []string) string {
	var b strings.Builder
	b.WriteString("script ")
	b.WriteString(quote(name))
	for _, a := range args {
		b.WriteByte(' ')
		b.WriteString(quote(a))
	}
	return b.String()
}

func quote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
