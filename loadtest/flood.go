package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/smartcloudops/smartcloudops/alertmanager"
)

// AlertName is the alertname of every alert the flood sends; the harness's rule matches it.
const AlertName = "LoadTest"

// Notification is one webhook notification of the flood: a group of its own with alerts of their
// own, so each makes one incident and each of its alerts one proposal.
type Notification struct {
	Group  string   // unique group label; the group key is built from it
	Alerts []string // unique alert label of each alert
	Body   []byte   // the version 4 payload
}

// NewNotification builds notification i of a flood named run with perGroup alerts, as
// Alertmanager sends them: version 4, a group key made of the route and the group labels, and
// each alert with its fingerprint.
func NewNotification(run string, i, perGroup int, startsAt time.Time) Notification {
	n := Notification{Group: fmt.Sprintf("%s-%d", run, i)}
	common := map[string]string{"alertname": AlertName, "severity": "warning", "group": n.Group}
	m := alertmanager.Message{
		Version: alertmanager.SupportedVersion, GroupKey: fmt.Sprintf(`{}/{alertname="%s"}:{group=%q}`, AlertName, n.Group),
		Status: alertmanager.StatusFiring, Receiver: "smartcloudops", GroupLabels: map[string]string{"group": n.Group},
		CommonLabels: common, CommonAnnotations: map[string]string{}, ExternalURL: "http://127.0.0.1:9093",
	}
	for j := range perGroup {
		id := fmt.Sprintf("%s-%d", n.Group, j)
		labels := map[string]string{"alertname": AlertName, "severity": "warning", "group": n.Group, "alert": id}
		m.Alerts = append(m.Alerts, alertmanager.Alert{
			Status: alertmanager.StatusFiring, Labels: labels, Annotations: map[string]string{"summary": "load alert " + id},
			StartsAt: startsAt.UTC(), GeneratorURL: "http://127.0.0.1:9090/graph", Fingerprint: alertmanager.Fingerprint(labels),
		})
		n.Alerts = append(n.Alerts, id)
	}
	n.Body, _ = json.Marshal(m)
	return n
}

// FloodOptions configures a Flood. URL and Notifications are required.
type FloodOptions struct {
	URL           string        // the webhook, http://127.0.0.1:PORT/api/v1/alertmanager
	Run           string        // names this flood's groups and alerts; unique per flood
	Notifications int           // how many notifications to deliver
	PerGroup      int           // alerts per notification; default 1
	Concurrency   int           // requests in flight at most; default 16
	Rate          float64       // notifications started per second; 0: as fast as Concurrency allows
	Timeout       time.Duration // the client gives up on a request after this; default 10s
	// Copies is how many times each notification is delivered, all copies at once on separate
	// connections, each retried until acknowledged: 2 is a redelivery racing the original.
	Copies int
	// RetryFor is how long an unacknowledged notification is sent again, with a backoff from
	// 50 ms doubling to 1 s, as Alertmanager retries a failed webhook; default 1 minute.
	RetryFor time.Duration
	// Log, when set, receives one JSON line per acknowledged delivery (AckRecord).
	Log io.Writer
	// OnAck is called after each acknowledged notification with how many are acknowledged so
	// far; it may block (to kill and restart the bot while the flood goes on).
	OnAck func(acked int)
}

// AckRecord is one line of the acknowledgement log: a delivery the bot answered 2xx.
type AckRecord struct {
	Run       string    `json:"run"`
	Group     string    `json:"group"`
	Alerts    []string  `json:"alerts"`
	Copy      int       `json:"copy"`
	Attempt   int       `json:"attempt"`
	Status    int       `json:"status"`
	At        time.Time `json:"at"`
	LatencyMS float64   `json:"latency_ms"`
}

// FloodResult is what a flood did.
type FloodResult struct {
	Notifications int
	Acked         []string // alerts of acknowledged notifications (by any copy), in no order
	Unacked       []string // alerts whose notification no copy got acknowledged within RetryFor
	Attempts      int      // requests sent
	ClientTimeout int      // requests the client gave up on
	Refused       int      // requests that failed to connect or broke off
	Status        map[int]int
	Latencies     []time.Duration // of acknowledged requests, sorted
	Took          time.Duration
}

// Rate is acknowledged alerts per second over the flood.
func (r FloodResult) Rate() float64 {
	if r.Took <= 0 {
		return 0
	}
	return float64(len(r.Acked)) / r.Took.Seconds()
}

