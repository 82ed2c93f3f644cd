package awsfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Credentials and region the fake accepts unless Options say otherwise.
const (
	TestAccessKeyID     = "AKIDSMARTCLOUDOPSTEST"
	TestSecretAccessKey = "smartcloudops-fake-secret-key"
	TestRegion          = "us-east-1"
	// AccountID appears in the ARNs the fake returns.
	AccountID = "123456789012"
)

const maxBody = 1 << 20

// Options configures a Server. The zero value is ready to use.
type Options struct {
	AccessKeyID     string // defaults to TestAccessKeyID
	SecretAccessKey string // defaults to TestSecretAccessKey
	Region          string // the only region signatures may be scoped to; defaults to TestRegion
	// Now is the server clock for signature expiry. Defaults to time.Now.
	Now func() time.Time
	// CompleteAfterPolls is how many GetCommandInvocation calls report InProgress before an
	// invocation finishes. Defaults to 2.
	CompleteAfterPolls int
	// InvocationLag is how many GetCommandInvocation calls answer InvocationDoesNotExist right
	// after SendCommand, as the real service does for a moment. Defaults to 0.
	InvocationLag int
	// CommandResult decides how an SSM command ends on an instance. Defaults to Success with the
	// commands echoed on standard output.
	CommandResult func(instanceID string, commands []string) CommandResult
}

// CommandResult is how an SSM command invocation ends.
type CommandResult struct {
	Status       string // Success, Failed, TimedOut or Cancelled
	Stdout       string
	Stderr       string
	ResponseCode int32
}

// Request is one request the fake received, after signature checking.
type Request struct {
	Service   string         // signing name: autoscaling, ec2, ecs or ssm ("" if unsigned)
	Operation string         // such as SetDesiredCapacity
	Form      url.Values     // Query-protocol parameters
	JSON      map[string]any // JSON-protocol body
	Status    int            // HTTP status answered
	ErrorCode string         // AWS error code answered, "" on success
}

// Fault makes an operation fail with an AWS error.
type Fault struct {
	Code    string // AWS error code, such as "AccessDenied" or "Throttling"
	Message string
	Status  int // HTTP status; defaults to 400
	Times   int // how many calls fail; 0 means every call until ClearFaults
	// AfterEffect lets the operation take effect before the fault answers, as AWS does when it
	// acted and then failed on the way back: the caller sees an error for a change that was made.
	AfterEffect bool
	// Drop closes the connection without an answer (after the effect with AfterEffect), as a
	// reset connection or a load balancer's idle timeout does. Code and Status are then unused.
	Drop bool
}

// Server is a running fake. Close it when done.
type Server struct {
	o   Options
	srv *httptest.Server

	mu       sync.Mutex
	groups   map[string]*Group
	clusters map[string]map[string]*Service
	insts    map[string]*Instance
	params   map[string]Parameter
	commands map[string]*command
	faults   map[string]*Fault
	requests []Request
	seq      int
}

// New starts a fake on a loopback port.
func New(o Options) *Server {
	if o.AccessKeyID == "" {
		o.AccessKeyID = TestAccessKeyID
	}
	if o.SecretAccessKey == "" {
		o.SecretAccessKey = TestSecretAccessKey
	}
	if o.Region == "" {
		o.Region = TestRegion
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CompleteAfterPolls <= 0 {
		o.CompleteAfterPolls = 2
	}
	if o.CommandResult == nil {
		o.CommandResult = func(_ string, cmds []string) CommandResult {
			return CommandResult{Status: "Success", Stdout: strings.Join(cmds, "\n") + "\n"}
		}
	}
	s := &Server{
		o:        o,
		groups:   map[string]*Group{},
		clusters: map[string]map[string]*Service{},
		insts:    map[string]*Instance{},
		params:   map[string]Parameter{},
		commands: map[string]*command{},
		faults:   map[string]*Fault{},
	}
	// httptest listens on 127.0.0.1.
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// URL is the base endpoint to give every SDK client.
func (s *Server) URL() string { return s.srv.URL }

// Region is the region clients must sign for.
func (s *Server) Region() string { return s.o.Region }

// Credentials returns a provider of the credentials the fake accepts.
func (s *Server) Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(s.o.AccessKeyID, s.o.SecretAccessKey, "")
}

// Close stops the server and waits for requests in flight.
func (s *Server) Close() { s.srv.Close() }

// Requests returns every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Calls counts the requests for operation, failed ones included.
func (s *Server) Calls(operation string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Operation == operation {
			n++
		}
	}
	return n
}

