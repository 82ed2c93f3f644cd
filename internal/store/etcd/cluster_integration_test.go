//go:build integration

package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/internal/testenv"
)

// untilOK retries fn while it fails with store.ErrUnavailable, as the bot does after a member
// fails, and fails the test on any other error or when guard passes.
func untilOK(t *testing.T, what string, fn func() error) int {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for tries := 1; ; tries++ {
		err := fn()
		if err == nil {
			return tries
		}
		if !errors.Is(err, store.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("%s after %d tries: %v", what, tries, err)
		}
	}
}

// TestIntegrationEtcdMemberKilled: in a 3-member cluster one member dies; the store keeps
// reading and writing through the other two, and the killed member catches up on restart.
func TestIntegrationEtcdMemberKilled(t *testing.T) {
	e := testenv.StartEtcdCluster(t, 3, testenv.EtcdOptions{})
	s := open(t, Options{Endpoints: e.Endpoints(), RequestTimeout: 3 * time.Second})
	ctx := context.Background()
	if _, err := s.Put(ctx, "before", []byte("1")); err != nil {
		t.Fatal(err)
	}
	watch := s.Watch(ctx, "after/", 0)
	e.Members[0].Kill()
	// The first request may meet the dead connection; the client moves to a live member.
	untilOK(t, "first write after the kill", func() error { _, err := s.Put(ctx, "after/0", []byte("x")); return err })
	for i := 1; i <= 20; i++ {
		if _, err := s.Put(ctx, fmt.Sprintf("after/%d", i), []byte("x")); err != nil {
			t.Fatalf("write %d with one member down: %v", i, err)
		}
	}
	if kv, err := s.Get(ctx, "before"); err != nil || string(kv.Value) != "1" {
		t.Fatalf("read with one member down: %+v %v", kv, err)
	}
	if list, err := s.List(ctx, "after/"); err != nil || len(list) != 21 {
		t.Fatalf("list with one member down: %d keys, %v", len(list), err)
	}
	seen := 0
	for seen < 21 {
		select {
		case r := <-watch:
			if r.Err != nil {
				// A watch on the dead member ends; the caller re-lists and watches again.
				if !errors.Is(r.Err, store.ErrUnavailable) {
					t.Fatalf("watch: %v", r.Err)
				}
				seen = 21
			}
			seen += len(r.Events)
		case <-time.After(30 * time.Second):
			t.Fatalf("watch saw %d of 21 writes", seen)
		}
	}
	e.Members[0].Restart()
	e.Members[0].WaitHealthy()
}

// TestIntegrationEtcdQuorumLost: with two of three members down, writes fail with a clear
// store.ErrUnavailable (nothing hangs past the request timeout), and they work again by
// themselves once a member returns.
func TestIntegrationEtcdQuorumLost(t *testing.T) {
	e := testenv.StartEtcdCluster(t, 3, testenv.EtcdOptions{})
	s := open(t, Options{Endpoints: e.Endpoints(), RequestTimeout: 2 * time.Second})
	ctx := context.Background()
	if _, err := s.Put(ctx, "k", []byte("1")); err != nil {
		t.Fatal(err)
	}
	e.Members[1].Kill()
	e.Members[2].Kill()
	_, err := s.Put(ctx, "k", []byte("2"))
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "no quorum") {
		t.Fatalf("write without quorum: %v, want store.ErrUnavailable saying why", err)
	}
	if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("linearizable read without quorum: %v, want store.ErrUnavailable", err)
	}
	e.Members[1].Restart()
	tries := untilOK(t, "write once quorum is back", func() error { _, err := s.Put(ctx, "k", []byte("3")); return err })
	t.Logf("writes recovered after %d tries", tries)
	if kv, err := s.Get(ctx, "k"); err != nil || string(kv.Value) != "3" {
		t.Fatalf("after recovery: %+v %v", kv, err)
	}
}
