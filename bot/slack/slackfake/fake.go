package slackfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Options configures a Server. The zero value works.
type Options struct {
	// BotUserID is the bot's user ID that auth.test reports; defaults to "UBOT".
	BotUserID string
	// PingEvery is how often the server sends websocket PING frames; defaults to 100ms.
	// The client's ping timeout must be longer.
	PingEvery time.Duration
	// OnAck, if set, is called from the socket reader for every ack as it arrives. It must
	// not block.
	OnAck func(Ack)
}

// Ack is one acknowledgement the client sent over the socket.
type Ack struct {
	EnvelopeID string
	Payload    json.RawMessage
	At         time.Time
}

// Call is one HTTP request the client made to the fake.
type Call struct {
	// Method is the Web API method ("chat.postMessage"), "upload" for the file upload
	// URL, or "response" for a response_url post.
	Method string
	Path   string
	Form   url.Values      // the form body, for form posts
	JSON   json.RawMessage // the JSON body, for JSON posts
	Body   []byte          // the raw body of an upload
	Header http.Header
	Status int // the HTTP status the fake answered with
}

type rateLimit struct {
	times      int
	retryAfter int
}

// Server is a running fake. Create it with Start and stop it with Close.
type Server struct {
	opts Options
	srv  *httptest.Server
	up   websocket.Upgrader

	mu         sync.Mutex
	changed    chan struct{} // closed and replaced whenever state changes
	conn       *socket       // the current socket, nil when none
	socks      []*socket
	dials      int
	opens      int
	calls      []Call
	acks       []Ack
	connectErr string
	botToken   string // the token Web API calls must carry; "" accepts any
	appToken   string // the token apps.connections.open must carry; "" accepts any
	limits     map[string]*rateLimit
	groups     map[string][]string
	seq        int
	closed     bool

	wg sync.WaitGroup
}

type socket struct {
	c    *websocket.Conn
	wmu  sync.Mutex
	done chan struct{}
}

func (k *socket) write(b []byte) error {
	k.wmu.Lock()
	defer k.wmu.Unlock()
	_ = k.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return k.c.WriteMessage(websocket.TextMessage, b)
}

// Start starts a fake listening on 127.0.0.1.
func Start(o Options) *Server {
	if o.BotUserID == "" {
		o.BotUserID = "UBOT"
	}
	if o.PingEvery <= 0 {
		o.PingEvery = 100 * time.Millisecond
	}
	s := &Server{
		opts:    o,
		up:      websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
		changed: make(chan struct{}),
		limits:  map[string]*rateLimit{},
		groups:  map[string][]string{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.serveAPI)
	mux.HandleFunc("/upload/", s.serveUpload)
	mux.HandleFunc("/response/", s.serveResponse)
	mux.HandleFunc("/link/", s.serveSocket)
	s.srv = httptest.NewServer(mux) // listens on 127.0.0.1
	return s
}

// URL is the fake's base URL, such as http://127.0.0.1:41234.
func (s *Server) URL() string { return s.srv.URL }

// APIURL is the Web API base URL to give the client; it ends with "/".
func (s *Server) APIURL() string { return s.srv.URL + "/api/" }

// ResponseURL returns a response_url on the fake; posts to it are recorded as "response" calls.
func (s *Server) ResponseURL(id string) string { return s.srv.URL + "/response/" + id }

// BotUserID is the bot user ID auth.test reports.
func (s *Server) BotUserID() string { return s.opts.BotUserID }

// Close closes every socket and stops the server, waiting for its goroutines.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	socks := s.socks
	s.socks = nil
	s.conn = nil
	s.notifyLocked()
	s.mu.Unlock()
	for _, k := range socks {
		_ = k.c.Close()
	}
	s.srv.Close()
	s.wg.Wait()
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// wait blocks until cond (called with s.mu held) is true or ctx ends.
func (s *Server) wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		if cond() {
			s.mu.Unlock()
			return nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// FailConnect makes apps.connections.open answer {"ok":false,"error":code}, for example
// "invalid_auth". An empty code restores normal behaviour.
func (s *Server) FailConnect(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.connectErr = code
}

// SetTokens makes the fake accept only these tokens from now on, as Slack does after a token
// is rotated or revoked: a Web API call without botToken, or an apps.connections.open without
// appToken, is answered {"ok":false,"error":"invalid_auth"}. Empty strings accept any token,
// which is the default.
func (s *Server) SetTokens(botToken, appToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.botToken, s.appToken = botToken, appToken
}

// RateLimit makes the next times calls of the Web API method (such as "chat.postMessage")
// answer HTTP 429 with a Retry-After header of retryAfter seconds.
func (s *Server) RateLimit(method string, times, retryAfter int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits[method] = &rateLimit{times: times, retryAfter: retryAfter}
}

// SetUserGroups sets what usergroups.list returns: user group ID → member user IDs.
func (s *Server) SetUserGroups(groups map[string][]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups = groups
}

// Opens is how many times apps.connections.open was called.
func (s *Server) Opens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opens
}

// Dials is how many websocket connections were accepted.
func (s *Server) Dials() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dials
}

