package discordfake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/gorilla/websocket"
)

// Options configures a Server. Zero values take the defaults shown.
type Options struct {
	Token             string // the bot token REST calls and Identify must carry; "test-token"
	AppID             string // the application ID in READY; "APP1"
	BotID             string // the bot user's ID; "BOT1"
	HeartbeatInterval int    // milliseconds, sent in Hello; 45000
}

// Request is one REST request the fake received.
type Request struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte // the JSON body, or the payload_json part of a multipart body
	Files  []File // the file parts of a multipart body
	Status int    // the status the fake answered with
}

// JSON decodes the request's JSON body into v.
func (r Request) JSON(v any) error { return json.Unmarshal(r.Body, v) }

// File is one uploaded attachment.
type File struct {
	Field       string // files[0], ...
	Name        string
	ContentType string
	Data        []byte
}

// Direction tells who sent a gateway frame.
type Direction int

// Frame directions.
const (
	FromClient Direction = iota + 1
	FromServer
)

// Frame is one gateway frame.
type Frame struct {
	Index int // position in the log of all frames, from 0
	Conn  int // which connection, counting dials from 1
	Dir   Direction
	Op    int
	Seq   int64
	Type  string // the dispatch event name, for op 0
	Data  json.RawMessage
}

// Response is a canned answer queued with Inject.
type Response struct {
	Status int
	Header http.Header
	// Body is sent as is, except that EchoAuthorization is replaced by the Authorization
	// header of the request, the way some proxies and APIs quote a refused credential back.
	Body string
}

// EchoAuthorization in a Response's Body stands for the request's Authorization header.
const EchoAuthorization = "{{authorization}}"

type injection struct {
	method, prefix string
	resp           Response
}

// Server is the fake. It is safe for concurrent use.
type Server struct {
	// URL is the base URL, http://127.0.0.1:port, for discord.Options.BaseURL.
	URL string

	opts Options
	srv  *httptest.Server
	rest *http.ServeMux
	up   websocket.Upgrader
	gwWG sync.WaitGroup

	mu       sync.Mutex
	changed  chan struct{}
	requests []Request
	frames   []Frame
	conns    []*gwConn
	injected []injection
	refuse   int    // close code for every later handshake, 0 for none
	token    string // the token REST calls and handshakes must carry
	seq      int64
	sessions map[string]bool
	nextID   int64
	tokens   map[string]string // interaction token → channel
	closed   bool
}

// New starts a fake on 127.0.0.1. Call Close when done.
func New(o Options) (*Server, error) {
	if o.Token == "" {
		o.Token = "test-token"
	}
	if o.AppID == "" {
		o.AppID = "APP1"
	}
	if o.BotID == "" {
		o.BotID = "BOT1"
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 45000
	}
	s := &Server{
		opts:     o,
		token:    o.Token,
		changed:  make(chan struct{}),
		sessions: map[string]bool{},
		tokens:   map[string]string{},
		nextID:   1100000000000000000,
		up:       websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
	}
	s.rest = s.restRoutes()
	mux := http.NewServeMux()
	mux.HandleFunc("/gw", s.serveGateway)
	mux.HandleFunc("/gw/", s.serveGateway)
	mux.HandleFunc(resumePath, s.serveGateway)
	mux.HandleFunc(resumePath+"/", s.serveGateway)
	mux.HandleFunc("/api/", s.serveREST)
	s.srv = httptest.NewUnstartedServer(mux)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("discordfake: listen on 127.0.0.1: %w", err)
	}
	s.srv.Listener = l
	s.srv.Start()
	s.URL = s.srv.URL
	return s, nil
}

// Close closes every gateway connection and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	conns := append([]*gwConn(nil), s.conns...)
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	s.srv.Close()
	s.gwWG.Wait()
}

// Inject queues r as the answer to the next request whose method is method and whose path
// starts with pathPrefix (for example "/api/v9/channels/"). Answers are used once, in order.
func (s *Server) Inject(method, pathPrefix string, r Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.injected = append(s.injected, injection{method: method, prefix: pathPrefix, resp: r})
}

