package awsfake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// signed builds a request signed by the SDK's own signer, independent of the fake's verifier.
func signed(t *testing.T, url, service, target, body string, at time.Time, secret string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: TestAccessKeyID, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, TestRegion, at); err != nil {
		t.Fatal(err)
	}
	return req
}

func TestSignatureVerification(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := New(Options{Now: func() time.Time { return now }})
	defer s.Close()
	s.PutParameter(Parameter{Name: "/p", Value: "v"})
	const body = `{"Name":"/p","WithDecryption":true}`
	tests := []struct {
		name     string
		req      func() *http.Request
		wantCode string
	}{
		{"valid", func() *http.Request {
			return signed(t, s.URL(), "ssm", "AmazonSSM.GetParameter", body, now, TestSecretAccessKey)
		}, ""},
		{"wrong secret", func() *http.Request {
			return signed(t, s.URL(), "ssm", "AmazonSSM.GetParameter", body, now, "other")
		}, "InvalidSignatureException"},
		{"tampered body", func() *http.Request {
			r := signed(t, s.URL(), "ssm", "AmazonSSM.GetParameter", body, now, TestSecretAccessKey)
			tampered := strings.Replace(body, "/p", "/q", 1)
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(tampered)), int64(len(tampered))
			return r
		}, "InvalidSignatureException"},
		{"tampered target", func() *http.Request {
			r := signed(t, s.URL(), "ssm", "AmazonSSM.GetParameter", body, now, TestSecretAccessKey)
			r.Header.Set("X-Amz-Target", "AmazonSSM.SendCommand")
			return r
		}, "InvalidSignatureException"},
		{"expired", func() *http.Request {
			return signed(t, s.URL(), "ssm", "AmazonSSM.GetParameter", body, now.Add(-time.Hour), TestSecretAccessKey)
		}, "InvalidSignatureException"},
		{"unsigned", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, s.URL()+"/", bytes.NewReader([]byte(body)))
			r.Header.Set("X-Amz-Target", "AmazonSSM.GetParameter")
			return r
		}, "MissingAuthenticationToken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.DefaultClient.Do(tt.req())
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			out, _ := io.ReadAll(resp.Body)
			if tt.wantCode == "" {
				if resp.StatusCode != http.StatusOK || !strings.Contains(string(out), `"Value":"v"`) {
					t.Errorf("got %d %s", resp.StatusCode, out)
				}
				return
			}
			if resp.StatusCode < 400 || !strings.Contains(string(out), `"__type":"`+tt.wantCode+`"`) {
				t.Errorf("got %d %s, want %s", resp.StatusCode, out, tt.wantCode)
			}
		})
	}
	if n := len(s.Requests()); n != len(tests) {
		t.Errorf("recorded %d requests, want %d", n, len(tests))
	}
}