// WaitDials waits until at least n websocket connections were accepted.
func (s *Server) WaitDials(ctx context.Context, n int) error {
	return s.wait(ctx, func() bool { return s.dials >= n && s.conn != nil })
}

// Send writes one frame to the current socket, waiting for a socket if there is none.
func (s *Server) Send(ctx context.Context, frame []byte) error {
	var k *socket
	if err := s.wait(ctx, func() bool { k = s.conn; return k != nil || s.closed }); err != nil {
		return fmt.Errorf("slackfake: send: no socket: %w", err)
	}
	if k == nil {
		return errors.New("slackfake: send: server closed")
	}
	if err := k.write(frame); err != nil {
		return fmt.Errorf("slackfake: send: %w", err)
	}
	return nil
}

// DropConnection closes the current socket without a disconnect envelope, as a network
// failure would.
func (s *Server) DropConnection() {
	s.mu.Lock()
	k := s.conn
	s.conn = nil
	s.mu.Unlock()
	if k != nil {
		_ = k.c.Close()
	}
}

// Acks returns every ack received so far, in order.
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ack(nil), s.acks...)
}

// AckCount returns how many acks carried envelopeID.
func (s *Server) AckCount(envelopeID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, a := range s.acks {
		if a.EnvelopeID == envelopeID {
			n++
		}
	}
	return n
}

// WaitAck waits for the first ack of envelopeID and returns it.
func (s *Server) WaitAck(ctx context.Context, envelopeID string) (Ack, error) {
	var got Ack
	err := s.wait(ctx, func() bool {
		for _, a := range s.acks {
			if a.EnvelopeID == envelopeID {
				got = a
				return true
			}
		}
		return false
	})
	if err != nil {
		return Ack{}, fmt.Errorf("slackfake: ack %q: %w", envelopeID, err)
	}
	return got, nil
}

// Calls returns the recorded calls of method ("chat.postMessage", "upload", "response"),
// or every call when method is empty.
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.callsLocked(method)
}

