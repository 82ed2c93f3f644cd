package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"

	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// The gateway protocol is spoken here rather than through discordgo: v0.29.0, its latest
// release, resumes on the URL it first connected to instead of READY's resume_gateway_url and
// identifies again at once on op 9, ignoring the resumable flag and the wait Discord asks for.
// discordgo still serves every REST call.

// gatewayQuery asks for the gateway API version and encoding.
const gatewayQuery = "v=10&encoding=json"

// maxGatewayFrame bounds one gateway frame; READY and GUILD_CREATE of large guilds are the
// biggest.
const maxGatewayFrame = 32 << 20

// Gateway opcodes.
const (
	opDispatch       = 0
	opHeartbeat      = 1
	opIdentify       = 2
	opResume         = 6
	opReconnect      = 7
	opInvalidSession = 9
	opHello          = 10
	opHeartbeatACK   = 11
)

// Close codes after which the session cannot be resumed and a new one starts at once.
const (
	closeInvalidSeq     = 4007
	closeSessionTimeout = 4009
)

// closeResumable is the code the adapter closes with when it means to resume: any code other
// than 1000 and 1001 keeps the session alive on Discord's side.
const closeResumable = 4000

// session is what a Resume needs; it outlives connections.
type session struct {
	id        string
	resumeURL string
	seq       int64
}

func (s session) resumable() bool { return s.id != "" && s.resumeURL != "" }

// frame is one gateway payload.
type frame struct {
	Op   int             `json:"op"`
	Data json.RawMessage `json:"d"`
	Seq  int64           `json:"s,omitempty"`
	Type string          `json:"t,omitempty"`
}

// errInvalidSession is op 9 received while opening a connection.
type errInvalidSession struct{ resumable bool }

func (e errInvalidSession) Error() string {
	return fmt.Sprintf("gateway answered the handshake with op 9 (resumable %v)", e.resumable)
}

// conn is one open gateway connection.
type conn struct {
	a        *Adapter
	ws       *websocket.Conn
	sess     *session // written only by the goroutine that reads the connection
	interval time.Duration
	resumed  bool

	wmu      sync.Mutex // gorilla allows one writer at a time
	seq      atomic.Int64
	acked    atomic.Bool
	zombie   atomic.Bool
	handlers sync.WaitGroup // interactions being acknowledged
}

// connEnd says why a connection ended and what comes next.
type connEnd struct {
	reason     string
	fatal      error // stop Run with it
	newSession bool  // identify again after a random wait (op 9 with d false)
}

// open connects, says Hello, and identifies or resumes sess, within Options.OpenTimeout.
func (a *Adapter) open(ctx context.Context, sess *session) (*conn, error) {
	octx, cancel := context.WithTimeout(ctx, a.opts.OpenTimeout)
	defer cancel()
	resume := sess.resumable()
	target := sess.resumeURL
	if !resume {
		*sess = session{}
		var err error
		if target, err = a.gatewayURL(octx); err != nil {
			return nil, err
		}
	}
	u, err := gatewayURL(target)
	if err != nil {
		return nil, err
	}
	ws, _, err := a.dialer.DialContext(octx, u, nil)
	if err != nil {
		return nil, fmt.Errorf("dial gateway %s: %w", target, err)
	}
	ws.SetReadLimit(maxGatewayFrame)
	c := &conn{a: a, ws: ws, sess: sess, resumed: resume}
	c.seq.Store(sess.seq)
	// The handshake's reads have no deadline of their own; the timeout closes the socket.
	stop := context.AfterFunc(octx, func() { _ = ws.Close() })
	err = c.handshake(resume)
	if !stop() && err == nil {
		err = octx.Err()
	}
	if err != nil {
		_ = ws.Close()
		c.handlers.Wait()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, fmt.Errorf("gateway handshake took longer than %s", a.opts.OpenTimeout)
		}
		return nil, err
	}
	return c, nil
}

// gatewayURL asks Discord where to connect. /gateway/bot needs the token, so a refused token
// is found here, before any websocket is opened.
func (a *Adapter) gatewayURL(ctx context.Context) (string, error) {
	var u string
	err := a.call(ctx, "get gateway URL", func(opts ...discordgo.RequestOption) error {
		g, err := a.rest().GatewayBot(opts...)
		if err == nil {
			u = g.URL
		}
		return err
	})
	return u, err
}

// gatewayURL adds the version and encoding to a gateway base URL.
func gatewayURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "wss" && u.Scheme != "ws") || u.Host == "" {
		return "", fmt.Errorf("gateway URL %q is not a websocket URL", base)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	u.RawQuery = gatewayQuery
	return u.String(), nil
}

