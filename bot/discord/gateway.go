package discord

import (
	"context"
	"errors"
	"fmt"
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
// reopened, resuming the session when Discord allows, first at once and then with a doubling
// backoff; op 7 reconnects and resumes, op 9 identifies again.
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
	drain(a.disconnected)

	removeInteraction := a.s.AddHandler(a.onInteractionCreate)
	removeDisconnect := a.s.AddHandler(func(*discordgo.Session, *discordgo.Disconnect) {
		select {
		case a.disconnected <- struct{}{}:
		default:
		}
	})
	var workers sync.WaitGroup
	for range a.opts.Workers {
		workers.Go(func() { a.work(runCtx, jobs, slots) })
	}

	err := a.gateway(runCtx)

	a.mu.Lock()
	a.running = false
	a.mu.Unlock()
	removeInteraction()
	removeDisconnect()
	cancel()
	a.inflight.Wait() // nothing sends on jobs any more
	close(jobs)
	workers.Wait()
	a.m.connected.Set(0)
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

// gateway keeps the gateway connection open until ctx ends or a fatal error occurs.
func (a *Adapter) gateway(ctx context.Context) error {
	backoff := a.opts.ReconnectBackoff
	registered := a.opts.SkipCommandRegistration
	failures := 0
	for {
		err := a.open(ctx)
		if err != nil && !errors.Is(err, discordgo.ErrWSAlreadyOpen) {
			if ctx.Err() != nil {
				return nil
			}
			if ferr := fatalGatewayError(err); ferr != nil {
				return ferr
			}
			failures++
			a.log.Warn("gateway connection failed", obs.KeyErr, err, "failures", failures, "retry_in", backoff)
			if ferr := a.sleep(ctx, backoff); ferr != nil || ctx.Err() != nil {
				a.closeSession()
				return ferr
			}
			backoff = min(2*backoff, a.opts.MaxReconnectBackoff)
			continue
		}
		if err == nil {
			a.log.Info("gateway connected", "after_failures", failures)
		}
		failures, backoff = 0, a.opts.ReconnectBackoff
		a.m.connected.Set(1)
		if !registered {
			switch rerr := a.registerCommands(ctx); {
			case rerr == nil:
				registered = true
			case errors.Is(rerr, ErrUnauthorized):
				a.closeSession()
				return rerr
			default:
				// Alerts still flow without /ops; registration is tried again on the next connection.
				a.log.Error("register /ops command", obs.KeyErr, rerr)
			}
		}
		select {
		case <-ctx.Done():
			a.closeSession()
			return nil
		case ferr := <-a.fatalCh:
			a.closeSession()
			return ferr
		case <-a.disconnected:
			a.m.connected.Set(0)
			a.log.Warn("gateway connection lost, reconnecting")
			// Let discordgo's goroutines of the old connection finish before opening the next:
			// reopening at once can race them and lose the new connection.
			if ferr := a.sleep(ctx, reconnectPause); ferr != nil || ctx.Err() != nil {
				a.closeSession()
				return ferr
			}
		}
	}
}

// open runs one gateway handshake, bounded by Options.OpenTimeout and ctx.
func (a *Adapter) open(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- a.s.Open() }()
	t := time.NewTimer(a.opts.OpenTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		a.abortGateway()
		if err := <-done; err == nil {
			a.closeSession()
		}
		return ctx.Err()
	case <-t.C:
		a.abortGateway()
		if err := <-done; err == nil {
			return nil // it finished as the timer fired
		}
		return fmt.Errorf("gateway handshake took longer than %s", a.opts.OpenTimeout)
	}
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

// closeSession closes the gateway connection. discordgo waits a second after sending the
// close frame, so this takes about one second when a connection is open.
func (a *Adapter) closeSession() {
	if err := a.s.Close(); err != nil {
		a.log.Debug("close gateway", obs.KeyErr, err)
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
		_, err := a.s.ApplicationCommandBulkOverwrite(a.opts.ApplicationID, a.opts.GuildID, cmd, opts...)
		return err
	})
	if err == nil {
		a.log.Info("registered /ops command", "scope", scope)
	}
	return err
}
