package app

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/api"
	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// TestApprovalsOverHTTPAndChatRunOnce races approvals of one proposal from the console and from
// the REST API with an admin key: the action runs exactly once, and the losers are told why.
func TestApprovalsOverHTTPAndChatRunOnce(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.Listen = "127.0.0.1:0"
	pr, pw := io.Pipe()
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	b, err := Build(ctx, Options{Config: cfg, In: pr, Out: out, Logger: obs.Discard(), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := api.NewKeys(api.KeysOptions{Store: b.Store})
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := keys.Create(ctx, "ci", "admin", 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	defer func() { cancel(); pw.Close(); <-done }()

	id := out.waitFor(t, proposalRE, 30*time.Second)
	var wg sync.WaitGroup
	codes := make(chan int, 8)
	for range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			io.WriteString(pw, "approve "+id+"\n")
		}()
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", "http://"+b.Web.Addr()+"/api/v1/proposals/"+id+"/approve", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(codes)
	ok := 0
	for c := range codes {
		if c == http.StatusOK {
			ok++
		} else if c != http.StatusConflict {
			t.Errorf("HTTP approve answered %d", c)
		}
	}
	out.waitFor(t, regexp.MustCompile(`scaling web-asg from 2 to 3 instances`), 10*time.Second)
	time.Sleep(200 * time.Millisecond) // let the remaining console lines be answered
	consoleWins := len(regexp.MustCompile(`(?m)^`+id+` succeeded`).FindAllString(out.String(), -1))
	if ok+consoleWins != 1 {
		t.Fatalf("%d HTTP and %d console approvals ran the action, want 1 in all", ok, consoleWins)
	}
	runs, _ := os.ReadFile(filepath.Join(dir, "actions", "runs.log"))
	if n := strings.Count(string(runs), "run "); n != 1 {
		t.Fatalf("the action ran %d times", n)
	}
}
