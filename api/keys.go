package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// Roles an API key may carry.
const (
	RoleViewer   = "viewer"
	RoleOperator = "operator"
	RoleAdmin    = remediation.RoleAdmin
)

// Roles lists the roles a key may carry, from least to most privileged.
var Roles = []string{RoleViewer, RoleOperator, RoleAdmin}

const (
	keyPrefix   = "apikeys/"
	tokenPrefix = "sco_"
	// retiredSep joins a key name and the store revision of a revoked key that a new key of the
	// same name replaced: apikeys/<name>@<revision>. Names cannot hold '@'.
	retiredSep = "@"
)

// Errors returned by Keys.
var (
	// ErrKeyExists is returned by Create when an active key already has the name.
	ErrKeyExists = errors.New("api key exists")
	// ErrKeyNotFound is returned by Revoke for an unknown name.
	ErrKeyNotFound = errors.New("api key not found")
	// ErrBadKey is returned by Authenticate for a token that matches no key.
	ErrBadKey = errors.New("invalid api key")
	// ErrKeyRevoked is returned by Authenticate for a revoked key.
	ErrKeyRevoked = errors.New("api key revoked")
	// ErrKeyExpired is returned by Authenticate for an expired key.
	ErrKeyExpired = errors.New("api key expired")
)

// Key is a stored API key: everything but the key itself, of which only the SHA-256 is kept.
type Key struct {
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	Hash    string    `json:"hash"` // hex SHA-256 of the full token
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires,omitzero"` // zero: never
	Revoked time.Time `json:"revoked,omitzero"` // zero: active
	// Owner is the person answerable for the key, as platform:id (slack:U0123). Approval
	// policies treat the key as that person: it cannot approve what they requested, nor count
	// as a second approver beside them.
	Owner string `json:"owner,omitempty"`
}

// Actor is the identity the key acts as towards the remediation Manager and the audit log.
func (k Key) Actor() remediation.Actor {
	roles := []string{RoleViewer}
	if k.Role != RoleViewer {
		roles = append(roles, k.Role)
	}
	return remediation.Actor{ID: "api:" + k.Name, Name: "api key " + k.Name, Roles: roles, Owner: k.Owner}
}

// Status says whether the key is active, revoked or expired at now.
func (k Key) Status(now time.Time) string {
	switch {
	case !k.Revoked.IsZero():
		return "revoked"
	case !k.Expires.IsZero() && !now.Before(k.Expires):
		return "expired"
	}
	return "active"
}

var keyName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidateName reports whether name can name a key: 1 to 63 lower-case letters, digits, dots,
// dashes and underscores, starting with a letter or digit.
func ValidateName(name string) error {
	if !keyName.MatchString(name) {
		return fmt.Errorf("key name %s: want 1-63 characters of a-z 0-9 . _ - starting with a letter or digit", quoteClipped(name))
	}
	return nil
}

// ValidateRole reports whether role is one a key may carry.
func ValidateRole(role string) error {
	if !slices.Contains(Roles, role) {
		return fmt.Errorf("role %q: want one of %s", role, strings.Join(Roles, ", "))
	}
	return nil
}

// ParseDuration parses a Go duration ("36h", "90m") or a whole number of days ("90d").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100*365 {
			return 0, fmt.Errorf("duration %q: want a whole number of days such as 90d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("duration %q: want a duration such as 90d, 36h or 30m", s)
	}
	return d, nil
}

// KeysOptions configures Keys. Store is required.
type KeysOptions struct {
	Store store.Store
	Now   func() time.Time // defaults to time.Now; decides expiry and creation times
	// Refresh is how long Authenticate trusts its cached copy of the keys; default 1s.
	Refresh time.Duration
}

// Keys creates, lists, revokes and authenticates API keys held in the store.
type Keys struct {
	o KeysOptions

	mu     sync.Mutex
	cached []cachedKey
	loaded time.Time // monotonic wall time of the last load; zero: stale
}

