package testenv

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestFreePortIsLoopbackAndFree(t *testing.T) {
	port := FreePort(t)
	if port <= 0 || port > 65535 {
		t.Fatalf("FreePort() = %d", port)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("port %d is not free: %v", port, err)
	}
	l.Close()
}

func TestPromDuration(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{time.Second, "1s"}, {90 * time.Second, "90s"}, {1500 * time.Millisecond, "1500ms"}, {250 * time.Millisecond, "250ms"},
	} {
		if got := promDuration(tt.d); got != tt.want {
			t.Errorf("promDuration(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestTail(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	var lines []string
	for i := range 100 {
		lines = append(lines, "line "+strconv.Itoa(i+1))
	}
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := tail(p, 3)
	if got != "line 98\nline 99\nline 100" {
		t.Errorf("tail = %q", got)
	}
	if !strings.Contains(tail(filepath.Join(t.TempDir(), "missing"), 3), "cannot read log") {
		t.Error("tail of a missing file does not say so")
	}
}
