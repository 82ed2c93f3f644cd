package testenv

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// echoServer answers each line with the same line until the test ends.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// TestProxyPartitionHoldsAndHealDelivers: while partitioned nothing gets through, nothing is
// closed, and what was sent arrives after Heal.
func TestProxyPartitionHoldsAndHealDelivers(t *testing.T) {
	p := StartProxy(t, echoServer(t))
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if _, err := c.Write([]byte("one\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := r.ReadString('\n'); err != nil || line != "one\n" {
		t.Fatalf("before the partition: %q %v", line, err)
	}
	if n := p.LateBytes(); n != 0 {
		t.Fatalf("LateBytes before any partition = %d, want 0", n)
	}
	p.Partition()
	if _, err := c.Write([]byte("two\n")); err != nil {
		t.Fatal(err)
	}
	// Silence, not a reset: the read times out instead of failing.
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := r.ReadString('\n'); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read through a partition: %v, want silence", err)
	}
	p.Heal()
	c.SetReadDeadline(time.Time{})
	if line, err := r.ReadString('\n'); err != nil || line != "two\n" {
		t.Fatalf("after Heal: %q %v", line, err)
	}
	// "two\n" was held on its way to the server; the echo came back after the heal, unheld.
	if n := p.LateBytes(); n != 4 {
		t.Fatalf("LateBytes after the heal = %d, want the 4 bytes sent during the partition", n)
	}
}
