package discord

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// fatalCloseCodes are the gateway close codes after which reconnecting cannot succeed.
var fatalCloseCodes = map[int]string{
	4004: "authentication failed: the bot token is wrong or was reset",
	4010: "invalid shard",
	4011: "sharding required: the bot is in too many guilds for one connection",
	4012: "invalid API version",
	4013: "invalid intents",
	4014: "disallowed intents: enable them for the application in the developer portal",
}

// Run connects to the gateway, registers /ops and delivers interactions to h until ctx ends
// (then it returns nil) or Discord refuses the bot for good: a 401 from any request
// (ErrUnauthorized) or a fatal gateway close code (ErrFatalClose). Lost connections are
// reopened first at once and then with a doubling backoff; op 7 and a resumable op 9 resume
// the session on READY's resume_gateway_url, and op 9 with d false starts a new session after
// the one to five seconds Discord asks for.
func (a *Adapter) Run(ctx context.Context, h bot.Handler) error {
	if h == nil {
		return errors.New("discord: Run: nil handler")
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.mu.Lock()
	if a.running {
		a.mu.Unlock()
		return fmt.Errorf("discord: %w", ErrAlreadyRunning)
	}
	a.running, a.handler, a.runCtx = true, h, runCtx
	a.jobs = make(chan job, a.opts.Workers+a.opts.QueueSize)
	a.slots = make(chan struct{}, a.opts.Workers+a.opts.QueueSize)
	jobs, slots := a.jobs, a.slots
	a.mu.Unlock()
	drain(a.fatalCh)

	var workers sync.WaitGroup
	for range a.opts.Workers {
		workers.Go(func() { a.work(runCtx, jobs, slots) })
	}

	err := a.gateway(runCtx)

	a.mu.Lock()
	a.running = false
	a.mu.Unlock()
	cancel()
	a.inflight.Wait() // nothing sends on jobs any more
	close(jobs)
	workers.Wait()
	a.setConnected(false)
	return err
}

func drain[T any](c chan T) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// reconnectPause is the wait between losing a connection and opening the next.
const reconnectPause = 250 * time.Millisecond

// maxResumeFailures is how many failed connections in a row end the attempts to resume: the
// next connection identifies afresh.
const maxResumeFailures = 3

// gateway keeps a gateway connection open until ctx ends or a fatal error occurs.
func (a *Adapter) gateway(ctx context.Context) error {
	backoff := a.opts.ReconnectBackoff
	registered := a.opts.SkipCommandRegistration
	failures := 0
	var sess session
	for {
		c, err := a.open(ctx, &sess)
		var invalid errInvalidSession
		if errors.As(err, &invalid) && ctx.Err() == nil {
			// Discord refused to resume (or, rarely, to identify) with op 9.
			if !invalid.resumable {
				sess = session{}
			}
			wait := a.reidentifyWait()
			a.log.Warn("gateway session invalidated during the handshake", "resumable", invalid.resumable, "retry_in", wait)
			if ferr := a.pause(ctx, wait); ferr != nil || ctx.Err() != nil {
				return ferr
			}
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if ferr := fatalGatewayError(err); ferr != nil {
				return ferr
			}
			failures++
			if failures >= maxResumeFailures {
				sess = session{} // the resume URL may be gone; start over from /gateway/bot
			}
			a.log.Warn("gateway connection failed", obs.KeyErr, err, "failures", failures, "retry_in", backoff)
			if ferr := a.sleep(ctx, backoff); ferr != nil || ctx.Err() != nil {
				return ferr
			}
			backoff = min(2*backoff, a.opts.MaxReconnectBackoff)
			continue
		}
		a.log.Info("gateway connected", "resumed", c.resumed, "after_failures", failures)
		failures, backoff = 0, a.opts.ReconnectBackoff
		a.setConnected(true)
		if !registered {
			switch rerr := a.registerCommands(ctx); {
			case rerr == nil:
				registered = true
			case errors.Is(rerr, ErrUnauthorized):
				c.close(websocket.CloseNormalClosure)
				return rerr
			default:
				// Alerts still flow without /ops; registration is tried again on the next connection.
				a.log.Error("register /ops command", obs.KeyErr, rerr)
			}
		}
		end, refused := a.serveUntilRefused(ctx, c)
		a.setConnected(false)
		switch {
		case refused != nil:
			return refused
		case ctx.Err() != nil:
			return nil
		case end.fatal != nil:
			return end.fatal
		case end.newSession:
			// op 9 with d false: Discord asks for a fresh Identify after a random one to five
			// seconds, so that many clients told at once do not all come back at once.
			sess = session{}
			wait := a.reidentifyWait()
			a.log.Warn("gateway session invalidated; identifying again", "reason", end.reason, "in", wait)
			if ferr := a.pause(ctx, wait); ferr != nil || ctx.Err() != nil {
				return ferr
			}
		default:
			a.log.Warn("gateway connection lost, reconnecting", "reason", end.reason, "resume", sess.resumable())
			// A short pause keeps a connection that fails at once from spinning.
			if ferr := a.sleep(ctx, reconnectPause); ferr != nil || ctx.Err() != nil {
				return ferr
			}
		}
	}
}

// serveUntilRefused serves c until it ends, or until a request reports that Discord refused
// the bot for good, which it returns.
func (a *Adapter) serveUntilRefused(ctx context.Context, c *conn) (connEnd, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var refused error
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case refused = <-a.fatalCh:
			cancel()
		case <-sctx.Done():
		}
	}()
	end := c.serve(sctx)
	cancel()
	<-watched
	return end, refused
}

// randomReidentifyWait is how long to wait before identifying after op 9 with d false: a
// random duration between one and five seconds, as Discord's documentation asks.
func randomReidentifyWait() time.Duration {
	return time.Second + rand.N(4*time.Second) // #nosec G404 -- reconnect jitter, not a secret
}

// sleep waits d, or returns early with a fatal error reported meanwhile or when ctx ends.
func (a *Adapter) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil
	case err := <-a.fatalCh:
		return err
	case <-t.C:
		return nil
	}
}

// fatalGatewayError returns the error Run stops with when err means Discord will never accept
// this bot as configured, and nil when reconnecting may help.
func fatalGatewayError(err error) error {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		if why, ok := fatalCloseCodes[ce.Code]; ok {
			return fmt.Errorf("discord gateway: %w: close code %d, %s", ErrFatalClose, ce.Code, why)
		}
	}
	if errors.Is(err, ErrUnauthorized) {
		return fmt.Errorf("discord gateway: %w", err)
	}
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode == http.StatusUnauthorized {
		return fmt.Errorf("discord gateway: %w", ErrUnauthorized)
	}
	return nil
}

// registerCommands replaces the application's commands in the configured scope with /ops.
func (a *Adapter) registerCommands(ctx context.Context) error {
	scope := "globally"
	if a.opts.GuildID != "" {
		scope = "in guild " + a.opts.GuildID
	}
	cmd := []*discordgo.ApplicationCommand{ApplicationCommand()}
	err := a.call(ctx, "register /ops "+scope, func(opts ...discordgo.RequestOption) error {
		_, err := a.rest().ApplicationCommandBulkOverwrite(a.opts.ApplicationID, a.opts.GuildID, cmd, opts...)
		return err
	})
	if err == nil {
		a.log.Info("registered /ops command", "scope", scope)
	}
	return err
}