type cachedKey struct {
	Key
	sum []byte // raw SHA-256
}

// NewKeys returns Keys on o.Store.
func NewKeys(o KeysOptions) (*Keys, error) {
	if o.Store == nil {
		return nil, errors.New("api: KeysOptions.Store is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Refresh <= 0 {
		o.Refresh = time.Second
	}
	return &Keys{o: o}, nil
}

func hashToken(token string) [sha256.Size]byte { return sha256.Sum256([]byte(token)) }

// Create makes a key named name with role, valid for ttl (0: no expiry), and returns the token,
// which is shown once and never stored. A revoked key's name may be reused: the revoked key is
// kept beside the new one, so List still shows it and its token is still refused as revoked.
func (ks *Keys) Create(ctx context.Context, name, role string, ttl time.Duration) (string, Key, error) {
	return ks.CreateOwned(ctx, name, role, "", ttl)
}

// CreateOwned is Create for a key that a person answers for (see Key.Owner).
func (ks *Keys) CreateOwned(ctx context.Context, name, role, owner string, ttl time.Duration) (string, Key, error) {
	if owner != "" {
		if plat, id, ok := strings.Cut(owner, ":"); !ok || plat == "" || id == "" || strings.ContainsAny(owner, " \t\n") || len(owner) > 256 {
			return "", Key{}, fmt.Errorf("key %s: owner %s is not platform:id, such as slack:U0123ABCD", quoteClipped(name), quoteClipped(owner))
		}
	}
	if err := errors.Join(ValidateName(name), ValidateRole(role)); err != nil {
		return "", Key{}, err
	}
	if ttl < 0 {
		return "", Key{}, fmt.Errorf("key %q: negative lifetime %s", name, ttl)
	}
	var rev uint64
	var retire []store.Op
	kv, err := ks.o.Store.Get(ctx, keyPrefix+name)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return "", Key{}, fmt.Errorf("read key %q: %w", name, err)
	default:
		var old Key
		if err := json.Unmarshal(kv.Value, &old); err != nil {
			return "", Key{}, fmt.Errorf("key %q is corrupt: %w", name, err)
		}
		if old.Revoked.IsZero() {
			return "", Key{}, fmt.Errorf("key %q: %w (revoke it first or pick another name)", name, ErrKeyExists)
		}
		rev = kv.Rev
		retire = []store.Op{{Key: fmt.Sprintf("%s%s%s%020d", keyPrefix, name, retiredSep, kv.Rev), Value: kv.Value}}
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", Key{}, fmt.Errorf("generate key: %w", err)
	}
	token := tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	sum := hashToken(token)
	now := ks.o.Now().UTC().Round(0)
	k := Key{Name: name, Role: role, Hash: hex.EncodeToString(sum[:]), Created: now, Owner: owner}
	if ttl > 0 {
		k.Expires = now.Add(ttl)
	}
	val, _ := json.Marshal(k)
	ops := append(retire, store.Op{Key: keyPrefix + name, Value: val})
	if _, err := ks.o.Store.Txn(ctx, []store.Cmp{{Key: keyPrefix + name, Rev: rev}}, ops); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return "", Key{}, fmt.Errorf("key %q: %w (created at the same time elsewhere)", name, ErrKeyExists)
		}
		return "", Key{}, fmt.Errorf("store key %q: %w", name, err)
	}
	ks.invalidate()
	return token, k, nil
}

