package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names set on every signed request.
const (
	HeaderSignature   = "X-SmartCloudOps-Signature"
	HeaderTimestamp   = "X-SmartCloudOps-Timestamp"
	HeaderIdempotency = "Idempotency-Key"
)

const signaturePrefix = "sha256="

// Sign returns the value of the X-SmartCloudOps-Signature header for body sent at timestamp (unix
// seconds, as sent in X-SmartCloudOps-Timestamp): "sha256=" and the hex HMAC-SHA256 of
// timestamp + "." + body.
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return signaturePrefix + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a received request's signature and timestamp headers against body. It refuses
// timestamps further than tolerance from now, in either direction, to stop replays. Every
// failure wraps ErrBadSignature.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(strings.TrimSpace(timestamp), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not unix seconds", ErrBadSignature, timestamp)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp %d is %s away from now, more than %s", ErrBadSignature, ts, d.Round(time.Second), tolerance)
	}
	got, err := parseSignature(signature)
	if err != nil {
		return err
	}
	want, _ := parseSignature(Sign(secret, timestamp, body))
	if !hmac.Equal(got, want) {
		return fmt.Errorf("%w: signature does not match the body", ErrBadSignature)
	}
	return nil
}

// parseSignature decodes a "sha256=<hex>" header value.
func parseSignature(v string) ([]byte, error) {
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(v), signaturePrefix)
	if !ok {
		return nil, fmt.Errorf("%w: header %q does not start with %q", ErrBadSignature, truncate(v, 80), signaturePrefix)
	}
	sig, err := hex.DecodeString(hexSig)
	if err != nil || len(sig) != sha256.Size {
		return nil, fmt.Errorf("%w: header is not %d hex-encoded bytes", ErrBadSignature, sha256.Size)
	}
	return sig, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