// Flood delivers o.Notifications notifications to the webhook and says which were acknowledged.
// It ends when every notification is acknowledged or out of retries, or when ctx ends.
func Flood(ctx context.Context, o FloodOptions) (FloodResult, error) {
	if o.URL == "" || o.Notifications <= 0 {
		return FloodResult{}, errors.New("flood: URL and Notifications are required")
	}
	o.PerGroup = max(o.PerGroup, 1)
	o.Concurrency = max(o.Concurrency, 1)
	o.Copies = max(o.Copies, 1)
	if o.Concurrency == 1 && o.Copies > 1 {
		o.Concurrency = o.Copies
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.RetryFor <= 0 {
		o.RetryFor = time.Minute
	}
	tr := &http.Transport{MaxIdleConns: o.Concurrency * 2, MaxIdleConnsPerHost: o.Concurrency * 2, IdleConnTimeout: 30 * time.Second,
		DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext}
	defer tr.CloseIdleConnections()
	f := &flood{o: o, client: &http.Client{Transport: tr, Timeout: o.Timeout}, res: FloodResult{Notifications: o.Notifications, Status: map[int]int{}}}
	start := time.Now()
	slots := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
	var tick <-chan time.Time
	if o.Rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / o.Rate))
		defer t.Stop()
		tick = t.C
	}
	startsAt := time.Now().Add(-time.Minute)
	for i := 0; i < o.Notifications && ctx.Err() == nil; i++ {
		if tick != nil {
			select {
			case <-tick:
			case <-ctx.Done():
			}
		}
		n := NewNotification(o.Run, i, o.PerGroup, startsAt)
		acked := make(chan bool, o.Copies)
		for c := range o.Copies {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				acked <- false
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				acked <- f.deliver(ctx, n, c+1)
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok := false
			for range o.Copies {
				ok = <-acked || ok
			}
			f.settle(n, ok)
		}()
	}
	wg.Wait()
	f.res.Took = time.Since(start)
	sort.Slice(f.res.Latencies, func(i, j int) bool { return f.res.Latencies[i] < f.res.Latencies[j] })
	return f.res, ctx.Err()
}

type flood struct {
	o      FloodOptions
	client *http.Client
	logMu  sync.Mutex
	mu     sync.Mutex
	res    FloodResult
}

// deliver sends one copy of n until it is acknowledged or out of retries.
func (f *flood) deliver(ctx context.Context, n Notification, copyNo int) bool {
	first := time.Now()
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		t0 := time.Now()
		status, err := f.post(ctx, n.Body)
		lat := time.Since(t0)
		f.mu.Lock()
		f.res.Attempts++
		switch {
		case err == nil:
			f.res.Status[status]++
		case isTimeout(err):
			f.res.ClientTimeout++
		default:
			f.res.Refused++
		}
		ok := err == nil && status/100 == 2
		if ok {
			f.res.Latencies = append(f.res.Latencies, lat)
		}
		f.mu.Unlock()
		if ok {
			f.log(AckRecord{Run: f.o.Run, Group: n.Group, Alerts: n.Alerts, Copy: copyNo, Attempt: attempt, Status: status,
				At: time.Now().UTC(), LatencyMS: float64(lat.Microseconds()) / 1000})
			return true
		}
		if err == nil && status/100 == 4 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout {
			return false // refused for good, as Alertmanager would not retry a 4xx either
		}
		if time.Since(first) > f.o.RetryFor || ctx.Err() != nil {
			return false
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return false
		}
		backoff = min(backoff*2, time.Second)
	}
}

func (f *flood) post(ctx context.Context, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.o.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Alertmanager/0.27.0")
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// settle records whether any copy of n was acknowledged.
func (f *flood) settle(n Notification, acked bool) {
	f.mu.Lock()
	if acked {
		f.res.Acked = append(f.res.Acked, n.Alerts...)
	} else {
		f.res.Unacked = append(f.res.Unacked, n.Alerts...)
	}
	count := len(f.res.Acked) / len(n.Alerts)
	f.mu.Unlock()
	if acked && f.o.OnAck != nil {
		f.o.OnAck(count)
	}
}

func (f *flood) log(r AckRecord) {
	if f.o.Log == nil {
		return
	}
	b, _ := json.Marshal(r)
	f.logMu.Lock()
	defer f.logMu.Unlock()
	_, _ = f.o.Log.Write(append(b, '\n'))
}
