// The HTTP server: the routes every deployment has (/healthz, /readyz, /metrics) and the mounting
// of the others (the Alertmanager webhook, the Discord interactions endpoint, the REST API of this
// package). Every request gets a correlation ID, taken from X-Request-ID when present, returned in
// the response and carried into logs.

package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// ServerOptions configures a Server. Addr, Gatherer and Logger are required.
type ServerOptions struct {
	Addr     string
	Gatherer prometheus.Gatherer
	// Ready returns nil when the bot is ready to serve (store open, checks scheduled), or the
	// reasons it is not; detail is shown either way (e.g. degraded checks).
	Ready func() (detail string, err error)
	// Handlers are mounted as given, e.g. "POST /api/v1/alertmanager".
	Handlers map[string]http.Handler
	Logger   *slog.Logger
}

// Server is the HTTP server.
type Server struct {
	o   ServerOptions
	log *slog.Logger
	mux *http.ServeMux
	ln  net.Listener
}

// NewServer returns a Server and binds its address, so a port conflict is reported at start-up.
func NewServer(o ServerOptions) (*Server, error) {
	if o.Addr == "" || o.Gatherer == nil || o.Logger == nil {
		return nil, errors.New("web: Addr, Gatherer and Logger are required")
	}
	if o.Ready == nil {
		o.Ready = func() (string, error) { return "", nil }
	}
	s := &Server{o: o, log: o.Logger.With(obs.KeyComponent, "web"), mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		detail, err := o.Ready()
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %v\n", err)
			return
		}
		fmt.Fprintln(w, "ready")
		if detail != "" {
			fmt.Fprintln(w, detail)
		}
	})
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelError)}))
	for pattern, h := range o.Handlers {
		s.mux.Handle(pattern, h)
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("web: listen on %s: %w", o.Addr, err)
	}
	s.ln = ln
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

var requestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// withCorrelation gives every request a correlation ID and echoes it in X-Request-ID.
func withCorrelation(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !requestID.MatchString(id) {
			id = obs.NewCorrelationID()
		}
		w.Header().Set("X-Request-ID", id)
		h.ServeHTTP(w, r.WithContext(obs.WithCorrelation(r.Context(), id)))
	})
}

// Run serves until ctx ends, then shuts down, giving requests in flight 10 seconds.
func (s *Server) Run(ctx context.Context) error {
	srv := &http.Server{
		Handler:           withCorrelation(s.mux),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(s.ln) }()
	s.log.Info("http listening", "addr", s.Addr())
	select {
	case err := <-errc:
		return fmt.Errorf("web: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("web: shutdown: %w", err)
	}
	return nil
}

// WriteError writes a JSON error body {"error":{"code","message"}} with status.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
