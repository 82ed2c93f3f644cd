package discord

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/bot/discord/discordfake"
)

func BenchmarkRenderAlertCard(b *testing.B) {
	m := renderCases[1].msg
	for b.Loop() {
		if _, err := render(m, fixedNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCommandLine(b *testing.B) {
	d := data(b, "ops", `[`+sub("run", str("action", "scale"), str("params", "asg=web count=6"))+`]`)
	for b.Loop() {
		if _, err := CommandLine(d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseCustomID(b *testing.B) {
	for b.Loop() {
		if _, err := ParseCustomID("approve:p-7f3a"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommandRoundTrip measures one slash command through the real discordgo client and
// the loopback fake: INTERACTION_CREATE → deferred callback → Handler → edited response.
func BenchmarkCommandRoundTrip(b *testing.B) {
	fake, err := discordfake.New(discordfake.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer fake.Close()
	a, err := New(Options{
		Token: "test-token", ApplicationID: "APP1", Logger: testLoggerB(), Registerer: newRegistry(),
		BaseURL: fake.URL, SkipCommandRegistration: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- a.Run(ctx, func(context.Context, bot.Event) bot.Message { return bot.Text("ok") })
	}()
	defer func() { cancel(); <-done }()
	wctx, wcancel := context.WithTimeout(context.Background(), time.Minute)
	defer wcancel()
	if _, err := fake.WaitFrame(wctx, func(f discordfake.Frame) bool { return f.Type == "READY" }); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tok := fmt.Sprintf("bench-%d", i)
		in := discordfake.Interaction{ID: "BI" + tok, Token: tok, Member: alice}
		if err := fake.SendInteraction(fake.Command(in, "ops", discordfake.Sub("status"))); err != nil {
			b.Fatal(err)
		}
		if _, err := fake.WaitRequest(wctx, discordfake.Route("PATCH", "/api/v9/webhooks/APP1/"+tok+"/")); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer() // closing the session takes a second and is not part of a round trip
}

func testLoggerB() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newRegistry() *prometheus.Registry { return prometheus.NewRegistry() }
