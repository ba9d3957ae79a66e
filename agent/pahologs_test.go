package agent

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// paho's lines reach the agent's log at the level routePahoLogs gives
// them, on one line, with paho's padding collapsed.
func TestPahoLogger(t *testing.T) {
	var buf bytes.Buffer
	old := pahoLog.Swap(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer pahoLog.Store(old)

	pahoLogger(slog.LevelWarn).Println("[pinger]  ", "pingresp not received, disconnecting")
	pahoLogger(slog.LevelDebug).Printf("%s dial %s\n", "[client]  ", "tcp://x:1883")
	got := buf.String()
	for _, want := range []string{
		`level=WARN msg="[pinger] pingresp not received, disconnecting"`,
		`level=DEBUG msg="[client] dial tcp://x:1883"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log %q lacks %q", got, want)
		}
	}
	if n := strings.Count(got, "\n"); n != 2 {
		t.Errorf("%d lines logged, want 2:\n%s", n, got)
	}
}
