package discordfake

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

const apiPrefix = "/api/v9"

func (s *Server) restRoutes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET "+apiPrefix+"/gateway", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"url": "ws" + strings.TrimPrefix(s.URL, "http") + "/gw"})
	})
	// Like Discord, /gateway/bot needs the bot token, so a refused token fails on connect.
	m.HandleFunc("GET "+apiPrefix+"/gateway/bot", s.authed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"url": "ws" + strings.TrimPrefix(s.URL, "http") + "/gw", "shards": 1,
			"session_start_limit": map[string]any{"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1},
		})
	}))
	m.HandleFunc("POST "+apiPrefix+"/interactions/{id}/{token}/callback", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("PATCH "+apiPrefix+"/webhooks/{app}/{token}/messages/{msg}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("msg")
		if id == "@original" {
			id = "ORIG-" + r.PathValue("token")
		}
		s.writeMessage(w, r, s.channelOfToken(r.PathValue("token")), id)
	})
	m.HandleFunc("DELETE "+apiPrefix+"/webhooks/{app}/{token}/messages/{msg}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("POST "+apiPrefix+"/webhooks/{app}/{token}", func(w http.ResponseWriter, r *http.Request) {
		s.writeMessage(w, r, s.channelOfToken(r.PathValue("token")), s.newID())
	})
	m.HandleFunc("POST "+apiPrefix+"/channels/{ch}/messages", s.authed(func(w http.ResponseWriter, r *http.Request) {
		s.writeMessage(w, r, r.PathValue("ch"), s.newID())
	}))
	m.HandleFunc("PATCH "+apiPrefix+"/channels/{ch}/messages/{msg}", s.authed(func(w http.ResponseWriter, r *http.Request) {
		s.writeMessage(w, r, r.PathValue("ch"), r.PathValue("msg"))
	}))
	m.HandleFunc("PUT "+apiPrefix+"/applications/{app}/commands", s.authed(s.putCommands))
	m.HandleFunc("PUT "+apiPrefix+"/applications/{app}/guilds/{guild}/commands", s.authed(s.putCommands))
	return m
}

// serveREST records the request, answers from the injected queue if one matches, and
// otherwise routes it.
func (s *Server) serveREST(w http.ResponseWriter, r *http.Request) {
	rec := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone()}
	if err := readBody(r, &rec); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": err.Error(), "code": 50109})
		rec.Status = http.StatusBadRequest
		s.record(rec)
		return
	}
	if inj, ok := s.takeInjection(r.Method, r.URL.Path); ok {
		for k, vs := range inj.Header {
			w.Header()[k] = vs
		}
		if inj.Body != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(inj.Status)
		_, _ = io.WriteString(w, strings.ReplaceAll(inj.Body, EchoAuthorization, r.Header.Get("Authorization")))
		rec.Status = inj.Status
		s.record(rec)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(rec.Body))
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	if _, pattern := s.rest.Handler(r); pattern == "" {
		writeJSON(sw, http.StatusNotFound, map[string]any{"message": "404: Not Found", "code": 0})
	} else {
		s.rest.ServeHTTP(sw, r)
	}
	rec.Status = sw.status
	s.record(rec)
}

func (s *Server) record(rec Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, rec)
	s.notify()
}

func (s *Server) takeInjection(method, path string) (Response, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, in := range s.injected {
		if in.method == method && strings.HasPrefix(path, in.prefix) {
			s.injected = append(s.injected[:i], s.injected[i+1:]...)
			return in.resp, true
		}
	}
	return Response{}, false
}

func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bot "+s.acceptedToken() {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "401: Unauthorized", "code": 0})
			return
		}
		h(w, r)
	}
}

func (s *Server) channelOfToken(token string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.tokens[token]; ok {
		return ch
	}
	return "C1"
}

// writeMessage answers with a message object echoing the content of the request.
func (s *Server) writeMessage(w http.ResponseWriter, r *http.Request, channel, id string) {
	var body struct {
		Content string `json:"content"`
	}
	b, _ := io.ReadAll(r.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Invalid JSON body", "code": 50109})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": id, "channel_id": channel, "content": body.Content, "type": 0,
		"author": map[string]any{"id": s.opts.BotID, "username": "smartcloudops", "bot": true},
	})
}

func (s *Server) putCommands(w http.ResponseWriter, r *http.Request) {
	var cmds []map[string]any
	if err := json.NewDecoder(r.Body).Decode(&cmds); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Invalid Form Body", "code": 50035})
		return
	}
	for _, c := range cmds {
		c["id"] = s.newID()
		c["application_id"] = r.PathValue("app")
		c["version"] = "1"
	}
	writeJSON(w, http.StatusOK, cmds)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}
