package aws

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/smartcloudops/smartcloudops/remediation"
)

const (
	defaultDocument = "AWS-RunShellScript"
	maxSSMTimeout   = 12 * time.Hour
	cancelTimeout   = 10 * time.Second
)

// ssmRun is aws.ssm.run: run commands on instances through SSM Run Command and wait for them.
type ssmRun struct{ a *Actions }

// Name implements remediation.Action.
func (*ssmRun) Name() string { return "aws.ssm.run" }

// Schema implements remediation.Action.
func (*ssmRun) Schema() remediation.Schema {
	return remediation.Schema{
		{Name: "document", Type: remediation.TypeString, Default: defaultDocument, Description: "SSM document to run"},
		{Name: "instance_ids", Type: remediation.TypeList, Required: true, Description: "instances to run on"},
		{Name: "commands", Type: remediation.TypeList, Required: true, Description: "commands, one per list entry"},
		{Name: "timeout", Type: remediation.TypeDuration, Default: DefaultSSMTimeout, RunTime: true,
			Description: "how long to wait for every instance to finish; at most executor.timeout"},
	}
}

// Target implements remediation.Action: "ssm/<ids joined by commas>".
func (*ssmRun) Target(p remediation.Params) string {
	return "ssm/" + strings.Join(p.List("instance_ids"), ",")
}

type ssmRequest struct {
	document string
	ids      []string
	commands []string
	timeout  time.Duration
}

func (x *ssmRun) read(p remediation.Params) (ssmRequest, error) {
	r := &reader{action: x.Name(), p: p}
	req := ssmRequest{document: r.str("document", false), ids: instanceIDs(r, true), commands: r.list("commands", true), timeout: DefaultSSMTimeout}
	if req.document == "" {
		req.document = defaultDocument
	}
	if v, ok := p["timeout"]; ok && v != nil {
		d, ok := v.(time.Duration)
		switch {
		case !ok:
			r.fail("timeout", "is %T, want a duration", v)
		case d <= 0 || d > maxSSMTimeout:
			r.fail("timeout", "%s is outside (0, %s]", d, maxSSMTimeout)
		default:
			req.timeout = d
		}
	}
	return req, r.err()
}

// Describe implements remediation.Action, such as
// "run AWS-RunShellScript on i-0abc (timeout 5m0s): systemctl restart nginx".
func (x *ssmRun) Describe(_ context.Context, p remediation.Params) (string, error) {
	req, err := x.read(p)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("run %s on %s (timeout %s): %s", req.document, strings.Join(req.ids, ", "), req.timeout, strings.Join(req.commands, "; ")), nil
}

// invocation is the final or last seen state of the command on one instance.
type invocation struct {
	status         string
	code           int32
	stdout, stderr string
}

var ssmTerminal = map[ssmtypes.CommandInvocationStatus]bool{
	ssmtypes.CommandInvocationStatusSuccess:   true,
	ssmtypes.CommandInvocationStatusFailed:    true,
	ssmtypes.CommandInvocationStatusTimedOut:  true,
	ssmtypes.CommandInvocationStatusCancelled: true,
}

// commentPrefix starts the comment of every command the bot sends; the proposal ID follows, so
// that Settle can find the command again when SendCommand got no clear answer.
const commentPrefix = "smartcloudops remediation"

func comment(proposal string) string {
	if proposal == "" {
		return commentPrefix
	}
	return commentPrefix + " " + proposal
}

// maxPollInterval bounds the backoff of status checks that AWS throttles.
const maxPollInterval = 30 * time.Second

