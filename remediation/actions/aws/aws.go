package aws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/smartcloudops/smartcloudops/remediation"
)

// Defaults applied by New when the corresponding option is zero.
const (
	DefaultPollInterval = 2 * time.Second
	DefaultSSMTimeout   = 5 * time.Minute
	DefaultOutputCap    = 64 << 10
)

// Options configures the AWS actions. Logger is required; Region is required unless the default
// chain provides one (AWS_REGION, shared config).
type Options struct {
	Region string
	// Endpoint, when set, is the base URL for every service (a VPC endpoint, LocalStack, or the
	// awsfake server in tests).
	Endpoint string
	// Credentials replaces the default credential chain.
	Credentials sdkaws.CredentialsProvider
	// HTTPClient sends the requests; defaults to the SDK's.
	HTTPClient *http.Client
	// RetryMaxAttempts and RetryMaxBackoff tune the SDK's standard retryer, which retries
	// throttling and 5xx errors. Zero keeps the SDK defaults (3 attempts, 20s). Calls that are
	// not idempotent (SendCommand, a forced ECS deployment, RebootInstances) are retried only
	// when AWS refused them for their rate or the connection never opened.
	RetryMaxAttempts int
	RetryMaxBackoff  time.Duration
	// PollInterval is how often aws.ssm.run asks for command status. Defaults to 2s.
	PollInterval time.Duration
	// OutputCap bounds command output kept by aws.ssm.run. Defaults to 64 KiB.
	OutputCap int
	Logger    *slog.Logger
}

// Actions is the set of AWS actions sharing one configuration.
type Actions struct {
	asg    autoscalingAPI
	ecs    ecsAPI
	ec2    ec2API
	ssm    ssmAPI
	o      Options
	region string
	log    *slog.Logger
	list   []remediation.Action
}

// New loads the AWS configuration and builds the actions. It makes no AWS calls.
func New(ctx context.Context, o Options) (*Actions, error) {
	var errs []error
	if o.Logger == nil {
		errs = append(errs, errors.New("Logger is required"))
	}
	if o.RetryMaxAttempts < 0 || o.RetryMaxBackoff < 0 || o.PollInterval < 0 || o.OutputCap < 0 {
		errs = append(errs, errors.New("RetryMaxAttempts, RetryMaxBackoff, PollInterval and OutputCap must not be negative"))
	}
	if o.Endpoint != "" && !strings.HasPrefix(o.Endpoint, "http://") && !strings.HasPrefix(o.Endpoint, "https://") {
		errs = append(errs, fmt.Errorf("Endpoint %q: want an http or https URL", o.Endpoint))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("aws actions: %w", err)
	}
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.OutputCap == 0 {
		o.OutputCap = DefaultOutputCap
	}
	var load []func(*config.LoadOptions) error
	if o.Region != "" {
		load = append(load, config.WithRegion(o.Region))
	}
	if o.Credentials != nil {
		load = append(load, config.WithCredentialsProvider(o.Credentials))
	}
	if o.RetryMaxAttempts > 0 || o.RetryMaxBackoff > 0 {
		load = append(load, config.WithRetryer(func() sdkaws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				if o.RetryMaxAttempts > 0 {
					so.MaxAttempts = o.RetryMaxAttempts
				}
				if o.RetryMaxBackoff > 0 {
					so.MaxBackoff = o.RetryMaxBackoff
				}
			})
		}))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("aws actions: load configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("aws actions: no region: set actions.aws.region, or AWS_REGION in the bot's environment (see \"AWS actions: region and credentials\" in docs/deployment.md)")
	}
	if o.HTTPClient != nil {
		// Set after loading: a CA bundle from the environment only applies to the SDK's own client.
		cfg.HTTPClient = o.HTTPClient
	}
	if o.Endpoint != "" {
		cfg.BaseEndpoint = sdkaws.String(o.Endpoint)
	}
	a := &Actions{
		asg:    autoscaling.NewFromConfig(cfg),
		ecs:    ecs.NewFromConfig(cfg),
		ec2:    ec2.NewFromConfig(cfg),
		ssm:    ssm.NewFromConfig(cfg),
		o:      o,
		region: cfg.Region,
		log:    o.Logger.With("component", "action", "region", cfg.Region),
	}
	a.list = []remediation.Action{
		&asgScale{a: a},
		&ecsScale{a: a},
		&ecsRestart{a: a},
		&ec2Reboot{a: a},
		&ssmRun{a: a},
	}
	return a, nil
}

// Region is the AWS region the clients use.
func (a *Actions) Region() string { return a.region }

// All returns every AWS action, for the action registry.
func (a *Actions) All() []remediation.Action { return append([]remediation.Action(nil), a.list...) }

// ResolveParameter returns the value of an SSM Parameter Store parameter, decrypted when it is a
// SecureString. name may carry the "ssm:" prefix used in config references.
func (a *Actions) ResolveParameter(ctx context.Context, name string) (string, error) {
	name = strings.TrimPrefix(name, "ssm:")
	if name == "" {
		return "", errors.New("resolve ssm parameter: empty name")
	}
	out, err := a.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: &name, WithDecryption: sdkaws.Bool(true)})
	if err != nil {
		return "", wrap("ssm.GetParameter", "ssm:"+name, err)
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return "", fmt.Errorf("resolve ssm parameter %s: the response has no value", name)
	}
	return *out.Parameter.Value, nil
}

// APIError is an error answered by AWS, with the action and target it concerned.
type APIError struct {
	Action  string // action or API name, such as "aws.autoscaling.scale"
	Target  string // such as "asg/web-asg"
	Code    string // AWS error code, such as "ValidationError" or "AccessDenied"
	Message string
	Status  int   // HTTP status of the answer
	Err     error // the SDK error
}

// Error implements error.
func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s %s: AWS %s", e.Action, e.Target, e.Code)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Unwrap returns the SDK error.
func (e *APIError) Unwrap() error { return e.Err }

// Is makes a throttling refusal or a server error match remediation.ErrUnavailable: the call
// may work later, and the plan itself is not at fault.
func (e *APIError) Is(target error) bool {
	return target == remediation.ErrUnavailable && (e.Throttled() || e.Status >= 500)
}

// Throttled reports whether AWS refused the call for its rate, after the SDK's own retries.
func (e *APIError) Throttled() bool {
	return retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(e.Err) == sdkaws.TrueTernary
}

// AccessDenied reports whether the credentials lack permission for the call.
func (e *APIError) AccessDenied() bool {
	switch e.Code {
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException",
		"InvalidClientTokenId", "SignatureDoesNotMatch", "InvalidSignatureException", "AuthFailure":
		return true
	}
	return false
}

// wrap turns an SDK error into an *APIError when AWS answered, or says that it did not.
func wrap(action, target string, err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		e := &APIError{Action: action, Target: target, Code: apiErr.ErrorCode(), Message: apiErr.ErrorMessage(), Err: err}
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) {
			e.Status = re.HTTPStatusCode()
		}
		return e
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s %s: %w", action, target, err)
	}
	return fmt.Errorf("%s %s: no answer from AWS (%w): %w", action, target, remediation.ErrUnavailable, err)
}

func (a *Actions) regionName() string { return a.region }

// Schemas returns the parameter schema of every AWS action by name, without AWS configuration,
// so rule files can be validated where no credentials exist (CI, a laptop).
func Schemas() map[string]remediation.Schema {
	out := map[string]remediation.Schema{}
	for _, act := range []remediation.Action{&asgScale{}, &ecsScale{}, &ecsRestart{}, &ec2Reboot{}, &ssmRun{}} {
		out[act.Name()] = act.Schema()
	}
	return out
}