// List returns every key, revoked and expired ones included (also revoked keys whose name a
// newer key took), by name and then by creation.
func (ks *Keys) List(ctx context.Context) ([]Key, error) {
	kvs, err := ks.o.Store.List(ctx, keyPrefix)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	type listed struct {
		Key
		current bool // the key that holds the name now, after the revoked ones it replaced
	}
	all := make([]listed, 0, len(kvs))
	for _, kv := range kvs {
		var k Key
		if err := json.Unmarshal(kv.Value, &k); err != nil {
			return nil, fmt.Errorf("key %s is corrupt: %w", strings.TrimPrefix(kv.Key, keyPrefix), err)
		}
		all = append(all, listed{k, !strings.Contains(kv.Key, retiredSep)})
	}
	slices.SortStableFunc(all, func(a, b listed) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		if a.current != b.current {
			if a.current {
				return 1
			}
			return -1
		}
		return a.Created.Compare(b.Created)
	})
	out := make([]Key, len(all))
	for i, l := range all {
		out[i] = l.Key
	}
	return out, nil
}

// Revoke marks the key named name revoked; it stays listed. Revoking a revoked key is not an
// error.
func (ks *Keys) Revoke(ctx context.Context, name string) (Key, error) {
	if ValidateName(name) != nil {
		// No key has such a name; the name is not looked up, and is shown shortened.
		return Key{}, fmt.Errorf("key %s: %w", quoteClipped(name), ErrKeyNotFound)
	}
	for attempt := 0; ; attempt++ {
		kv, err := ks.o.Store.Get(ctx, keyPrefix+name)
		if errors.Is(err, store.ErrNotFound) {
			return Key{}, fmt.Errorf("key %q: %w", name, ErrKeyNotFound)
		}
		if err != nil {
			return Key{}, fmt.Errorf("read key %q: %w", name, err)
		}
		var k Key
		if err := json.Unmarshal(kv.Value, &k); err != nil {
			return Key{}, fmt.Errorf("key %q is corrupt: %w", name, err)
		}
		if !k.Revoked.IsZero() {
			return k, nil
		}
		k.Revoked = ks.o.Now().UTC().Round(0)
		val, _ := json.Marshal(k)
		_, err = ks.o.Store.Txn(ctx, []store.Cmp{{Key: kv.Key, Rev: kv.Rev}}, []store.Op{{Key: kv.Key, Value: val}})
		if errors.Is(err, store.ErrConflict) && attempt < 10 {
			continue
		}
		if err != nil {
			return Key{}, fmt.Errorf("revoke key %q: %w", name, err)
		}
		ks.invalidate()
		return k, nil
	}
}

func (ks *Keys) invalidate() {
	ks.mu.Lock()
	ks.loaded = time.Time{}
	ks.mu.Unlock()
}

// snapshot returns the cached keys, reloading them when older than Refresh.
func (ks *Keys) snapshot(ctx context.Context) ([]cachedKey, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if !ks.loaded.IsZero() && time.Since(ks.loaded) < ks.o.Refresh {
		return ks.cached, nil
	}
	keys, err := ks.List(ctx)
	if err != nil {
		return nil, err
	}
	cached := make([]cachedKey, 0, len(keys))
	for _, k := range keys {
		sum, err := hex.DecodeString(k.Hash)
		if err != nil || len(sum) != sha256.Size {
			continue // a corrupt hash matches nothing
		}
		cached = append(cached, cachedKey{Key: k, sum: sum})
	}
	ks.cached, ks.loaded = cached, time.Now()
	return cached, nil
}

// Authenticate returns the key whose token is token. It compares the token's hash with every
// stored hash in constant time. A revoked or expired key is returned with ErrKeyRevoked or
// ErrKeyExpired, so the caller can say which key was refused; an unknown token gives ErrBadKey.
func (ks *Keys) Authenticate(ctx context.Context, token string) (Key, error) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > 256 {
		return Key{}, ErrBadKey
	}
	keys, err := ks.snapshot(ctx)
	if err != nil {
		return Key{}, err
	}
	sum := hashToken(token)
	found := -1
	for i := range keys {
		if subtle.ConstantTimeCompare(sum[:], keys[i].sum) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Key{}, ErrBadKey
	}
	k := keys[found].Key
	switch k.Status(ks.o.Now()) {
	case "revoked":
		return k, ErrKeyRevoked
	case "expired":
		return k, ErrKeyExpired
	}
	return k, nil
}
