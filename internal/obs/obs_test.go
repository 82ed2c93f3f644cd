package obs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestCorrelationStamped(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(&buf, LogOptions{Format: "json"})
	ctx, id := EnsureCorrelation(context.Background())
	if ctx2, id2 := EnsureCorrelation(ctx); id2 != id || Correlation(ctx2) != id {
		t.Fatal("EnsureCorrelation replaced an existing ID")
	}
	log.With(KeyComponent, "x").InfoContext(ctx, "hello")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec[KeyCorrelation] != id || rec[KeyComponent] != "x" {
		t.Fatalf("record %v lacks cid %s", rec, id)
	}
}

func TestSecretRedacted(t *testing.T) {
	s := Secret("xoxb-very-secret")
	var buf bytes.Buffer
	NewLogger(&buf, LogOptions{Format: "text"}).Info("tok", "token", s)
	j, _ := json.Marshal(struct{ T Secret }{s})
	for _, out := range []string{buf.String(), fmt.Sprint(s), fmt.Sprintf("%v %s", s, s), string(j)} {
		if strings.Contains(out, "very-secret") {
			t.Fatalf("secret leaked: %s", out)
		}
	}
	if s.Reveal() != "xoxb-very-secret" {
		t.Fatal("Reveal")
	}
}
