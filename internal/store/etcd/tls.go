package etcd

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// tlsConfig loads the TLS files, naming the setting of any that cannot be used.
func (o Options) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("store.etcd.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("store.etcd.tls.ca_file: %s holds no PEM certificate", o.CAFile)
		}
		tc.RootCAs = pool
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("store.etcd.tls.cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// diagnose dials each endpoint as the client would, to say why none answered: nothing listens
// (store.etcd.endpoints), or the TLS handshake, or the server's check of the client certificate,
// failed (store.etcd.tls). It returns nil when it finds nothing wrong.
func diagnose(o Options, tc *tls.Config) error {
	timeout := min(o.DialTimeout, 3*time.Second)
	var errs []error
	for _, ep := range o.Endpoints {
		u, err := url.Parse(ep)
		if err != nil || u.Host == "" {
			errs = append(errs, fmt.Errorf("store.etcd.endpoints: %q is not a URL such as https://10.0.0.5:2379", ep))
			continue
		}
		conn, err := net.DialTimeout("tcp", u.Host, timeout)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", ep, err))
			continue
		}
		if tc == nil || u.Scheme != "https" {
			conn.Close()
			return nil // reachable; the timeout was elsewhere
		}
		cfg := tc.Clone()
		cfg.ServerName = u.Hostname()
		tconn := tls.Client(conn, cfg)
		_ = tconn.SetDeadline(time.Now().Add(timeout))
		err = tconn.Handshake()
		if err == nil {
			// With TLS 1.3 the server judges the client's certificate after the handshake and
			// says so in an alert on the first read; a healthy server just waits for a request.
			_ = tconn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			_, err = tconn.Read(make([]byte, 1))
			var ne net.Error
			if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
				err = nil
			}
		}
		tconn.Close()
		if err != nil {
			return fmt.Errorf("store.etcd.tls: TLS with %s failed (check ca_file, cert_file and key_file): %v", ep, err)
		}
		return nil
	}
	if len(errs) == 0 {
		return nil
	}
	if msg := errors.Join(errs...).Error(); !strings.Contains(msg, "not a URL") {
		return fmt.Errorf("%w: store.etcd.endpoints: no etcd member answered: %s", store.ErrUnavailable, strings.ReplaceAll(msg, "\n", "; "))
	}
	return errors.Join(errs...)
}
