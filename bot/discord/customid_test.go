package discord

import (
	"strings"
	"testing"

	"github.com/smartcloudops/smartcloudops/bot"
)

func TestCustomID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      bot.Button
		want    string
		wantErr string
	}{
		{in: bot.Button{Action: bot.ActionApprove, Value: "p-7f3a"}, want: "approve:p-7f3a"},
		{in: bot.Button{Action: bot.ActionReject, Value: "p_7.f3a"}, want: "reject:p_7.f3a"},
		{in: bot.Button{Action: bot.ActionSilence, Value: "inc-3f2a"}, want: "silence:inc-3f2a"},
		{in: bot.Button{Action: "run", Value: "x"}, wantErr: `unknown action "run"`},
		{in: bot.Button{Action: bot.ActionApprove}, wantErr: "empty value"},
		{in: bot.Button{Action: bot.ActionApprove, Value: "p 1"}, wantErr: `byte ' ' at 1`},
		{in: bot.Button{Action: bot.ActionApprove, Value: strings.Repeat("a", 100)}, wantErr: "Discord allows 100"},
	} {
		got, err := CustomID(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("CustomID(%+v) = %q, %v; want error %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("CustomID(%+v) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		back, err := ParseCustomID(got)
		if err != nil || back.Action != tc.in.Action || back.Value != tc.in.Value {
			t.Errorf("ParseCustomID(%q) = %+v, %v", got, back, err)
		}
	}
}

func TestParseCustomID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, wantErr string }{
		{"approve", "want <action>:<value>"},
		{":p-1", `unknown action ""`},
		{"deploy:p-1", `unknown action "deploy"`},
		{"approve:", "empty value"},
		{"approve:p-1 --force", "not allowed"},
		{"approve:p:1", "not allowed"},
		{"reject:p-1\n", "not allowed"},
		{"silence:" + strings.Repeat("x", 100), "at most 100"},
	} {
		if b, err := ParseCustomID(tc.in); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("ParseCustomID(%q) = %+v, %v; want error %q", tc.in, b, err, tc.wantErr)
		}
	}
}

func FuzzParseCustomID(f *testing.F) {
	for _, s := range []string{"approve:p-7f3a", "reject:p-1", "silence:inc-3f2a", "approve:", "x:y:z", "approve:p 1", "\xff:\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		b, err := ParseCustomID(id)
		if err != nil {
			return
		}
		again, err := CustomID(b)
		if err != nil || again != id {
			t.Fatalf("ParseCustomID(%q) = %+v, which encodes to %q, %v", id, b, again, err)
		}
		if cmd := b.Command(); strings.ContainsAny(cmd, "\n\r\"'") {
			t.Fatalf("button %q becomes command %q", id, cmd)
		}
	})
}