// RateLimited is a 429 as Discord sends it: a JSON body with retry_after in seconds and the
// X-RateLimit headers.
func RateLimited(retryAfter float64) Response {
	h := http.Header{}
	h.Set("X-RateLimit-Limit", "5")
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("X-RateLimit-Reset-After", fmt.Sprintf("%.3f", retryAfter))
	h.Set("X-RateLimit-Bucket", "fake-bucket")
	h.Set("X-RateLimit-Scope", "user")
	h.Set("Retry-After", fmt.Sprintf("%d", int(retryAfter)+1))
	return Response{
		Status: http.StatusTooManyRequests,
		Header: h,
		Body:   fmt.Sprintf(`{"message":"You are being rate limited.","retry_after":%g,"global":false}`, retryAfter),
	}
}

// Unauthorized is Discord's 401.
func Unauthorized() Response {
	return Response{Status: http.StatusUnauthorized, Body: `{"message":"401: Unauthorized","code":0}`}
}

// SetToken makes the fake accept only token from now on, in REST calls and handshakes, as
// Discord does after a bot token is reset: requests with the old token get 401, and an
// Identify or Resume with it is closed with 4004.
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

func (s *Server) acceptedToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// Forbidden is Discord's 403 for a missing permission.
func Forbidden() Response {
	return Response{Status: http.StatusForbidden, Body: `{"message":"Missing Permissions","code":50013}`}
}

// Requests returns every REST request so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Frames returns every gateway frame so far.
func (s *Server) Frames() []Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Frame(nil), s.frames...)
}

// Dials returns how many gateway connections were opened.
func (s *Server) Dials() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// DialPath returns the URL path gateway connection n (counting from 1) was opened on: /gw/
// for the URL of GET /gateway and /gateway/bot, /resume-gw/ for the resume_gateway_url of READY.
func (s *Server) DialPath(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n < 1 || n > len(s.conns) {
		return ""
	}
	return s.conns[n-1].path
}

// WaitRequest returns the first recorded request that match accepts, waiting for it until ctx ends.
func (s *Server) WaitRequest(ctx context.Context, match func(Request) bool) (Request, error) {
	return wait(ctx, s, func() []Request { return s.requests }, match)
}

// WaitFrame returns the first recorded frame that match accepts, waiting for it until ctx ends.
func (s *Server) WaitFrame(ctx context.Context, match func(Frame) bool) (Frame, error) {
	return wait(ctx, s, func() []Frame { return s.frames }, match)
}

func wait[T any](ctx context.Context, s *Server, list func() []T, match func(T) bool) (T, error) {
	for {
		s.mu.Lock()
		for _, v := range list() {
			if match(v) {
				s.mu.Unlock()
				return v, nil
			}
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			var zero T
			return zero, fmt.Errorf("discordfake: waiting: %w", ctx.Err())
		}
	}
}

// Route matches a request by method and path prefix, for WaitRequest.
func Route(method, pathPrefix string) func(Request) bool {
	return func(r Request) bool { return r.Method == method && strings.HasPrefix(r.Path, pathPrefix) }
}

// notify wakes waiters; s.mu must be held.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) newID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	return fmt.Sprintf("%d", s.nextID)
}

// readBody reads a JSON or multipart body into the request record.
func readBody(r *http.Request, rec *Request) error {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		rec.Body = raw
		return nil
	}
	mr := multipart.NewReader(bytes.NewReader(raw), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("multipart body: %w", err)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return fmt.Errorf("multipart part %q: %w", p.FormName(), err)
		}
		if p.FormName() == "payload_json" {
			rec.Body = data
			continue
		}
		rec.Files = append(rec.Files, File{Field: p.FormName(), Name: p.FileName(), ContentType: p.Header.Get("Content-Type"), Data: data})
	}
}