// Inject makes operation fail with f, for f.Times calls or until ClearFaults.
func (s *Server) Inject(operation string, f Fault) {
	if f.Status == 0 {
		f.Status = http.StatusBadRequest
	}
	if f.Message == "" {
		f.Message = "injected fault " + f.Code
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[operation] = &f
}

// DenyAccess makes every call of operation fail with the access-denied error its service uses.
func (s *Server) DenyAccess(operation string) {
	code := "AccessDeniedException" // JSON services
	switch serviceOf(operation) {
	case "autoscaling":
		code = "AccessDenied"
	case "ec2":
		code = "UnauthorizedOperation"
	}
	s.Inject(operation, Fault{Code: code, Status: http.StatusForbidden,
		Message: fmt.Sprintf("User: arn:aws:iam::%s:user/smartcloudops is not authorized to perform: %s:%s", AccountID, serviceOf(operation), operation)})
}

// Throttle makes the next times calls of operation fail with the throttling error its service
// uses, which the SDK retries.
func (s *Server) Throttle(operation string, times int) {
	f := Fault{Code: "ThrottlingException", Message: "Rate exceeded", Times: times}
	switch serviceOf(operation) {
	case "autoscaling":
		f.Code = "Throttling"
	case "ec2":
		f.Code, f.Status = "RequestLimitExceeded", http.StatusServiceUnavailable
	}
	s.Inject(operation, f)
}

// FailAfterEffect makes the next times calls of operation take effect and then answer 500 with
// the internal error code of its service, as AWS does now and then: a retry or a second
// approval would do it again.
func (s *Server) FailAfterEffect(operation string, times int) {
	code := "InternalServerError" // SSM
	switch serviceOf(operation) {
	case "autoscaling":
		code = "InternalFailure"
	case "ec2":
		code = "InternalError"
	case "ecs":
		code = "ServerException"
	}
	s.Inject(operation, Fault{Code: code, Status: http.StatusInternalServerError, Message: "We encountered an internal error. Please try again.",
		Times: times, AfterEffect: true})
}

// DropAfterEffect makes the next times calls of operation take effect and then close the
// connection without an answer.
func (s *Server) DropAfterEffect(operation string, times int) {
	s.Inject(operation, Fault{Code: "connection dropped", Times: times, AfterEffect: true, Drop: true})
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.faults)
}

// apiError is an AWS error answer.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// services maps the signing name to its protocol details.
var services = map[string]struct {
	json         bool
	targetPrefix string
	version      string
}{
	"autoscaling": {version: "2011-01-01"},
	"ec2":         {version: "2016-11-15"},
	"ecs":         {json: true, targetPrefix: "AmazonEC2ContainerServiceV20141113."},
	"ssm":         {json: true, targetPrefix: "AmazonSSM."},
}

var operations = map[string]string{
	"DescribeAutoScalingGroups": "autoscaling",
	"SetDesiredCapacity":        "autoscaling",
	"RebootInstances":           "ec2",
	"DescribeServices":          "ecs",
	"UpdateService":             "ecs",
	"SendCommand":               "ssm",
	"ListCommands":              "ssm",
	"GetCommandInvocation":      "ssm",
	"CancelCommand":             "ssm",
	"GetParameter":              "ssm",
}

func serviceOf(operation string) string { return operations[operation] }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	rec := Request{}
	if err != nil || len(body) > maxBody {
		s.finish(w, rec, "", errorf(http.StatusBadRequest, "SerializationException", "request body unreadable or over %d bytes", maxBody), nil)
		return
	}
	sc, signed, sig, perr := parseAuthorization(r.Header.Get("Authorization"))
	if perr != nil {
		s.finish(w, rec, guessService(r), errorf(http.StatusForbidden, "MissingAuthenticationToken", "%v", perr), nil)
		return
	}
	rec.Service = sc.service
	svc, ok := services[sc.service]
	if !ok {
		s.finish(w, rec, "", errorf(http.StatusBadRequest, "UnknownService", "the fake does not serve %q", sc.service), nil)
		return
	}

	var handle func() (any, *apiError)
	if svc.json {
		rec.Operation, handle = s.routeJSON(r, svc.targetPrefix, body, &rec)
	} else {
		rec.Operation, handle = s.routeQuery(r, sc.service, svc.version, body, &rec)
	}

	if aerr := s.authenticate(r, body, sc, signed, sig); aerr != nil {
		s.finish(w, rec, sc.service, aerr, nil)
		return
	}
	if f := s.takeFault(rec.Operation, false); f != nil {
		s.fault(w, rec, sc.service, f)
		return
	}
	out, aerr := handle()
	if aerr == nil {
		// A fault after the effect counts only calls that had one (not a refused dry run).
		if f := s.takeFault(rec.Operation, true); f != nil {
			s.fault(w, rec, sc.service, f)
			return
		}
	}
	s.finish(w, rec, sc.service, aerr, out)
}

