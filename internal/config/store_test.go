package config

import (
	"strings"
	"testing"
	"time"
)

func TestStoreDefaultsToBbolt(t *testing.T) {
	cfg, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := cfg.Store.Etcd.Models; m.MaxSeries != 5000 || m.SaveEvery.D() != 5*time.Minute {
		t.Errorf("store.etcd.models defaults: %+v, want 5000 series written every 5m", m)
	}
	if cfg.Store.Backend != "bbolt" || cfg.Store.Etcd.DialTimeout.D() != 5*time.Second {
		t.Fatalf("store defaults: %+v", cfg.Store)
	}
}

func TestStoreEtcdValid(t *testing.T) {
	cfg, err := LoadBytes("smartcloudops.yaml", []byte(`
store:
  backend: etcd
  etcd:
    endpoints: [https://10.0.0.5:2379, https://10.0.0.6:2379]
    prefix: /smartcloudops/prod/
    deployment: prod-eu
    username: bot
    password: env:ETCD_PASSWORD
    tls: {ca_file: /etc/etcd/ca.pem, cert_file: /etc/etcd/bot.pem, key_file: /etc/etcd/bot-key.pem}
    dial_timeout: 3s
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if e := cfg.Store.Etcd; len(e.Endpoints) != 2 || e.Password != "env:ETCD_PASSWORD" || e.DialTimeout.D() != 3*time.Second || e.TLS.KeyFile == "" {
		t.Fatalf("parsed %+v", e)
	}
}

// TestStoreEtcdProblems: every problem of the store section is reported at once, each with its
// field and line, and a password written in clear is refused without being shown.
func TestStoreEtcdProblems(t *testing.T) {
	_, err := LoadBytes("smartcloudops.yaml", []byte(`store:
  backend: etcd
  etcd:
    endpoints: [10.0.0.5:2379, "https://ok:2379"]
    prefix: ""
    deployment: Prod EU
    username: bot
    password: hunter2
    tls: {cert_file: /etc/etcd/bot.pem, insecure_skip_verify: true}
    dial_timeout: 5s
    models: {max_series: -1, save_every: 10s}
`), nil)
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`smartcloudops.yaml:4: store.etcd.endpoints[0]: "10.0.0.5:2379" is not a client URL`,
		"smartcloudops.yaml:5: store.etcd.prefix: required with the etcd backend",
		"smartcloudops.yaml:6: store.etcd.deployment: required with the etcd backend",
		"smartcloudops.yaml:8: store.etcd.password: must be a reference",
		"store.etcd.tls.key_file: cert_file and key_file go together",
		"store.etcd.tls.insecure_skip_verify: is not supported",
		"smartcloudops.yaml:11: store.etcd.models.max_series: must not be negative",
		"smartcloudops.yaml:11: store.etcd.models.save_every: is 10s; at least 1m",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Error("the clear-text password is shown")
	}
	_, err = LoadBytes("smartcloudops.yaml", []byte("store:\n  backend: consul\n"), nil)
	if err == nil || !strings.Contains(err.Error(), `:2: store.backend: "consul" is not bbolt or etcd`) {
		t.Fatalf("unknown backend: %v", err)
	}
}
