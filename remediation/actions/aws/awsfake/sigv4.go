package awsfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	sigAlgorithm = "AWS4-HMAC-SHA256"
	amzDateFmt   = "20060102T150405Z"
	maxClockSkew = 15 * time.Minute
)

// authError is a refused signature; unknownKey separates a bad access key from a bad signature,
// since AWS answers them with different codes.
type authError struct {
	unknownKey bool
	msg        string
}

func (e *authError) Error() string { return e.msg }

// scope is the parsed credential scope of a signed request.
type scope struct {
	accessKey, date, region, service string
}

// parseAuthorization splits an "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..."
// header.
func parseAuthorization(h string) (sc scope, signed []string, sig string, err error) {
	rest, ok := strings.CutPrefix(h, sigAlgorithm+" ")
	if !ok {
		return sc, nil, "", errors.New("authorization header is not " + sigAlgorithm)
	}
	var cred string
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return sc, nil, "", fmt.Errorf("authorization component %q has no value", part)
		}
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			signed = strings.Split(v, ";")
		case "Signature":
			sig = v
		}
	}
	fields := strings.Split(cred, "/")
	if len(fields) != 5 || fields[4] != "aws4_request" {
		return sc, nil, "", fmt.Errorf("credential %q is not KEY/DATE/REGION/SERVICE/aws4_request", cred)
	}
	if len(signed) == 0 || sig == "" {
		return sc, nil, "", errors.New("authorization header lacks SignedHeaders or Signature")
	}
	return scope{fields[0], fields[1], fields[2], fields[3]}, signed, sig, nil
}

// verifySignature recomputes the SigV4 signature of r over body with secret and compares it.
func verifySignature(r *http.Request, body []byte, sc scope, signed []string, sig, secret string, now time.Time) error {
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse(amzDateFmt, amzDate)
	if err != nil {
		return &authError{msg: fmt.Sprintf("X-Amz-Date %q is not in %s form", amzDate, amzDateFmt)}
	}
	if d := now.Sub(t); d > maxClockSkew || d < -maxClockSkew {
		return &authError{msg: fmt.Sprintf("Signature expired: %s is more than %s from the server time", amzDate, maxClockSkew)}
	}
	if t.Format("20060102") != sc.date {
		return &authError{msg: fmt.Sprintf("credential scope date %s does not match X-Amz-Date %s", sc.date, amzDate)}
	}
	hasHost := false
	for _, h := range signed {
		hasHost = hasHost || h == "host"
	}
	if !hasHost {
		return &authError{msg: "the host header must be signed"}
	}
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != "UNSIGNED-PAYLOAD" && h != hexSHA256(body) {
		return &authError{msg: "X-Amz-Content-Sha256 does not match the request body"}
	}
	canonical := canonicalRequest(r, body, signed)
	credScope := strings.Join([]string{sc.date, sc.region, sc.service, "aws4_request"}, "/")
	stringToSign := strings.Join([]string{sigAlgorithm, amzDate, credScope, hexSHA256([]byte(canonical))}, "\n")
	key := signingKey(secret, sc.date, sc.region, sc.service)
	want := hex.EncodeToString(hmacSHA256(key, []byte(stringToSign)))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return &authError{msg: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."}
	}
	return nil
}

// canonicalRequest builds the SigV4 canonical request: method, URI, query, headers, the list of
// signed headers, and the payload hash, one per line.
func canonicalRequest(r *http.Request, body []byte, signed []string) string {
	var hdrs strings.Builder
	for _, name := range signed {
		hdrs.WriteString(name)
		hdrs.WriteByte(':')
		hdrs.WriteString(canonicalHeaderValue(r, name))
		hdrs.WriteByte('\n')
	}
	payloadHash := hexSHA256(body)
	if r.Header.Get("X-Amz-Content-Sha256") == "UNSIGNED-PAYLOAD" {
		payloadHash = "UNSIGNED-PAYLOAD"
	}
	return strings.Join([]string{
		r.Method,
		canonicalURI(r.URL),
		canonicalQuery(r.URL.Query()),
		hdrs.String(),
		strings.Join(signed, ";"),
		payloadHash,
	}, "\n")
}

func canonicalHeaderValue(r *http.Request, name string) string {
	switch name {
	case "host":
		return r.Host
	case "content-length":
		if v := r.Header.Get("Content-Length"); v != "" {
			return v
		}
		return strconv.FormatInt(r.ContentLength, 10)
	}
	vals := r.Header.Values(http.CanonicalHeaderKey(name))
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(out, ",")
}

// canonicalURI encodes each path segment twice, as SigV4 requires for every service but S3.
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = uriEncode(s)
	}
	return strings.Join(segs, "/")
}

func canonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vals := append([]string(nil), q[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			parts = append(parts, uriEncode(k)+"="+uriEncode(v))
		}
	}
	return strings.Join(parts, "&")
}

// uriEncode percent-encodes everything but the unreserved characters of RFC 3986.
func uriEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(date))
	k = hmacSHA256(k, []byte(region))
	k = hmacSHA256(k, []byte(service))
	return hmacSHA256(k, []byte("aws4_request"))
}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
