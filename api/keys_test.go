package api

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

func TestKeys(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	now := t0
	ks, err := NewKeys(KeysOptions{Store: st, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tok, k, err := ks.Create(ctx, "ci", RoleOperator, 90*24*time.Hour)
	if err != nil || !strings.HasPrefix(tok, "sco_") || len(tok) != 4+43 || !k.Expires.Equal(t0.Add(90*24*time.Hour)) {
		t.Fatalf("create: %q %+v %v", tok, k, err)
	}
	kvs, _ := st.List(ctx, "")
	for _, kv := range kvs {
		if strings.Contains(string(kv.Value), tok) || strings.Contains(string(kv.Value), tok[4:]) {
			t.Fatalf("the key itself is stored in %s", kv.Key)
		}
	}
	if _, _, err := ks.Create(ctx, "ci", RoleAdmin, 0); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("duplicate: %v", err)
	}
	got, err := ks.Authenticate(ctx, tok)
	if err != nil || got.Name != "ci" || got.Role != RoleOperator {
		t.Fatalf("authenticate: %+v %v", got, err)
	}
	if a := got.Actor(); a.ID != "api:ci" || a.Name != "api key ci" || !a.Has("viewer") || !a.Has("operator") || a.Has("sre") {
		t.Fatalf("actor %+v", a)
	}
	for _, bad := range []string{"", "sco_", tok[:len(tok)-1], tok + "x", strings.ToUpper(tok), "Bearer " + tok} {
		if _, err := ks.Authenticate(ctx, bad); !errors.Is(err, ErrBadKey) {
			t.Errorf("%q: %v", bad, err)
		}
	}

	now = t0.Add(91 * 24 * time.Hour)
	if k, err := ks.Authenticate(ctx, tok); !errors.Is(err, ErrKeyExpired) || k.Name != "ci" {
		t.Fatalf("expired: %+v %v", k, err)
	}
	now = t0
	if _, err := ks.Revoke(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Authenticate(ctx, tok); !errors.Is(err, ErrKeyRevoked) {
		t.Fatalf("revoked: %v", err)
	}
	if _, err := ks.Revoke(ctx, "ci"); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	if _, err := ks.Revoke(ctx, "nobody"); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	// A revoked key's name can be reused; the old key stays refused.
	tok2, _, err := ks.Create(ctx, "ci", RoleViewer, 0)
	if err != nil {
		t.Fatalf("reuse a revoked name: %v", err)
	}
	if k, err := ks.Authenticate(ctx, tok2); err != nil || k.Role != RoleViewer || k.Actor().Roles[0] != "viewer" || len(k.Actor().Roles) != 1 {
		t.Fatalf("new key: %+v %v", k, err)
	}
	if k, err := ks.Authenticate(ctx, tok); !errors.Is(err, ErrKeyRevoked) || k.Role != RoleOperator {
		t.Fatalf("old key after reuse: %+v %v, want it refused as revoked", k, err)
	}
	// The revoked key stays listed beside the new one of its name, oldest first.
	list, err := ks.List(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "ci" || list[0].Status(now) != "revoked" || list[0].Role != RoleOperator ||
		list[1].Name != "ci" || list[1].Status(now) != "active" || list[1].Role != RoleViewer {
		t.Fatalf("list: %+v %v", list, err)
	}
	// And so does each earlier one, when the name is revoked and reused again.
	now = t0.Add(time.Minute)
	if _, err := ks.Revoke(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ks.Create(ctx, "ci", RoleAdmin, 0); err != nil {
		t.Fatal(err)
	}
	if list, _ := ks.List(ctx); len(list) != 3 || list[0].Role != RoleOperator || list[1].Role != RoleViewer || list[1].Status(now) != "revoked" || list[2].Role != RoleAdmin {
		t.Fatalf("list after a second reuse: %+v", list)
	}
	if _, err := ks.Revoke(ctx, strings.Repeat("x", 5000)); !errors.Is(err, ErrKeyNotFound) || len(err.Error()) > 120 {
		t.Fatalf("revoke of a 5000-character name: %v", err)
	}

	for _, c := range []struct{ name, role string }{{"", "viewer"}, {"CI", "viewer"}, {"a b", "viewer"}, {"-x", "viewer"},
		{strings.Repeat("a", 64), "viewer"}, {"ok", "root"}, {"ok", ""}} {
		if _, _, err := ks.Create(ctx, c.name, c.role, 0); err == nil {
			t.Errorf("created %q with role %q", c.name, c.role)
		}
	}
	if _, _, err := ks.Create(ctx, "neg", RoleViewer, -time.Hour); err == nil {
		t.Error("negative lifetime accepted")
	}
}

// TestKeysSeeOtherWriters checks that a key written by another process is picked up after the
// refresh interval.
func TestKeysSeeOtherWriters(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	server, _ := NewKeys(KeysOptions{Store: st, Refresh: time.Nanosecond})
	cli, _ := NewKeys(KeysOptions{Store: st})
	if _, err := server.Authenticate(ctx, "sco_x"); !errors.Is(err, ErrBadKey) {
		t.Fatal(err)
	}
	tok, _, err := cli.Create(ctx, "late", RoleViewer, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := server.Authenticate(ctx, tok); err != nil {
		t.Fatalf("a key created elsewhere: %v", err)
	}
	if _, err := cli.Revoke(ctx, "late"); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Authenticate(ctx, tok); !errors.Is(err, ErrKeyRevoked) {
		t.Fatalf("a key revoked elsewhere: %v", err)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "0d": 0, "36h": 36 * time.Hour, "30m": 30 * time.Minute, " 1d ": 24 * time.Hour} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "1.5d", "-1d", "-1h", "ninety", "99999999d"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
