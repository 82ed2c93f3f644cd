package discord

import (
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// Limits of the HTTP interactions endpoint.
const (
	maxInteractionBody = 1 << 20
	signatureWindow    = 5 * time.Minute
)

// InteractionsHandler serves Discord's Interactions Endpoint URL (the app mounts it at
// /api/v1/discord/interactions). Each request must carry a valid Ed25519 signature by
// Options.PublicKey over X-Signature-Timestamp plus the body, with a timestamp within five
// minutes of Options.Now, else it is refused with 401. A PING is answered with a PONG; other
// interactions are answered in the response body exactly as over the gateway (a deferred
// response, or an immediate private text for unreadable input) and then handled by Run's
// workers, so Run must be active: until it is, interactions get 503. Without a PublicKey
// the handler answers 404.
//
// Once an Interactions Endpoint URL is set for the application, Discord stops sending
// interactions over the gateway.
func (a *Adapter) InteractionsHandler() http.Handler {
	return http.HandlerFunc(a.serveInteraction)
}

func (a *Adapter) serveInteraction(w http.ResponseWriter, r *http.Request) {
	if a.pubKey == nil {
		http.Error(w, "discord interactions endpoint is not configured", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if reason := a.checkTimestamp(r.Header.Get("X-Signature-Timestamp")); reason != "" {
		a.m.events.WithLabelValues(kindInvalid).Inc()
		a.log.Warn("interaction refused", "reason", reason, "remote", r.RemoteAddr)
		http.Error(w, "invalid request signature", http.StatusUnauthorized)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxInteractionBody)
	if !discordgo.VerifyInteraction(r, ed25519.PublicKey(a.pubKey)) {
		a.m.events.WithLabelValues(kindInvalid).Inc()
		a.log.Warn("interaction refused", "reason", "bad signature", "remote", r.RemoteAddr)
		http.Error(w, "invalid request signature", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	var i discordgo.Interaction
	if err := json.Unmarshal(body, &i); err != nil {
		a.m.events.WithLabelValues(kindInvalid).Inc()
		http.Error(w, "body is not an interaction", http.StatusBadRequest)
		return
	}
	if i.Type == discordgo.InteractionPing {
		a.m.events.WithLabelValues(kindPing).Inc()
		writeJSON(w, &discordgo.InteractionResponse{Type: discordgo.InteractionResponsePong})
		return
	}
	a.accept(&i, func(resp *discordgo.InteractionResponse) error {
		if resp == nil {
			http.Error(w, closedText, http.StatusServiceUnavailable)
			return nil
		}
		if err := writeJSON(w, resp); err != nil {
			return err
		}
		// Push the response out before a worker starts editing it.
		if err := http.NewResponseController(w).Flush(); err != nil {
			a.log.Debug("flush interaction response", obs.KeyErr, err)
		}
		return nil
	})
}

// checkTimestamp returns why ts is unacceptable, or "". Discord's signature covers the
// timestamp, and discordgo.VerifyInteraction does not look at its age; the window limits replays.
func (a *Adapter) checkTimestamp(ts string) string {
	if ts == "" {
		return "missing X-Signature-Timestamp"
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "X-Signature-Timestamp is not a number"
	}
	d := a.opts.Now().Sub(time.Unix(sec, 0))
	if d > signatureWindow || d < -signatureWindow {
		return "X-Signature-Timestamp outside the 5 minute window"
	}
	return ""
}

func writeJSON(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(b)
	return err
}
