package app

// The admin socket lets the operator commands (`apikey create|list|revoke`, `audit
// verify|export`) work beside a running bot. bbolt lets one process at a time open the store, so
// while the bot runs it serves those commands itself, on a unix socket in its data directory
// (DATA/admin.sock; the demo's is DATA/demo/admin.sock). The socket file is mode 0600 and the
// bot also checks that a peer runs as its own user (or root): whoever may read the store file
// may use the socket, and nobody else. The protocol is a small JSON API over HTTP:
//
//	GET  /v1/status              {"version","pid","data_dir"}
//	GET  /v1/keys                {"keys":[Key...]} (hashes left out)
//	POST /v1/keys                {"name","role","owner","ttl":"2160h0m0s"} → 201 {"token","key"}
//	POST /v1/keys/{name}/revoke  → {"key"}
//	GET  /v1/audit/verify        {"records":N,"problem":"..."} ("" when the chain is intact)
//	GET  /v1/audit/records?since=RFC3339Nano  → JSON lines, one audit record each
//
// Errors are {"error":"message"} with 400 (bad request), 404 (no such key), 409 (the name is
// taken) or 500. The commands reach a bot through OpenAdmin, which falls back to opening the
// store itself when no bot answers.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/smartcloudops/smartcloudops/api"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// AdminSocket is the name of the admin socket in the data directory.
const AdminSocket = "admin.sock"

// Admin is what the operator commands ask of a bot's state: API keys and the audit log. A
// running bot serves it on its admin socket; with no bot running, the commands open the store
// themselves. Both are behind this interface, so a store that several processes may open at once
// (etcd) only needs one more way to build an Admin.
type Admin interface {
	CreateKey(ctx context.Context, r KeyRequest) (token string, k api.Key, err error)
	ListKeys(ctx context.Context) ([]api.Key, error)
	RevokeKey(ctx context.Context, name string) (api.Key, error)
	// VerifyAudit checks the audit log's hash chain; a chain that does not verify is a report
	// with a Problem, not an error.
	VerifyAudit(ctx context.Context) (AuditReport, error)
	AuditRecords(ctx context.Context, since time.Time) ([]audit.Record, error)
}

// KeyRequest asks for a new API key.
type KeyRequest struct {
	Name  string
	Role  string
	Owner string        // platform:id of the person answerable for it, or ""
	TTL   time.Duration // 0: never expires
}

// AuditReport is the outcome of verifying the audit log: how many records verified, and what
// is wrong after them ("" when the whole chain verified).
type AuditReport struct {
	Records int    `json:"records"`
	Problem string `json:"problem,omitempty"`
}

// storeAdmin answers Admin from a store the process has open.
type storeAdmin struct {
	keys  *api.Keys
	audit *audit.Log
}

func (s storeAdmin) CreateKey(ctx context.Context, r KeyRequest) (string, api.Key, error) {
	return s.keys.CreateOwned(ctx, r.Name, r.Role, r.Owner, r.TTL)
}

func (s storeAdmin) ListKeys(ctx context.Context) ([]api.Key, error) { return s.keys.List(ctx) }

func (s storeAdmin) RevokeKey(ctx context.Context, name string) (api.Key, error) {
	return s.keys.Revoke(ctx, name)
}

func (s storeAdmin) VerifyAudit(ctx context.Context) (AuditReport, error) {
	n, err := s.audit.Verify(ctx)
	if err != nil {
		return AuditReport{Records: n, Problem: err.Error()}, nil
	}
	return AuditReport{Records: n}, nil
}

func (s storeAdmin) AuditRecords(ctx context.Context, since time.Time) ([]audit.Record, error) {
	return s.audit.List(ctx, audit.Filter{Since: since})
}

// adminInfo is the answer to GET /v1/status.
type adminInfo struct {
	Version string `json:"version"`
	PID     int    `json:"pid"`
	DataDir string `json:"data_dir"`
}

type keyCreate struct {
	Name  string `json:"name"`
	Role  string `json:"role"`
	Owner string `json:"owner,omitempty"`
	TTL   string `json:"ttl,omitempty"` // a Go duration; empty for none
}

type keyCreated struct {
	Token string  `json:"token"`
	Key   api.Key `json:"key"`
}