// Execute implements remediation.Action. It sends the command once (SendCommand takes no client
// token, so a retry after AWS accepted it would run it twice), polls every instance until each
// reaches a final status or the timeout passes (then it cancels the command), and returns the
// output of every instance. Any instance not ending in Success makes it return an error, with the
// output still in the Result. A SendCommand that got no clear answer returns
// remediation.ErrOutcomeUnknown; Settle then looks for the command by its comment.
func (x *ssmRun) Execute(ctx context.Context, p remediation.Params) (remediation.Result, error) {
	req, err := x.read(p)
	if err != nil {
		return remediation.Result{}, err
	}
	target := x.Target(p)
	params := map[string][]string{"commands": req.commands}
	if req.document == defaultDocument || req.document == "AWS-RunPowerShellScript" {
		params["executionTimeout"] = []string{strconv.Itoa(int(req.timeout.Seconds()))}
	}
	sent, err := x.a.ssm.SendCommand(ctx, &ssm.SendCommandInput{
		DocumentName: &req.document,
		InstanceIds:  req.ids,
		Parameters:   params,
		Comment:      sdkaws.String(comment(remediation.ProposalID(ctx))),
	}, x.a.ssmOnce)
	if err != nil {
		return remediation.Result{}, callError(x.Name(), target, "sending the command to "+strings.Join(req.ids, ", "), err)
	}
	if sent.Command == nil || sent.Command.CommandId == nil {
		return remediation.Result{}, fmt.Errorf("%s %s: SendCommand returned no command ID", x.Name(), target)
	}
	id := *sent.Command.CommandId
	x.a.log.InfoContext(ctx, "command sent", "action", x.Name(), "target", target, "command_id", id)
	return x.follow(ctx, id, req)
}

// follow waits for command id and reports its outcome on every instance.
func (x *ssmRun) follow(ctx context.Context, id string, req ssmRequest) (remediation.Result, error) {
	target := "ssm/" + strings.Join(req.ids, ",")
	log := x.a.log.With("action", x.Name(), "target", target, "command_id", id)
	results, waitErr := x.wait(ctx, id, req)
	res := remediation.Result{Output: x.render(id, req.ids, results)}
	if waitErr != nil {
		log.WarnContext(ctx, "command did not finish", "err", waitErr)
		res.Summary = fmt.Sprintf("command %s did not finish on every instance", id)
		return res, waitErr
	}
	var failed []string
	for _, inst := range req.ids {
		if r := results[inst]; r.status != string(ssmtypes.CommandInvocationStatusSuccess) {
			failed = append(failed, fmt.Sprintf("%s %s (exit %d)", inst, r.status, r.code))
		}
	}
	if len(failed) > 0 {
		res.Summary = fmt.Sprintf("command %s failed on %d of %d instance(s)", id, len(failed), len(req.ids))
		log.WarnContext(ctx, "command failed", "failed", failed)
		return res, fmt.Errorf("%s %s: command %s failed on %s", x.Name(), target, id, strings.Join(failed, ", "))
	}
	res.Summary = fmt.Sprintf("ran %d command(s) on %s: success (command %s)", len(req.commands), strings.Join(req.ids, ", "), id)
	log.InfoContext(ctx, "command succeeded")
	return res, nil
}

// Settle implements remediation.Settler: it looks for the command this proposal sent, by the
// comment that carries the proposal ID, among the commands sent to the first instance since the
// proposal started. Found, it follows the command to its end; not found, nothing ran.
func (x *ssmRun) Settle(ctx context.Context, p remediation.Params, proposal string, started time.Time) (remediation.Settlement, error) {
	req, err := x.read(p)
	if err != nil {
		return remediation.Settlement{}, err
	}
	want := comment(proposal)
	since := started.Add(-settleSkew).UTC()
	in := &ssm.ListCommandsInput{InstanceId: &req.ids[0], Filters: []ssmtypes.CommandFilter{
		{Key: ssmtypes.CommandFilterKeyInvokedAfter, Value: sdkaws.String(since.Format(time.RFC3339))}}}
	for page := 0; page < 20; page++ {
		out, err := x.a.ssm.ListCommands(ctx, in)
		if err != nil {
			return remediation.Settlement{}, wrap(x.Name()+" ListCommands", x.Target(p), err)
		}
		for _, c := range out.Commands {
			if sdkaws.ToString(c.Comment) != want || c.CommandId == nil {
				continue
			}
			id := *c.CommandId
			res, err := x.follow(ctx, id, req)
			return remediation.Settlement{Outcome: remediation.OutcomeRan, Result: res, Err: err,
				Detail: fmt.Sprintf("SSM has command %s with the comment %q: SendCommand took effect once", id, want)}, nil
		}
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}
	return remediation.Settlement{Outcome: remediation.OutcomeNotRun,
		Detail: fmt.Sprintf("SSM has no command with the comment %q sent to %s since %s: the command was not sent", want, req.ids[0], since.Format(time.RFC3339))}, nil
}

