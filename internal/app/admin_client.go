package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/smartcloudops/smartcloudops/api"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// ErrNoStore is returned by OpenAdmin, when asked to read, for a data directory that holds no
// store and where no bot runs.
var ErrNoStore = errors.New("no store")

// AdminOptions says whose state OpenAdmin opens and how.
type AdminOptions struct {
	DataDir string // the bot's data directory
	// Write opens the store for writing, creating it when missing, if no bot runs; otherwise
	// it is opened read-only and must exist.
	Write bool
	Now   func() time.Time // the time keys are made and judged at when the store is opened directly
	// Config, when it names the etcd store, is opened directly: replicas share it, and etcd
	// serves many clients at once.
	Config *config.Config
}

// OpenAdmin returns the Admin of the bot whose data directory is o.DataDir. When a bot runs
// there it is that bot's, over its admin socket; otherwise the store is opened directly. via
// says which it is, for the person at the command line; done releases what was opened. A socket
// left by a bot that died is passed over: nothing answers on it, so the store is opened directly.
func OpenAdmin(ctx context.Context, o AdminOptions) (a Admin, via string, done func(), err error) {
	if o.Config != nil && o.Config.Store.Backend == "etcd" {
		st, err := OpenEtcdStore(ctx, *o.Config)
		if err != nil {
			return nil, "", nil, err
		}
		a, err := storeAdminOn(st, o.Now)
		if err != nil {
			st.Close()
			return nil, "", nil, err
		}
		e := o.Config.Store.Etcd
		return a, fmt.Sprintf("the etcd store at %v under %s", e.Endpoints, e.Prefix), func() { st.Close() }, nil
	}
	dataDir, write := o.DataDir, o.Write
	sock := filepath.Join(dataDir, AdminSocket)
	if s, info, ok := dialAdmin(ctx, sock); ok {
		return s, fmt.Sprintf("the running bot (pid %d, %s)", info.PID, sock), func() {}, nil
	}
	db := filepath.Join(dataDir, "smartcloudops.db")
	if !write {
		if _, err := os.Stat(db); errors.Is(err, os.ErrNotExist) {
			return nil, "", nil, fmt.Errorf("%w at %s", ErrNoStore, db)
		}
	} else if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, "", nil, err
	}
	st, err := store.OpenBolt(db, store.BoltOptions{ReadOnly: !write})
	if errors.Is(err, store.ErrLocked) {
		return nil, "", nil, fmt.Errorf("%s: %w, yet no bot answers on %s: the bot may still be starting (try again), "+
			"or be of a version without the admin socket (stop it, or copy the store file into an empty directory and use that)", db, err, sock)
	}
	if err != nil {
		return nil, "", nil, err
	}
	sa, err := storeAdminOn(st, o.Now)
	if err != nil {
		st.Close()
		return nil, "", nil, err
	}
	return sa, "the store at " + db, func() { st.Close() }, nil
}

// storeAdminOn is the Admin that works on the store itself.
func storeAdminOn(st store.Store, now func() time.Time) (Admin, error) {
	keys, err := api.NewKeys(api.KeysOptions{Store: st, Now: now})
	if err != nil {
		return nil, err
	}
	log, err := audit.New(audit.Options{Store: st})
	if err != nil {
		return nil, err
	}
	return storeAdmin{keys: keys, audit: log}, nil
}

// AdminAnswers reports whether a bot serves the admin socket of dataDir.
func AdminAnswers(ctx context.Context, dataDir string) bool {
	_, _, ok := dialAdmin(ctx, filepath.Join(dataDir, AdminSocket))
	return ok
}

// dialAdmin returns a client of the admin socket at path when a bot answers on it.
func dialAdmin(ctx context.Context, path string) (socketAdmin, adminInfo, bool) {
	if fi, err := os.Stat(path); err != nil || fi.Mode()&os.ModeSocket == 0 {
		return socketAdmin{}, adminInfo{}, false
	}
	s := socketAdmin{c: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableKeepAlives: true,
	}}}
	var info adminInfo
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.do(sctx, http.MethodGet, "/v1/status", nil, &info); err != nil {
		return socketAdmin{}, adminInfo{}, false // connection refused: the bot that made it died
	}
	return s, info, true
}

// socketAdmin is the Admin of a running bot, asked over its admin socket.
type socketAdmin struct{ c *http.Client }

// remoteError is an error the bot answered with, wrapping the sentinel its status stands for.
type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

func (s socketAdmin) request(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://admin"+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e); err != nil || e.Error == "" {
		return nil, fmt.Errorf("admin socket: %s %s: %s", method, path, resp.Status)
	}
	var kind error
	switch resp.StatusCode {
	case http.StatusNotFound:
		kind = api.ErrKeyNotFound
	case http.StatusConflict:
		kind = api.ErrKeyExists
	}
	return nil, &remoteError{msg: e.Error, kind: kind}
}

func (s socketAdmin) do(ctx context.Context, method, path string, body, out any) error {
	resp, err := s.request(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("admin socket: %s %s: %w", method, path, err)
	}
	return nil
}

func (s socketAdmin) CreateKey(ctx context.Context, r KeyRequest) (string, api.Key, error) {
	req := keyCreate{Name: r.Name, Role: r.Role, Owner: r.Owner}
	if r.TTL > 0 {
		req.TTL = r.TTL.String()
	}
	var out keyCreated
	if err := s.do(ctx, http.MethodPost, "/v1/keys", req, &out); err != nil {
		return "", api.Key{}, err
	}
	return out.Token, out.Key, nil
}

func (s socketAdmin) ListKeys(ctx context.Context) ([]api.Key, error) {
	var out struct {
		Keys []api.Key `json:"keys"`
	}
	err := s.do(ctx, http.MethodGet, "/v1/keys", nil, &out)
	return out.Keys, err
}

func (s socketAdmin) RevokeKey(ctx context.Context, name string) (api.Key, error) {
	var out struct {
		Key api.Key `json:"key"`
	}
	err := s.do(ctx, http.MethodPost, "/v1/keys/"+url.PathEscape(name)+"/revoke", nil, &out)
	return out.Key, err
}

func (s socketAdmin) VerifyAudit(ctx context.Context) (AuditReport, error) {
	var rep AuditReport
	err := s.do(ctx, http.MethodGet, "/v1/audit/verify", nil, &rep)
	return rep, err
}

func (s socketAdmin) AuditRecords(ctx context.Context, since time.Time) ([]audit.Record, error) {
	path := "/v1/audit/records"
	if !since.IsZero() {
		path += "?since=" + url.QueryEscape(since.UTC().Format(time.RFC3339Nano))
	}
	resp, err := s.request(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var recs []audit.Record
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("admin socket: audit record %d: %w", len(recs)+1, err)
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("admin socket: audit records: %w", err)
	}
	return recs, nil
}
