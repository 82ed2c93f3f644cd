package discord

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// Time limits around one interaction.
const (
	ackTimeout     = 2500 * time.Millisecond // Discord allows 3 s for the first response
	deliverTimeout = 10 * time.Second        // for the reply, also while shutting down
)

// Replies the adapter gives itself, without the Handler.
const (
	busyText       = "SmartCloudOps is busy right now; please try again in a moment."
	closedText     = "SmartCloudOps is not accepting commands right now."
	badButtonText  = "This button is not one of SmartCloudOps' buttons."
	unsupportedTxt = "SmartCloudOps does not handle this kind of interaction."
)

// job is an acknowledged interaction waiting for the Handler.
type job struct {
	i         *discordgo.Interaction
	event     bot.Event
	button    bool
	ephemeral bool // the deferred response was private
}

// respondFunc sends the first response to an interaction: over REST for gateway interactions,
// in the HTTP body for the interactions endpoint. A nil response means the adapter is not
// running.
type respondFunc func(*discordgo.InteractionResponse) error

// onInteraction takes an interaction that came over the gateway.
func (a *Adapter) onInteraction(i *discordgo.Interaction) {
	a.accept(i, func(r *discordgo.InteractionResponse) error {
		if r == nil {
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), ackTimeout)
		defer cancel()
		return a.call(ctx, "acknowledge interaction "+i.ID, func(opts ...discordgo.RequestOption) error {
			return a.rest().InteractionRespond(i, r, opts...)
		})
	})
}

// accept answers i within Discord's deadline and queues the work for the Handler. It never
// waits for a worker: with every slot taken it answers "busy" instead.
func (a *Adapter) accept(i *discordgo.Interaction, respond respondFunc) {
	a.mu.Lock()
	if !a.running {
		a.mu.Unlock()
		_ = respond(nil)
		return
	}
	a.inflight.Add(1)
	jobs, slots := a.jobs, a.slots
	a.mu.Unlock()
	defer a.inflight.Done()

	j, resp, kind := a.prepare(i)
	if j != nil {
		select {
		case slots <- struct{}{}:
		default:
			j, resp, kind = nil, ephemeralText(busyText), kindBusy
		}
	}
	a.m.events.WithLabelValues(kind).Inc()
	if err := respond(resp); err != nil {
		if j != nil {
			<-slots
		}
		a.log.Error("acknowledge interaction", "interaction", i.ID, "kind", kind, obs.KeyErr, err)
		return
	}
	if j != nil {
		jobs <- *j // never blocks: the channel holds as many jobs as there are slots
	}
}

// prepare decides the first response to i and, for work the Handler must do, the job.
func (a *Adapter) prepare(i *discordgo.Interaction) (*job, *discordgo.InteractionResponse, string) {
	switch i.Type {
	case discordgo.InteractionPing:
		return nil, &discordgo.InteractionResponse{Type: discordgo.InteractionResponsePong}, kindPing
	case discordgo.InteractionApplicationCommand:
		data, ok := i.Data.(discordgo.ApplicationCommandInteractionData)
		if !ok {
			return nil, ephemeralText("SmartCloudOps could not read this command."), kindInvalid
		}
		line, err := CommandLine(data)
		if err != nil {
			a.log.Warn("unreadable command", "interaction", i.ID, obs.KeyErr, err)
			return nil, ephemeralText("SmartCloudOps could not read this command: " + truncate(err.Error(), 1500)), kindInvalid
		}
		u, ok := user(i)
		if !ok {
			return nil, ephemeralText("SmartCloudOps could not tell who sent this command."), kindInvalid
		}
		eph := deferEphemeral(data)
		j := &job{i: i, ephemeral: eph, event: bot.Event{
			Kind: bot.EventCommand, ID: i.ID, User: u, Channel: i.ChannelID, Text: line,
		}}
		return j, deferred(discordgo.InteractionResponseDeferredChannelMessageWithSource, eph), kindCommand
	case discordgo.InteractionMessageComponent:
		data, ok := i.Data.(discordgo.MessageComponentInteractionData)
		if !ok || data.ComponentType != discordgo.ButtonComponent || i.Message == nil {
			return nil, ephemeralText(badButtonText), kindInvalid
		}
		b, err := ParseCustomID(data.CustomID)
		if err != nil {
			a.log.Warn("unknown button", "interaction", i.ID, obs.KeyErr, err)
			return nil, ephemeralText(badButtonText), kindInvalid
		}
		b.Label, b.Style = findButton(i.Message.Components, data.CustomID)
		u, ok := user(i)
		if !ok {
			return nil, ephemeralText("SmartCloudOps could not tell who clicked this button."), kindInvalid
		}
		channel := i.ChannelID
		if channel == "" {
			channel = i.Message.ChannelID
		}
		j := &job{i: i, button: true, event: bot.Event{
			Kind: bot.EventButton, ID: i.ID, User: u, Channel: channel, Button: b,
			Message: bot.Ref{Platform: platform, Channel: channel, ID: i.Message.ID},
		}}
		return j, deferred(discordgo.InteractionResponseDeferredMessageUpdate, false), kindButton
	case discordgo.InteractionApplicationCommandAutocomplete:
		return nil, &discordgo.InteractionResponse{
			Type: discordgo.InteractionApplicationCommandAutocompleteResult,
			Data: &discordgo.InteractionResponseData{Choices: []*discordgo.ApplicationCommandOptionChoice{}},
		}, kindIgnored
	}
	return nil, ephemeralText(unsupportedTxt), kindIgnored
}