// handshake reads Hello, sends Identify or Resume, and reads until READY or RESUMED. Events
// Discord replays before RESUMED are handled as they come.
func (c *conn) handshake(resume bool) error {
	f, err := c.read()
	if err != nil {
		return fmt.Errorf("read hello: %w", err)
	}
	if f.Op != opHello {
		return fmt.Errorf("gateway sent op %d instead of hello", f.Op)
	}
	var hello struct {
		Interval int64 `json:"heartbeat_interval"`
	}
	if err := json.Unmarshal(f.Data, &hello); err != nil || hello.Interval <= 0 {
		return fmt.Errorf("gateway hello %s has no heartbeat interval", f.Data)
	}
	c.interval = time.Duration(hello.Interval) * time.Millisecond
	token := "Bot " + c.a.token()
	if resume {
		err = c.send(opResume, map[string]any{"token": token, "session_id": c.sess.id, "seq": c.sess.seq})
	} else {
		err = c.send(opIdentify, map[string]any{
			"token":      token,
			"intents":    discordgo.IntentsGuilds,
			"properties": map[string]string{"os": runtime.GOOS, "browser": "smartcloudops", "device": "smartcloudops"},
		})
	}
	if err != nil {
		return err
	}
	for {
		f, err := c.read()
		if err != nil {
			return err
		}
		switch f.Op {
		case opDispatch:
			c.dispatch(f)
			if f.Type == "READY" || f.Type == "RESUMED" {
				return nil
			}
		case opInvalidSession:
			var resumable bool
			_ = json.Unmarshal(f.Data, &resumable)
			return errInvalidSession{resumable: resumable}
		case opReconnect:
			return errors.New("gateway asked to reconnect during the handshake")
		case opHeartbeat:
			if err := c.heartbeatNow(); err != nil {
				return err
			}
		}
	}
}

// serve reads the connection until it ends: ctx ends, Discord closes it or asks for a
// reconnect, or heartbeats go unanswered.
func (c *conn) serve(ctx context.Context) connEnd {
	done := make(chan struct{})
	var hb sync.WaitGroup
	hb.Go(func() { c.heartbeat(done) })
	stop := context.AfterFunc(ctx, func() { c.close(websocket.CloseNormalClosure) })
	end := c.readLoop()
	stop()
	close(done)
	_ = c.ws.Close()
	hb.Wait()
	c.handlers.Wait()
	return end
}

func (c *conn) readLoop() connEnd {
	for {
		f, err := c.read()
		if err != nil {
			return c.ended(err)
		}
		switch f.Op {
		case opDispatch:
			c.dispatch(f)
		case opHeartbeat:
			if err := c.heartbeatNow(); err != nil {
				return c.ended(err)
			}
		case opHeartbeatACK:
			c.acked.Store(true)
		case opReconnect:
			c.close(closeResumable)
			return connEnd{reason: "gateway asked to reconnect (op 7)"}
		case opInvalidSession:
			var resumable bool
			_ = json.Unmarshal(f.Data, &resumable)
			c.close(closeResumable)
			if !resumable {
				return connEnd{reason: "invalid session (op 9)", newSession: true}
			}
			return connEnd{reason: "invalid session (op 9, resumable)"}
		}
	}
}

// ended classifies a read error.
func (c *conn) ended(err error) connEnd {
	if c.zombie.Load() {
		return connEnd{reason: "no heartbeat ACK within one interval"}
	}
	if ferr := fatalGatewayError(err); ferr != nil {
		return connEnd{fatal: ferr}
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) && (ce.Code == closeInvalidSeq || ce.Code == closeSessionTimeout) {
		*c.sess = session{} // a new session, identified at once
	}
	return connEnd{reason: err.Error()}
}

// dispatch handles an op 0 event. It runs on the reading goroutine, which alone writes sess.
func (c *conn) dispatch(f frame) {
	if f.Seq > 0 {
		c.seq.Store(f.Seq)
		c.sess.seq = f.Seq
	}
	switch f.Type {
	case "READY":
		var r struct {
			SessionID string `json:"session_id"`
			ResumeURL string `json:"resume_gateway_url"`
		}
		if err := json.Unmarshal(f.Data, &r); err != nil {
			c.a.log.Warn("unreadable READY", obs.KeyErr, err)
			return
		}
		c.sess.id, c.sess.resumeURL = r.SessionID, r.ResumeURL
	case "INTERACTION_CREATE":
		var i discordgo.Interaction
		if err := json.Unmarshal(f.Data, &i); err != nil {
			// discordgo's own gateway would hand on a half-filled interaction; this one is
			// dropped, and Discord shows the person that it failed.
			c.a.log.Warn("unreadable interaction", obs.KeyErr, err)
			return
		}
		c.handlers.Go(func() { c.a.onInteraction(&i) })
	}
}

// heartbeat sends op 1 every interval, the first after a random part of it, and closes the
// connection when the previous heartbeat went unacknowledged.
func (c *conn) heartbeat(done <-chan struct{}) {
	c.acked.Store(true)
	t := time.NewTimer(time.Duration(rand.Int64N(int64(c.interval)))) // #nosec G404 -- heartbeat jitter, not a secret
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		if !c.acked.Swap(false) {
			c.zombie.Store(true)
			c.close(closeResumable)
			return
		}
		if err := c.heartbeatNow(); err != nil {
			return
		}
		t.Reset(c.interval)
	}
}

func (c *conn) heartbeatNow() error {
	seq := c.seq.Load()
	if seq == 0 {
		return c.send(opHeartbeat, nil)
	}
	return c.send(opHeartbeat, seq)
}

func (c *conn) read() (frame, error) {
	_, b, err := c.ws.ReadMessage()
	if err != nil {
		return frame{}, err
	}
	return parseFrame(b)
}

// parseFrame decodes one gateway payload.
func parseFrame(b []byte) (frame, error) {
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		return frame{}, fmt.Errorf("decode gateway frame: %w", err)
	}
	return f, nil
}

func (c *conn) send(op int, d any) error {
	b, err := json.Marshal(map[string]any{"op": op, "d": d})
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return fmt.Errorf("write gateway op %d: %w", op, err)
	}
	return nil
}

// close sends a close frame with code and closes the socket. 1000 ends the session on
// Discord's side; closeResumable keeps it.
func (c *conn) close(code int) {
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
	c.wmu.Unlock()
	_ = c.ws.Close()
}
