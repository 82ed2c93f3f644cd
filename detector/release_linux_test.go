//go:build linux

package detector_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// bulkyModel saves 4 KB of state, as the bot's model does.
type bulkyModel struct{ constModel }

func (*bulkyModel) MarshalBinary() ([]byte, error) { return bytes.Repeat([]byte{7}, 4000), nil }

// residentFile is this process's RssFile, in bytes.
func residentFile(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssFile:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// TestSaveReleasesMappedPages: once a save of every series' state to a bbolt store ends, the
// pages of the file it read are no longer resident in the process: reading every key afterwards
// brings most of them back.
func TestSaveReleasesMappedPages(t *testing.T) {
	ctx := context.Background()
	raw, err := store.OpenBolt(filepath.Join(t.TempDir(), "state.db"), store.BoltOptions{EtcdLimits: true})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	const n = 3000
	d, err := detector.New(detector.Options{
		Checks: []detector.CheckSpec{{Name: "wide", Source: newSteadySource(n, 1, nil), Schedule: cron.Every(15 * time.Second), Threshold: threshold,
			Factory: func() detector.Model { return &bulkyModel{} }}},
		Store: store.ContextFenced(raw), LoadModel: func([]byte) (detector.Model, error) { return &bulkyModel{}, nil },
		Logger: obs.Discard(), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second save rewrites every key, reading the leaves the first wrote
		if _, err := d.Tick(ctx, "wide"); err != nil {
			t.Fatal(err)
		}
		d.SaveState(ctx)
	}
	after := residentFile(t)
	kvs, err := raw.List(ctx, "")
	if err != nil || len(kvs) < n {
		t.Fatalf("%d keys stored (%v), want %d", len(kvs), err, n)
	}
	read := residentFile(t)
	t.Logf("RssFile %d KB after the save, %d KB after reading every key", after>>10, read>>10)
	if read-after < n*4000/2 {
		t.Fatalf("reading the %d KB saved made only %d KB resident: the save left them resident", n*4000>>10, (read-after)>>10)
	}
}
