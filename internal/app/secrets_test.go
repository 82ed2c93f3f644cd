package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/smartcloudops/smartcloudops/bot/discord/discordfake"
	"github.com/smartcloudops/smartcloudops/bot/slack/slackfake"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/remediation/actions/aws/awsfake"
)

// writeSecrets writes each name → value into a file under dir.
func writeSecrets(t *testing.T, dir string, secrets map[string]string) {
	t.Helper()
	for name, v := range secrets {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// postAlertmanager posts an empty notification with token and returns the status: 401 when
// the token is refused, 400 (the payload is empty) when it is accepted.
func (l *liveChat) postAlertmanager(t *testing.T, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+l.Web.Addr()+"/api/v1/alertmanager", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestReloadAppliesRotatedSecrets rotates every secret a reload applies — the Alertmanager
// webhook token, the webhook action's signing secret, the Slack tokens and the Discord token —
// in their files and on the platforms, and checks that after the reload the old webhook token
// is refused and the new one accepted, and that both chat adapters reconnect with their new
// tokens, without any setting reported as needing a restart.
func TestReloadAppliesRotatedSecrets(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	sf := slackfake.Start(slackfake.Options{PingEvery: 50 * time.Millisecond})
	defer sf.Close()
	df, err := discordfake.New(discordfake.Options{Token: "disc-old", AppID: discordApp})
	if err != nil {
		t.Fatal(err)
	}
	defer df.Close()
	sf.SetTokens("xoxb-old", "xapp-old")
	dir := t.TempDir()
	sec := filepath.Join(dir, "secrets")
	if err := os.MkdirAll(sec, 0o700); err != nil {
		t.Fatal(err)
	}
	writeSecrets(t, sec, map[string]string{"hook": "hook-old", "sign": "sign-old", "bot": "xoxb-old", "app": "xapp-old", "discord": "disc-old"})
	path := filepath.Join(dir, "config.yaml")
	yaml := fmt.Sprintf(`data_dir: %[1]s/data
listen: 127.0.0.1:0
checks: []
rules: {paths: []}
alertmanager: {webhook_token: file:%[2]s/hook}
actions: {webhook: {secret: file:%[2]s/sign}}
slack: {enabled: true, bot_token: file:%[2]s/bot, app_token: file:%[2]s/app, api_url: %[3]s, default_channel: %[4]s}
discord: {enabled: true, token: file:%[2]s/discord, application_id: %[5]s, guild_id: %[6]s, api_url: %[7]s, default_channel: %[8]s}
`, dir, sec, sf.APIURL(), slackAlerts, discordApp, discordGuild, df.URL, discordAlerts)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := startLiveChat(t, Options{Config: cfg, ConfigPath: path, Environ: []string{}}, func(b *Bot) { b.chatRetry = fastChatRetry })
	defer l.stop(t)
	connected := func() (bool, string) {
		code, body := l.get(t, "/readyz")
		return code == 200 && !strings.Contains(body, "chat not connected"), body
	}
	eventually(t, "both chats connected", connected)
	if got := l.postAlertmanager(t, "hook-old"); got == http.StatusUnauthorized {
		t.Fatalf("the configured webhook token got %d", got)
	}
	signer, _ := l.action("webhook")

	writeSecrets(t, sec, map[string]string{"hook": "hook-new", "sign": "sign-new", "bot": "xoxb-new", "app": "xapp-new", "discord": "disc-new"})
	df.SetToken("disc-new")
	sf.SetTokens("xoxb-new", "xapp-new")
	opens, identifies := len(sf.Calls("apps.connections.open")), len(df.Frames())
	ctx, _ := obs.EnsureCorrelation(context.Background())
	if err := l.Reload(ctx); err != nil {
		t.Fatalf("Reload: %v", err)
	}

	if got := l.postAlertmanager(t, "hook-old"); got != http.StatusUnauthorized {
		t.Errorf("the old webhook token got %d after the reload, want 401", got)
	}
	if got := l.postAlertmanager(t, "hook-new"); got == http.StatusUnauthorized {
		t.Errorf("the new webhook token got 401 after the reload")
	}
	if now, _ := l.action("webhook"); now == signer {
		t.Error("the webhook action still signs with the old secret")
	}
	_, err = df.WaitFrame(waitCtx(t), func(f discordfake.Frame) bool {
		var d struct {
			Token string `json:"token"`
		}
		_ = json.Unmarshal(f.Data, &d)
		return f.Index >= identifies && f.Dir == discordfake.FromClient && f.Op == 2 && d.Token == "Bot disc-new"
	})
	if err != nil {
		t.Errorf("discord did not identify with the new token: %v", err)
	}
	eventually(t, "slack reconnected with the new app token", func() (bool, string) {
		calls := sf.Calls("apps.connections.open")
		for _, c := range calls[opens:] {
			if c.Header.Get("Authorization") == "Bearer xapp-new" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d opens before the reload, %d now", opens, len(calls))
	})
	eventually(t, "both chats connected with the new tokens", connected)
	logs := l.logs.String()
	if !strings.Contains(logs, "configuration reloaded") || strings.Contains(logs, "take effect only after a restart") {
		t.Errorf("the reload log does not say it applied everything:\n%s", logs)
	}
	for _, v := range []string{"hook-old", "hook-new", "sign-new", "xoxb-new", "xapp-new", "disc-new"} {
		if strings.Contains(logs, v) {
			t.Errorf("the log shows the secret %s", v)
		}
	}
}

// TestSecretEchoedInAnErrorIsRedacted has Discord quote the bot's token back in an error body;
// the log line that reports the error shows [redacted] instead.
func TestSecretEchoedInAnErrorIsRedacted(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	df, err := discordfake.New(discordfake.Options{Token: "e2e-token", AppID: discordApp})
	if err != nil {
		t.Fatal(err)
	}
	defer df.Close()
	df.Inject("PUT", "/api/v9/applications/", discordfake.Response{Status: http.StatusBadRequest,
		Body: `{"message":"Invalid Form Body: token ` + discordfake.EchoAuthorization + ` not allowed here","code":50035}`})
	cfg, environ := discordConfig(t, t.TempDir(), df)
	cfg.Checks = nil
	l := startLiveChat(t, Options{Config: cfg, Environ: environ}, nil)
	defer l.stop(t)
	re := `register /ops command.*token Bot \[redacted\] not allowed here`
	eventually(t, "the registration error is logged", func() (bool, string) {
		logs := l.logs.String()
		return strings.Contains(logs, "register /ops command") && matches(re, logs), logs
	})
	if strings.Contains(l.logs.String(), "e2e-token") {
		t.Errorf("the log shows the token:\n%s", l.logs.String())
	}
}

// hungEndpoint accepts connections and never answers, like an SSM endpoint behind a broken
// proxy.
func hungEndpoint(t *testing.T) (string, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 1)
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String(), accepted
}

// awsTestEnv gives the AWS SDK the fake's static credentials, so it never looks for instance
// credentials on the network.
func awsTestEnv(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", awsfake.TestAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", awsfake.TestSecretAccessKey)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
}

func ssmConfig(t *testing.T, region, endpoint string) config.Config {
	cfg := testConfig(t, t.TempDir())
	cfg.Checks = nil
	cfg.Listen = "127.0.0.1:0"
	cfg.Alertmanager.WebhookToken = "ssm:/smartcloudops/webhook"
	cfg.Actions.AWS = config.AWSAction{Region: region, Endpoint: endpoint} // the actions stay disabled
	return cfg
}

// TestSSMLookupIsBounded checks that an SSM endpoint that accepts connections and never
// answers neither hangs the start (the lookup times out, naming the setting, the reference
// and the region) nor outlasts a stop signal.
func TestSSMLookupIsBounded(t *testing.T) {
	awsTestEnv(t)
	endpoint, accepted := hungEndpoint(t)
	cfg := ssmConfig(t, "eu-west-1", endpoint)

	start := func(ctx context.Context, timeout time.Duration) error {
		errc := make(chan error, 1)
		go func() {
			_, err := Build(ctx, Options{Config: cfg, Logger: obs.Discard(), Environ: []string{}, SecretTimeout: timeout})
			errc <- err
		}()
		select {
		case err := <-errc:
			return err
		case <-time.After(chatWait):
			t.Fatal("Build still waits for the SSM endpoint")
			return nil
		}
	}
	err := start(context.Background(), 100*time.Millisecond)
	if err == nil {
		t.Fatal("Build succeeded against an endpoint that never answers")
	}
	msg := err.Error()
	if strings.Count(msg, "ssm:/smartcloudops/webhook") != 1 || !strings.Contains(msg, "alertmanager.webhook_token") ||
		!strings.Contains(msg, "no answer from SSM in region eu-west-1 at "+endpoint+" within 100ms") {
		t.Errorf("error = %q, want the setting, the reference once, the region and the bound", msg)
	}

	select {
	case <-accepted: // the first attempt's connection
	default:
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		<-accepted
		cancel(fmt.Errorf("terminated signal received"))
	}()
	err = start(ctx, time.Hour)
	if err == nil || !strings.Contains(err.Error(), "interrupted: terminated signal received") {
		t.Errorf("Build after the stop signal = %v, want it interrupted by the signal", err)
	}
}

// TestSSMSecretsWithoutAWSActions checks that ssm: references resolve with actions.aws.region
// and endpoint while the AWS actions stay disabled, and that a wrong region is named.
func TestSSMSecretsWithoutAWSActions(t *testing.T) {
	awsTestEnv(t)
	fake := awsfake.New(awsfake.Options{})
	defer fake.Close()
	fake.PutParameter(awsfake.Parameter{Name: "/smartcloudops/webhook", Value: "hook-from-ssm", Type: "SecureString"})

	b, err := Build(context.Background(), Options{Config: ssmConfig(t, fake.Region(), fake.URL()), Logger: obs.Discard(), Environ: []string{}})
	if err != nil {
		t.Fatalf("Build with an ssm: secret and the AWS actions disabled: %v", err)
	}
	if v, _ := b.secrets.Load(pathWebhookToken); v != "hook-from-ssm" {
		t.Errorf("webhook token = %v, want the SSM parameter's value", v)
	}
	for _, n := range b.actionNames() {
		if strings.HasPrefix(n, "aws.") {
			t.Errorf("action %s registered with actions.aws.enabled false", n)
		}
	}
	b.close()

	_, err = Build(context.Background(), Options{Config: ssmConfig(t, "us-west-2", fake.URL()), Logger: obs.Discard(), Environ: []string{}})
	if err == nil || !strings.Contains(err.Error(), "in region us-west-2") || strings.Count(err.Error(), "ssm:/smartcloudops/webhook") != 1 {
		t.Errorf("Build with the wrong region = %v, want an error naming the region and the reference once", err)
	}

	_, err = Build(context.Background(), Options{Config: ssmConfig(t, "", fake.URL()), Logger: obs.Discard(), Environ: []string{}})
	if err == nil || !strings.Contains(err.Error(), "actions.aws.region") {
		t.Errorf("Build without a region = %v, want an error naming actions.aws.region", err)
	}
}

func matches(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
