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
		{Name: "timeout", Type: remediation.TypeDuration, Default: DefaultSSMTimeout, Description: "how long to wait for every instance to finish"},
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
	req := ssmRequest{document: r.str("document", false), ids: instanceIDs(r), commands: r.list("commands", true), timeout: DefaultSSMTimeout}
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

// Execute implements remediation.Action. It sends the command, polls every instance until each
// reaches a final status or the timeout passes (then it cancels the command), and returns the
// output of every instance. Any instance not ending in Success makes it return an error, with the
// output still in the Result.
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
		Comment:      sdkaws.String("smartcloudops remediation"),
	})
	if err != nil {
		return remediation.Result{}, wrap(x.Name(), target, err)
	}
	if sent.Command == nil || sent.Command.CommandId == nil {
		return remediation.Result{}, fmt.Errorf("%s %s: SendCommand returned no command ID", x.Name(), target)
	}
	id := *sent.Command.CommandId
	log := x.a.log.With("action", x.Name(), "target", target, "command_id", id)
	log.InfoContext(ctx, "command sent")

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

// wait polls until every instance is final or the timeout passes.
func (x *ssmRun) wait(ctx context.Context, id string, req ssmRequest) (map[string]invocation, error) {
	target := "ssm/" + strings.Join(req.ids, ",")
	wctx, cancel := context.WithTimeout(ctx, req.timeout)
	defer cancel()
	results := map[string]invocation{}
	pending := append([]string(nil), req.ids...)
	ticker := time.NewTicker(x.a.o.PollInterval)
	defer ticker.Stop()
	for {
		var still []string
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
			case err != nil:
				return results, wrap(x.Name()+" GetCommandInvocation", target, err)
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
		select {
		case <-wctx.Done():
			return results, x.timedOut(ctx, id, target, req, pending, wctx.Err())
		case <-ticker.C:
		}
	}
}

// timedOut cancels the command on the instances still running it and explains why.
func (x *ssmRun) timedOut(ctx context.Context, id, target string, req ssmRequest, pending []string, cause error) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
	defer cancel()
	if _, err := x.a.ssm.CancelCommand(cctx, &ssm.CancelCommandInput{CommandId: &id, InstanceIds: pending}); err != nil {
		x.a.log.WarnContext(ctx, "cancel command failed", "action", x.Name(), "command_id", id, "err", err)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s %s: stopped waiting for command %s on %s: %w", x.Name(), target, id, strings.Join(pending, ", "), ctx.Err())
	}
	return fmt.Errorf("%s %s: command %s still running on %s after %s, cancelled: %w", x.Name(), target, id, strings.Join(pending, ", "), req.timeout, cause)
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