// fault answers with f, or drops the connection.
func (s *Server) fault(w http.ResponseWriter, rec Request, service string, f *Fault) {
	if !f.Drop {
		s.finish(w, rec, service, &apiError{status: f.Status, code: f.Code, message: f.Message}, nil)
		return
	}
	s.mu.Lock()
	rec.ErrorCode = f.Code
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
	if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
		_ = conn.Close()
	}
}

func guessService(r *http.Request) string {
	if r.Header.Get("X-Amz-Target") != "" {
		return "ecs"
	}
	return "autoscaling"
}

func (s *Server) authenticate(r *http.Request, body []byte, sc scope, signed []string, sig string) *apiError {
	if sc.accessKey != s.o.AccessKeyID {
		return s.authFailure(sc.service, &authError{unknownKey: true, msg: "The security token included in the request is invalid."})
	}
	if sc.region != s.o.Region {
		return s.authFailure(sc.service, &authError{msg: fmt.Sprintf("Credential should be scoped to a valid region, not '%s'.", sc.region)})
	}
	if err := verifySignature(r, body, sc, signed, sig, s.o.SecretAccessKey, s.o.Now()); err != nil {
		var ae *authError
		if !errors.As(err, &ae) {
			ae = &authError{msg: err.Error()}
		}
		return s.authFailure(sc.service, ae)
	}
	return nil
}

// authFailure picks the code each service uses for a bad key or signature.
func (s *Server) authFailure(service string, e *authError) *apiError {
	switch {
	case service == "ec2":
		return errorf(http.StatusUnauthorized, "AuthFailure", "%s", e.msg)
	case service == "autoscaling" && e.unknownKey:
		return errorf(http.StatusForbidden, "InvalidClientTokenId", "%s", e.msg)
	case service == "autoscaling":
		return errorf(http.StatusForbidden, "SignatureDoesNotMatch", "%s", e.msg)
	case e.unknownKey:
		return errorf(http.StatusBadRequest, "UnrecognizedClientException", "%s", e.msg)
	default:
		return errorf(http.StatusBadRequest, "InvalidSignatureException", "%s", e.msg)
	}
}

// takeFault returns the fault injected for op, counting one call against its Times, when it
// applies before the effect (afterEffect false) or after it (true).
func (s *Server) takeFault(op string, afterEffect bool) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.faults[op]
	if !ok || f.AfterEffect != afterEffect {
		return nil
	}
	if f.Times > 0 {
		f.Times--
		if f.Times == 0 {
			delete(s.faults, op)
		}
	}
	cp := *f
	return &cp
}

// finish writes the answer in the service's protocol and records the request.
func (s *Server) finish(w http.ResponseWriter, rec Request, service string, aerr *apiError, out any) {
	s.mu.Lock()
	s.seq++
	reqID := fmt.Sprintf("00000000-0000-4000-8000-%012d", s.seq)
	rec.Status = http.StatusOK
	if aerr != nil {
		rec.Status, rec.ErrorCode = aerr.status, aerr.code
	}
	s.requests = append(s.requests, rec)
	s.mu.Unlock()

	w.Header().Set("X-Amzn-Requestid", reqID)
	if services[service].json {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if aerr != nil {
			w.WriteHeader(aerr.status)
			_ = json.NewEncoder(w).Encode(map[string]string{"__type": aerr.code, "message": aerr.message})
			return
		}
		_ = json.NewEncoder(w).Encode(out)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	if aerr != nil {
		w.WriteHeader(aerr.status)
		if service == "ec2" {
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>%s</RequestID></Response>`,
				esc(aerr.code), esc(aerr.message), reqID)
			return
		}
		typ := "Sender"
		if aerr.status >= 500 {
			typ = "Receiver"
		}
		fmt.Fprintf(w, `<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
			typ, esc(aerr.code), esc(aerr.message), reqID)
		return
	}
	_, _ = io.WriteString(w, strings.ReplaceAll(out.(string), "{{RequestId}}", reqID))
}
