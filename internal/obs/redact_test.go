package obs

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestRedactHandler checks that a secret quoted back in an error, a message, a string, a
// group or a With attribute never reaches the log, in its URL-escaped form neither.
func TestRedactHandler(t *testing.T) {
	r := NewRedactor()
	var buf bytes.Buffer
	log := slog.New(RedactHandler(slog.NewJSONHandler(&buf, nil), r))
	const secret = "xoxb-1234/abcd+efgh"
	r.Add(secret)
	r.Add("abc") // too short to redact without mangling ordinary text
	remote := fmt.Errorf("post: 400 Bad Request: {\"message\":\"bad token Bearer %s\"}", secret)
	log.With("token_hint", "is "+secret).Error("refused "+secret, "err", remote, "body", "token="+strings.ReplaceAll(strings.ReplaceAll(secret, "/", "%2F"), "+", "%2B"),
		slog.Group("req", "auth", "Bearer "+secret), "any", []string{secret}, "n", 3, "word", "abc")
	out := buf.String()
	if strings.Contains(out, secret) || strings.Contains(out, "abcd%2Befgh") {
		t.Fatalf("secret in the log:\n%s", out)
	}
	if n := strings.Count(out, Redacted); n != 6 {
		t.Errorf("%d redactions, want 6:\n%s", n, out)
	}
	for _, want := range []string{`"n":3`, `"word":"abc"`, `bad token Bearer [redacted]`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	var nilR *Redactor
	if got := nilR.Redact(secret); got != secret {
		t.Errorf("nil Redactor changed the text: %q", got)
	}
	if got := r.Redact(errors.New("x " + secret + secret).Error()); got != "x "+Redacted+Redacted {
		t.Errorf("Redact = %q", got)
	}
}