// wait polls until every instance is final or the timeout passes. A status check that AWS
// throttles or fails backs off and polls again, up to the timeout.
func (x *ssmRun) wait(ctx context.Context, id string, req ssmRequest) (map[string]invocation, error) {
	target := "ssm/" + strings.Join(req.ids, ",")
	wctx, cancel := context.WithTimeout(ctx, req.timeout)
	defer cancel()
	results := map[string]invocation{}
	pending := append([]string(nil), req.ids...)
	interval := x.a.o.PollInterval
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for {
		var still []string
		backoff := false
		for i, inst := range pending {
			out, err := x.a.ssm.GetCommandInvocation(wctx, &ssm.GetCommandInvocationInput{CommandId: &id, InstanceId: sdkaws.String(inst)})
			var apiErr smithy.APIError
			switch {
			case errors.As(err, &apiErr) && apiErr.ErrorCode() == "InvocationDoesNotExist":
				// SSM takes a moment to register invocations after SendCommand.
				still = append(still, inst)
				continue
			case err != nil && wctx.Err() != nil:
				still = append(still, pending[i:]...)
				return results, x.timedOut(ctx, id, target, req, still, wctx.Err())
			case err != nil && errors.Is(wrap("", "", err), remediation.ErrUnavailable):
				// Throttled, or a server error or no answer on a read: the command runs on
				// regardless, so keep asking, less often.
				x.a.log.WarnContext(ctx, "command status check failed, backing off", "action", x.Name(), "command_id", id, "err", err)
				still = append(still, pending[i:]...)
				backoff = true
			case err != nil:
				return results, wrap(x.Name()+" GetCommandInvocation", target, err)
			}
			if backoff {
				break
			}
			results[inst] = invocation{
				status: string(out.Status), code: out.ResponseCode,
				stdout: sdkaws.ToString(out.StandardOutputContent), stderr: sdkaws.ToString(out.StandardErrorContent),
			}
			if !ssmTerminal[out.Status] {
				still = append(still, inst)
			}
		}
		pending = still
		if len(pending) == 0 {
			return results, nil
		}
		if backoff {
			interval = min(2*interval, maxPollInterval)
		} else {
			interval = x.a.o.PollInterval
		}
		timer.Reset(interval)
		select {
		case <-wctx.Done():
			return results, x.timedOut(ctx, id, target, req, pending, wctx.Err())
		case <-timer.C:
		}
	}
}

// timedOut cancels the command on the instances still running it and says what happened,
// including when the cancel itself failed and the command may still be running.
func (x *ssmRun) timedOut(ctx context.Context, id, target string, req ssmRequest, pending []string, cause error) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
	defer cancel()
	cancelled := "cancelled it"
	if _, err := x.a.ssm.CancelCommand(cctx, &ssm.CancelCommandInput{CommandId: &id, InstanceIds: pending}); err != nil {
		x.a.log.WarnContext(ctx, "cancel command failed", "action", x.Name(), "command_id", id, "err", err)
		cancelled = fmt.Sprintf("could not cancel it (%v), so it may still be running", wrap("CancelCommand", target, err))
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s %s: stopped waiting for command %s on %s and %s: %w", x.Name(), target, id, strings.Join(pending, ", "), cancelled, ctx.Err())
	}
	return fmt.Errorf("%s %s: command %s still running on %s after %s; %s: %w", x.Name(), target, id, strings.Join(pending, ", "), req.timeout, cancelled, cause)
}

// render lays out each instance's status and output, capped at Options.OutputCap.
func (x *ssmRun) render(id string, ids []string, results map[string]invocation) string {
	var b strings.Builder
	sorted := append([]string(nil), ids...)
	sort.Strings(sorted)
	fmt.Fprintf(&b, "command %s\n", id)
	for _, inst := range sorted {
		r, ok := results[inst]
		if !ok {
			r.status = "NoStatus"
		}
		fmt.Fprintf(&b, "== %s: %s (exit %d) ==\n", inst, r.status, r.code)
		for _, s := range []string{r.stdout, r.stderr} {
			if s != "" {
				b.WriteString(s)
				if !strings.HasSuffix(s, "\n") {
					b.WriteByte('\n')
				}
			}
		}
	}
	out := b.String()
	if len(out) > x.a.o.OutputCap {
		out = strings.ToValidUTF8(out[:x.a.o.OutputCap], "") + "\n[truncated]\n"
	}
	return out
}