// adminHandler serves an Admin over HTTP.
func adminHandler(a Admin, info adminInfo) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) { adminJSON(w, http.StatusOK, info) })
	mux.HandleFunc("GET /v1/keys", func(w http.ResponseWriter, r *http.Request) {
		keys, err := a.ListKeys(r.Context())
		if err != nil {
			adminError(w, err)
			return
		}
		for i := range keys {
			keys[i].Hash = ""
		}
		adminJSON(w, http.StatusOK, map[string][]api.Key{"keys": keys})
	})
	mux.HandleFunc("POST /v1/keys", func(w http.ResponseWriter, r *http.Request) {
		var req keyCreate
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			adminJSON(w, http.StatusBadRequest, map[string]string{"error": "bad request: " + err.Error()})
			return
		}
		var ttl time.Duration
		if req.TTL != "" {
			d, err := time.ParseDuration(req.TTL)
			if err != nil || d < 0 {
				adminJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("bad request: ttl %q is not a duration", req.TTL)})
				return
			}
			ttl = d
		}
		if err := errors.Join(api.ValidateName(req.Name), api.ValidateRole(req.Role)); err != nil {
			adminJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		token, k, err := a.CreateKey(r.Context(), KeyRequest{Name: req.Name, Role: req.Role, Owner: req.Owner, TTL: ttl})
		if err != nil {
			adminError(w, err)
			return
		}
		k.Hash = ""
		adminJSON(w, http.StatusCreated, keyCreated{Token: token, Key: k})
	})
	mux.HandleFunc("POST /v1/keys/{name}/revoke", func(w http.ResponseWriter, r *http.Request) {
		k, err := a.RevokeKey(r.Context(), r.PathValue("name"))
		if err != nil {
			adminError(w, err)
			return
		}
		k.Hash = ""
		adminJSON(w, http.StatusOK, map[string]api.Key{"key": k})
	})
	mux.HandleFunc("GET /v1/audit/verify", func(w http.ResponseWriter, r *http.Request) {
		rep, err := a.VerifyAudit(r.Context())
		if err != nil {
			adminError(w, err)
			return
		}
		adminJSON(w, http.StatusOK, rep)
	})
	mux.HandleFunc("GET /v1/audit/records", func(w http.ResponseWriter, r *http.Request) {
		var since time.Time
		if s := r.URL.Query().Get("since"); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				adminJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("bad request: since %q is not an RFC 3339 time", s)})
				return
			}
			since = t
		}
		recs, err := a.AuditRecords(r.Context(), since)
		if err != nil {
			adminError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		for _, rec := range recs {
			if enc.Encode(rec) != nil {
				return // the client went away
			}
		}
	})
	return mux
}

func adminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// adminError answers an error of the Admin. The socket is only open to the bot's own user, who
// could read the store file as well, so the message is given in full.
func adminError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, api.ErrKeyNotFound):
		status = http.StatusNotFound
	case errors.Is(err, api.ErrKeyExists):
		status = http.StatusConflict
	}
	adminJSON(w, status, map[string]string{"error": err.Error()})
}

// serveAdmin starts the admin socket in g, for the life of ctx. When the socket cannot be made
// the bot runs without it, saying so: the commands then answer that the store is locked. In the
// demo it also makes an operator key for this run and prints it, so the API can be tried.
func (b *Bot) serveAdmin(ctx context.Context, g *errgroup.Group) {
	keys := b.apiKeys
	if keys == nil { // no HTTP API: keys are made for the next start that has one
		var err error
		if keys, err = api.NewKeys(api.KeysOptions{Store: b.Store}); err != nil {
			b.log.Error("admin socket not started", obs.KeyErr, err)
			return
		}
	}
	admin := storeAdmin{keys: keys, audit: b.Audit}
	if b.opts.Demo {
		b.demoKey(ctx, admin)
	}
	path := filepath.Join(b.cfg.DataDir, AdminSocket)
	ln, err := listenAdmin(path)
	if err != nil {
		b.log.Error("admin socket not started: apikey and audit commands cannot reach this bot and find its store locked", "path", path, obs.KeyErr, err)
		return
	}
	srv := &http.Server{
		Handler:           adminHandler(admin, adminInfo{Version: b.opts.Version, PID: os.Getpid(), DataDir: b.cfg.DataDir}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(b.log.Handler(), slog.LevelWarn),
	}
	g.Go(func() error {
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
		b.log.Info("admin socket listening", "path", path)
		select {
		case err := <-errc:
			return fmt.Errorf("admin socket: %w", err)
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			b.log.Warn("admin socket: shutdown", obs.KeyErr, err)
		}
		return nil
	})
}

// demoKey makes an operator key for this run of the demo and prints it with a way to use it.
// The demo's store is wiped at every start, so the key lasts as long as the run.
func (b *Bot) demoKey(ctx context.Context, admin Admin) {
	if b.Web == nil || b.opts.Out == nil {
		return
	}
	token, _, err := admin.CreateKey(ctx, KeyRequest{Name: "demo", Role: api.RoleOperator})
	if err != nil {
		b.log.Warn("demo API key not made", obs.KeyErr, err)
		return
	}
	url := "http://" + b.Web.Addr() + "/api/v1/incidents"
	more := "smartcloudops apikey create --demo --name NAME --role viewer"
	if parent := filepath.Dir(b.cfg.DataDir); filepath.Clean(parent) != "data" {
		more += " --data-dir " + parent
	}
	fmt.Fprintf(b.opts.Out, "Demo API key (role operator, valid for this run; the demo's state in %s is wiped at the next start):\n"+
		"  %s\n  curl -H 'Authorization: Bearer %s' %s\nMore keys while the demo runs: %s\n\n",
		b.cfg.DataDir, token, token, url, more)
}

// listenAdmin listens on the unix socket at path, mode 0600. A socket file left by a bot that
// died (nothing answers on it) is replaced; one that a process answers on is not.
func listenAdmin(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if adminAnswers(path) {
			return nil, fmt.Errorf("another process answers on %s", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove the stale socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	// The peer check below refuses other users even before the mode is set.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return peerChecked{ln}, nil
}

// adminAnswers reports whether a process accepts connections on the socket at path.
func adminAnswers(path string) bool {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// peerChecked accepts only connections from this process's user or root.
type peerChecked struct{ net.Listener }

func (l peerChecked) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if uid, ok := peerUID(c); ok && uid != os.Getuid() && uid != 0 {
			c.Close()
			continue
		}
		return c, nil
	}
}