func deferred(t discordgo.InteractionResponseType, ephemeral bool) *discordgo.InteractionResponse {
	r := &discordgo.InteractionResponse{Type: t}
	if ephemeral {
		r.Data = &discordgo.InteractionResponseData{Flags: discordgo.MessageFlagsEphemeral}
	}
	return r
}

func ephemeralText(s string) *discordgo.InteractionResponse {
	return &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{
			Content:         s,
			Flags:           discordgo.MessageFlagsEphemeral,
			AllowedMentions: noMentions(),
		},
	}
}

// user is the person behind i: in a guild the member, whose role IDs become Groups; in a DM
// the user, with no groups.
func user(i *discordgo.Interaction) (bot.User, bool) {
	u := bot.User{Platform: platform}
	var du *discordgo.User
	if i.Member != nil {
		du = i.Member.User
		u.Groups = append([]string(nil), i.Member.Roles...)
		u.Name = i.Member.Nick
	}
	if du == nil {
		du = i.User
	}
	if du == nil || du.ID == "" {
		return bot.User{}, false
	}
	u.ID = du.ID
	if u.Name == "" {
		u.Name = du.GlobalName
	}
	if u.Name == "" {
		u.Name = du.Username
	}
	return u, true
}

// findButton looks up the clicked button on the card to recover its label and style.
func findButton(rows []discordgo.MessageComponent, customID string) (string, bot.ButtonStyle) {
	for _, c := range rows {
		var inner []discordgo.MessageComponent
		switch r := c.(type) {
		case *discordgo.ActionsRow:
			inner = r.Components
		case discordgo.ActionsRow:
			inner = r.Components
		}
		for _, ic := range inner {
			var b discordgo.Button
			switch v := ic.(type) {
			case *discordgo.Button:
				b = *v
			case discordgo.Button:
				b = v
			default:
				continue
			}
			if b.CustomID != customID {
				continue
			}
			switch b.Style {
			case discordgo.PrimaryButton, discordgo.SuccessButton:
				return b.Label, bot.StylePrimary
			case discordgo.DangerButton:
				return b.Label, bot.StyleDanger
			}
			return b.Label, bot.StyleDefault
		}
	}
	return "", bot.StyleDefault
}

// work runs queued jobs until jobs is closed. Jobs still queued when Run stops are dropped:
// they were acknowledged, and Discord shows them as unanswered.
func (a *Adapter) work(ctx context.Context, jobs <-chan job, slots <-chan struct{}) {
	for j := range jobs {
		if ctx.Err() != nil {
			a.log.Warn("dropping interaction at shutdown", "interaction", j.i.ID)
		} else {
			a.process(ctx, j)
		}
		<-slots
	}
}

func (a *Adapter) process(ctx context.Context, j job) {
	ctx, cid := obs.EnsureCorrelation(ctx)
	hctx, cancel := context.WithTimeout(ctx, a.opts.HandlerTimeout)
	reply := a.runHandler(hctx, j.event, cid)
	cancel()
	dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), deliverTimeout)
	defer dcancel()
	if err := a.deliver(dctx, j, reply, cid); err != nil {
		a.log.ErrorContext(dctx, "deliver reply", "interaction", j.i.ID, obs.KeyErr, err)
	}
}

// runHandler calls the Handler, turning a panic into an internal-error reply so one bad
// command cannot take the bot down.
func (a *Adapter) runHandler(ctx context.Context, e bot.Event, cid string) (reply bot.Message) {
	defer func() {
		if r := recover(); r != nil {
			a.log.ErrorContext(ctx, "handler panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			reply = bot.Message{Text: "internal error (ref " + cid + ")", Ephemeral: true}
		}
	}()
	a.mu.Lock()
	h := a.handler
	a.mu.Unlock()
	return h(ctx, e)
}

// deliver shows the Handler's reply. A command's deferred response is edited into the reply,
// or deleted when the reply is empty; a reply that must be private while the deferral was
// public replaces it with a private followup. A button's reply is a followup, because the
// deferred update belongs to the card, which the notifier edits through Update.
func (a *Adapter) deliver(ctx context.Context, j job, reply bot.Message, cid string) error {
	if reply.Empty() {
		if j.button {
			return nil
		}
		return a.call(ctx, "delete deferred response", func(opts ...discordgo.RequestOption) error {
			return a.rest().InteractionResponseDelete(j.i, opts...)
		})
	}
	p, err := render(reply, a.opts.Now())
	if err != nil {
		a.log.ErrorContext(ctx, "render reply", obs.KeyErr, err)
		p, _ = render(bot.Text("internal error (ref "+cid+")"), a.opts.Now())
	}
	if j.button || (reply.Ephemeral && !j.ephemeral) {
		if !j.button {
			if err := a.call(ctx, "delete deferred response", func(opts ...discordgo.RequestOption) error {
				return a.rest().InteractionResponseDelete(j.i, opts...)
			}); err != nil {
				return err
			}
		}
		return a.send(ctx, "send followup", func(opts ...discordgo.RequestOption) error {
			_, err := a.rest().FollowupMessageCreate(j.i, true, p.webhookParams(reply.Ephemeral), opts...)
			return err
		})
	}
	return a.send(ctx, "edit deferred response", func(opts ...discordgo.RequestOption) error {
		_, err := a.rest().InteractionResponseEdit(j.i, p.webhookEdit(), opts...)
		return err
	})
}
