package webhook

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary header values and bodies to Verify: it must never panic, and it may
// only accept a signature that Sign produces for the same inputs.
func FuzzVerify(f *testing.F) {
	f.Add("1760000000", "sha256=2946e37a45bb02a0bf1bf1a7d9219543801fedd301f9f485aebd72c928639bea", []byte("b"))
	f.Add("1760000000", "sha256=", []byte(`{"a":1}`))
	f.Add("", "", []byte(nil))
	f.Add("-9223372036854775808", "sha256=zz", []byte("x"))
	f.Add("1760000000", "SHA256=00", []byte("x"))
	now := time.Unix(1_760_000_000, 0)
	f.Fuzz(func(t *testing.T, ts, sig string, body []byte) {
		err := Verify(secret, ts, sig, body, now, 5*time.Minute)
		if err != nil {
			if !errors.Is(err, ErrBadSignature) {
				t.Fatalf("Verify error %v does not wrap ErrBadSignature", err)
			}
			return
		}
		if !strings.EqualFold(strings.TrimSpace(sig), Sign(secret, ts, body)) {
			t.Fatalf("Verify accepted %q for %q/%q", sig, ts, body)
		}
	})
}
