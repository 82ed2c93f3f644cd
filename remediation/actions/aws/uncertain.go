package aws

import (
	"errors"
	"fmt"
	"net"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/smartcloudops/smartcloudops/remediation"
)

// Calls that change something come in two kinds. SetDesiredCapacity and UpdateService with a
// desired count set an absolute value: sending them twice does no harm, so the SDK's retryer
// may retry them. SendCommand, UpdateService forcing a new deployment and RebootInstances take
// no client token: AWS runs each request it receives, and a request retried after AWS acted
// acts twice. Those run with safeRetries, which retries only what AWS certainly did not act on
// (a throttling refusal, a connection that never opened). Whatever the kind, an error after the
// request went out without a clear refusal (a 5xx, a reset connection, no answer in time) leaves
// open whether AWS acted: the action then returns remediation.ErrOutcomeUnknown, and the
// proposal becomes unknown instead of failed, so that nobody approves it a second time blindly.

// settleSkew widens the window in which a Settler looks for an action's effect, for the
// difference between the bot's clock and AWS's. Looking too early at worst finds another
// change and reports "ran"; looking too late would report "not run" for a change that was
// made, which invites running it twice.
const settleSkew = time.Minute

// safeRetryable retries an error only when AWS certainly did not act on the request.
func safeRetryable(err error) sdkaws.Ternary {
	if throttled(err) || neverSent(err) {
		return sdkaws.TrueTernary
	}
	return sdkaws.FalseTernary
}

// safeRetries is the retryer of calls that are not idempotent.
func (a *Actions) safeRetries() sdkaws.Retryer {
	return retry.NewStandard(func(so *retry.StandardOptions) {
		if a.o.RetryMaxAttempts > 0 {
			so.MaxAttempts = a.o.RetryMaxAttempts
		}
		if a.o.RetryMaxBackoff > 0 {
			so.MaxBackoff = a.o.RetryMaxBackoff
		}
		so.Retryables = []retry.IsErrorRetryable{retry.IsErrorRetryableFunc(safeRetryable)}
	})
}

func (a *Actions) ssmOnce(o *ssm.Options) { o.Retryer = a.safeRetries() }
func (a *Actions) ecsOnce(o *ecs.Options) { o.Retryer = a.safeRetries() }
func (a *Actions) ec2Once(o *ec2.Options) { o.Retryer = a.safeRetries() }

// throttled reports whether AWS refused the call for its rate (it did not act on it).
func throttled(err error) bool {
	return retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == sdkaws.TrueTernary
}

// neverSent reports whether the connection for the request could not be opened.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// uncertain reports whether err leaves open whether AWS acted on the request: the request may
// have reached AWS and no clear answer came back (a reset connection, no answer in time, a
// response that could not be read), or AWS answered with a server error. A connection that
// never opened, a throttling refusal, every 4xx, and a failure before sending (credentials,
// signing) are clear: AWS did not act.
func uncertain(err error) bool {
	if err == nil {
		return false
	}
	var send *smithyhttp.RequestSendError
	if errors.As(err, &send) {
		return !neverSent(err)
	}
	var de *smithy.DeserializationError
	if errors.As(err, &de) {
		return true
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return !throttled(err) && re.HTTPStatusCode() >= 500
	}
	return false
}

// callError wraps the error of a call that changes something: remediation.ErrOutcomeUnknown
// when AWS may have acted (what says what the call was meant to do), a plain *APIError or
// context error otherwise.
func callError(action, target, what string, err error) error {
	werr := wrap(action, target, err)
	if uncertain(err) {
		return fmt.Errorf("%w; %s: %w", remediation.ErrOutcomeUnknown, what, werr)
	}
	return werr
}
