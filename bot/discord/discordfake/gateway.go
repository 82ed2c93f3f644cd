package discordfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// resumePath is where resume_gateway_url points: another path than the one GET /gateway
// gives, so a test can tell which URL a client resumed on.
const resumePath = "/resume-gw"

// ErrNoConnection means no gateway connection is open to send on.
var ErrNoConnection = errors.New("discordfake: no open gateway connection")

// gwConn is one gateway connection. gorilla allows one writer at a time, so every write
// holds mu: a frame written concurrently with a heartbeat ACK would corrupt both.
type gwConn struct {
	n    int
	ws   *websocket.Conn
	path string // the URL path it was opened on

	mu     sync.Mutex
	closed bool
}

type wireFrame struct {
	Op   int             `json:"op"`
	Data json.RawMessage `json:"d"`
	Seq  int64           `json:"s,omitempty"`
	Type string          `json:"t,omitempty"`
}

func (s *Server) serveGateway(w http.ResponseWriter, r *http.Request) {
	ws, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.Close()
		return
	}
	s.gwWG.Add(1)
	c := &gwConn{n: len(s.conns) + 1, ws: ws, path: r.URL.Path}
	s.conns = append(s.conns, c)
	s.notify()
	s.mu.Unlock()
	defer s.gwWG.Done()
	defer c.close()

	if err := s.send(c, 10, 0, "", map[string]any{"heartbeat_interval": s.opts.HeartbeatInterval}); err != nil {
		return
	}
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var f wireFrame
		if err := json.Unmarshal(msg, &f); err != nil {
			_ = c.closeWith(4002, "decode error")
			return
		}
		s.recordFrame(Frame{Conn: c.n, Dir: FromClient, Op: f.Op, Seq: f.Seq, Type: f.Type, Data: f.Data})
		if !s.handleClientFrame(c, f) {
			return
		}
	}
}

// handleClientFrame answers one client frame; false ends the connection.
func (s *Server) handleClientFrame(c *gwConn, f wireFrame) bool {
	switch f.Op {
	case 1: // heartbeat
		return s.send(c, 11, 0, "", nil) == nil
	case 2: // identify
		var d struct {
			Token string `json:"token"`
		}
		_ = json.Unmarshal(f.Data, &d)
		if code := s.handshakeRefusal(d.Token); code != 0 {
			_ = c.closeWith(code, "refused")
			return false
		}
		s.mu.Lock()
		id := fmt.Sprintf("sess-%d", len(s.sessions)+1)
		s.sessions[id] = true
		s.mu.Unlock()
		return s.dispatch(c, "READY", map[string]any{
			"v": 9, "session_id": id,
			"resume_gateway_url": "ws" + strings.TrimPrefix(s.URL, "http") + resumePath + "/",
			"user":               map[string]any{"id": s.opts.BotID, "username": "smartcloudops", "bot": true},
			"application":        map[string]any{"id": s.opts.AppID, "flags": 0},
			"guilds":             []any{}, "private_channels": []any{},
		}) == nil
	case 6: // resume
		var d struct {
			Token     string `json:"token"`
			SessionID string `json:"session_id"`
		}
		_ = json.Unmarshal(f.Data, &d)
		if code := s.handshakeRefusal(d.Token); code != 0 {
			_ = c.closeWith(code, "refused")
			return false
		}
		s.mu.Lock()
		known := s.sessions[d.SessionID]
		s.mu.Unlock()
		// A session lives where READY's resume_gateway_url points; a Resume anywhere else
		// finds no session to resume, and is answered with op 9.
		if !known || !strings.HasPrefix(c.path, resumePath) {
			return s.send(c, 9, 0, "", false) == nil
		}
		return s.dispatch(c, "RESUMED", map[string]any{}) == nil
	}
	return true
}

func (s *Server) handshakeRefusal(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse != 0 {
		return s.refuse
	}
	if token != "Bot "+s.token {
		return 4004
	}
	return 0
}

// RefuseHandshakes makes every later Identify or Resume end with close code code, the way
// Discord answers a bad token (4004) or disallowed intents (4014). Zero turns it off.
func (s *Server) RefuseHandshakes(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = code
}

func (s *Server) send(c *gwConn, op int, seq int64, typ string, d any) error {
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	b, err := json.Marshal(wireFrame{Op: op, Data: data, Seq: seq, Type: typ})
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrNoConnection
	}
	// The frame is recorded before it is written: the client can answer it as soon as the write
	// completes, and its answer must never be recorded ahead of the frame it answers. A write
	// that fails leaves the frame recorded and returns an error.
	s.recordFrame(Frame{Conn: c.n, Dir: FromServer, Op: op, Seq: seq, Type: typ, Data: data})
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return fmt.Errorf("discordfake: write op %d: %w", op, err)
	}
	return nil
}

// dispatch sends an op 0 event with the next sequence number.
func (s *Server) dispatch(c *gwConn, event string, d any) error {
	s.mu.Lock()
	s.seq++
	seq := s.seq
	s.mu.Unlock()
	return s.send(c, 0, seq, event, d)
}

func (s *Server) recordFrame(f Frame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f.Index = len(s.frames)
	s.frames = append(s.frames, f)
	s.notify()
}

func (s *Server) current() (*gwConn, error) {
	// A connection's lock is taken after the server's is released: send holds a connection's
	// lock while it records the frame under the server's.
	s.mu.Lock()
	conns := append([]*gwConn(nil), s.conns...)
	s.mu.Unlock()
	for i := len(conns) - 1; i >= 0; i-- {
		c := conns[i]
		c.mu.Lock()
		open := !c.closed
		c.mu.Unlock()
		if open {
			return c, nil
		}
	}
	return nil, ErrNoConnection
}

// Dispatch sends event (op 0) with data on the newest open connection.
func (s *Server) Dispatch(event string, data any) error {
	c, err := s.current()
	if err != nil {
		return err
	}
	return s.dispatch(c, event, data)
}

// Reconnect sends op 7: the client must close and resume on a new connection.
func (s *Server) Reconnect() error {
	c, err := s.current()
	if err != nil {
		return err
	}
	return s.send(c, 7, 0, "", nil)
}

// InvalidSession sends op 9 with d = resumable.
func (s *Server) InvalidSession(resumable bool) error {
	c, err := s.current()
	if err != nil {
		return err
	}
	return s.send(c, 9, 0, "", resumable)
}

// Drop closes the newest connection's TCP socket without a close frame, like a network failure.
func (s *Server) Drop() error {
	c, err := s.current()
	if err != nil {
		return err
	}
	c.close()
	return nil
}

// CloseConn closes the newest connection with a close frame carrying code.
func (s *Server) CloseConn(code int) error {
	c, err := s.current()
	if err != nil {
		return err
	}
	return c.closeWith(code, "closed by test")
}

func (c *gwConn) closeWith(code int, reason string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrNoConnection
	}
	c.closed = true
	err := c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	_ = c.ws.Close()
	return err
}

func (c *gwConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	_ = c.ws.Close()
}