func (s *Server) callsLocked(method string) []Call {
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// WaitCalls waits until method was called at least n times and returns those calls.
func (s *Server) WaitCalls(ctx context.Context, method string, n int) ([]Call, error) {
	var got []Call
	err := s.wait(ctx, func() bool { got = s.callsLocked(method); return len(got) >= n })
	if err != nil {
		return got, fmt.Errorf("slackfake: %d calls of %s (have %d): %w", n, method, len(got), err)
	}
	return got, nil
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
	s.notifyLocked()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	c := Call{Method: method, Path: r.URL.Path, Header: r.Header.Clone(), Status: http.StatusOK}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		c.JSON = json.RawMessage(body)
	default:
		c.Form, _ = url.ParseQuery(string(body))
	}

	s.mu.Lock()
	if l := s.limits[method]; l != nil && l.times > 0 {
		l.times--
		retry := l.retryAfter
		s.mu.Unlock()
		c.Status = http.StatusTooManyRequests
		s.record(c)
		w.Header().Set("Retry-After", strconv.Itoa(retry))
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"ok": false, "error": "ratelimited"})
		return
	}
	if method == "apps.connections.open" {
		s.opens++
	}
	connectErr := s.connectErr
	want := s.botToken
	if method == "apps.connections.open" {
		want = s.appToken
	}
	s.seq++
	ts := fmt.Sprintf("1700000000.%06d", s.seq)
	fileID := fmt.Sprintf("F%d", s.seq)
	groups := s.groups
	s.mu.Unlock()
	s.record(c)

	if want != "" && callToken(r, c.Form) != want {
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	switch method {
	case "apps.connections.open":
		if connectErr != "" {
			writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": connectErr})
			return
		}
		wsURL := "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/link/?ticket=t" + strconv.Itoa(s.Opens())
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "url": wsURL})
	case "auth.test":
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "user_id": s.opts.BotUserID, "bot_id": "B1",
			"team_id": "T1", "user": "smartcloudops", "team": "ops"})
	case "chat.postMessage", "chat.update":
		ch := c.Form.Get("channel")
		if ch == "" {
			writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "channel_not_found"})
			return
		}
		if method == "chat.update" {
			ts = c.Form.Get("ts")
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "channel": ch, "ts": ts,
			"message": map[string]any{"type": "message", "text": c.Form.Get("text"), "ts": ts}})
	case "chat.postEphemeral":
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "message_ts": ts})
	case "usergroups.list":
		var list []map[string]any
		for id, users := range groups {
			list = append(list, map[string]any{"id": id, "team_id": "T1", "is_usergroup": true,
				"name": id, "handle": strings.ToLower(id), "users": users, "user_count": len(users)})
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "usergroups": list})
	case "files.getUploadURLExternal":
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "file_id": fileID,
			"upload_url": s.srv.URL + "/upload/" + fileID})
	case "files.completeUploadExternal":
		var files []map[string]any
		_ = json.Unmarshal([]byte(c.Form.Get("files")), &files)
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "files": files})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "unknown_method"})
	}
}

// callToken is the token a Web API call carries: the bearer token, or the form's token field.
func callToken(r *http.Request, form url.Values) string {
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return t
	}
	return form.Get("token")
}

func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	c := Call{Method: "upload", Path: r.URL.Path, Header: r.Header.Clone(), Status: http.StatusOK}
	if err := r.ParseMultipartForm(8 << 20); err == nil {
		if f, _, err := r.FormFile("file"); err == nil {
			c.Body, _ = io.ReadAll(f)
			_ = f.Close()
		}
	}
	s.record(c)
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "OK - "+strconv.Itoa(len(c.Body)))
}

func (s *Server) serveResponse(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	s.record(Call{Method: "response", Path: r.URL.Path, JSON: json.RawMessage(body), Header: r.Header.Clone(),
		Status: http.StatusOK})
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	c, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	k := &socket{c: c, done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = c.Close()
		return
	}
	s.wg.Add(1)
	s.dials++
	s.conn = k
	s.socks = append(s.socks, k)
	s.notifyLocked()
	s.mu.Unlock()
	defer s.wg.Done()

	s.wg.Go(func() { s.ping(k) })
	defer close(k.done)
	if err := k.write([]byte(Hello())); err != nil {
		return
	}
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			s.mu.Lock()
			if s.conn == k {
				s.conn = nil
			}
			s.notifyLocked()
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		var a struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(msg, &a) != nil {
			continue
		}
		ack := Ack{EnvelopeID: a.EnvelopeID, Payload: a.Payload, At: time.Now()}
		if s.opts.OnAck != nil {
			s.opts.OnAck(ack)
		}
		s.mu.Lock()
		s.acks = append(s.acks, ack)
		s.notifyLocked()
		s.mu.Unlock()
	}
}

func (s *Server) ping(k *socket) {
	t := time.NewTicker(s.opts.PingEvery)
	defer t.Stop()
	for {
		select {
		case <-k.done:
			return
		case <-t.C:
			k.wmu.Lock()
			err := k.c.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second))
			k.wmu.Unlock()
			if err != nil {
				return
			}
		}
	}
}
