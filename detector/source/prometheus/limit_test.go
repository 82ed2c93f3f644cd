package prometheus

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// heldTransport answers every query only when the test releases it, and counts the queries in
// flight.
type heldTransport struct {
	mu       sync.Mutex
	inFlight int
	most     int
	release  chan struct{}
}

func (h *heldTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	h.inFlight++
	h.most = max(h.most, h.inFlight)
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.inFlight--
		h.mu.Unlock()
	}()
	select {
	case <-h.release:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	body := `{"status":"success","data":{"resultType":"vector","result":[]}}`
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader([]byte(body))), Request: r}, nil
}

func (h *heldTransport) counts() (inFlight, most int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.inFlight, h.most
}

// TestMaxConcurrentQueries starts six queries at once against a client allowed two: two reach
// the server, the others wait for a slot and go as slots free up.
func TestMaxConcurrentQueries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newClient(t, Options{URL: "http://prometheus.test", MaxConcurrentQueries: 2, Timeout: time.Minute})
		held := &heldTransport{release: make(chan struct{})}
		c.hc = &http.Client{Transport: held}
		var wg sync.WaitGroup
		errs := make(chan error, 6)
		for range 6 {
			wg.Go(func() {
				_, err := c.Instant(context.Background(), "up", time.Time{})
				errs <- err
			})
		}
		for done := 0; done < 6; done++ {
			synctest.Wait() // every query is at the server or waiting for a slot
			inFlight, _ := held.counts()
			if want := min(2, 6-done); inFlight != want {
				t.Fatalf("%d queries at the server with %d done, want %d", inFlight, done, want)
			}
			held.release <- struct{}{}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if _, most := held.counts(); most != 2 {
			t.Errorf("at most %d queries in flight, want 2", most)
		}
	})
}

// TestSlotWaitCountsAgainstTimeout fills the one slot with a query that hangs. The next query
// spends its wait for the slot out of its timeout; one whose caller gives up first says it
// waited for a slot.
func TestSlotWaitCountsAgainstTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newClient(t, Options{URL: "http://prometheus.test", MaxConcurrentQueries: 1, Timeout: 10 * time.Second})
		held := &heldTransport{release: make(chan struct{})}
		c.hc = &http.Client{Transport: held}
		first := make(chan error, 1)
		go func() {
			_, err := c.Instant(context.Background(), "slow", time.Time{})
			first <- err
		}()
		synctest.Wait()
		time.Sleep(4 * time.Second) // the first query has used 4s of its 10s

		// A tick that gives its query 3s waits 3s for the slot and gives up.
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err := c.Instant(ctx, "up", time.Time{})
		cancel()
		checkQueryError(t, err, "up", "timeout")
		if !strings.Contains(err.Error(), "waited 3s for one of the 1 query slots") || !strings.Contains(err.Error(), "max_concurrent_queries") {
			t.Errorf("error %q does not say it waited 3s for a query slot", err)
		}
		if waited := time.Since(start); waited != 3*time.Second {
			t.Errorf("gave up after %s, want 3s", waited)
		}

		// A query without a deadline of its own gets the slot when the first one times out,
		// at 10s, and then has what is left of its 10s: it hangs too and times out at 17s.
		start = time.Now()
		_, err = c.Instant(context.Background(), "up", time.Time{})
		checkQueryError(t, err, "up", "timeout")
		if waited := time.Since(start); waited != 10*time.Second {
			t.Errorf("timed out after %s, want its 10s, the wait for the slot included", waited)
		}
		if err := <-first; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("first query: %v", err)
		}
	})
}
