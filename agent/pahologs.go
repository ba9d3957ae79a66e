package agent

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pinion-home/pinion/internal/devconf"
)

// pahoLog is where paho's own log lines go once Main has routed them; nil
// drops them. It is swapped atomically because paho's loggers are package
// globals read from its goroutines.
var pahoLog atomic.Pointer[slog.Logger]

// knownSecrets are the passwords of the configurations this process has
// loaded. paho's lines are scrubbed of them before they are logged: paho
// v1.5.1 masks the password when it prints a CONNECT packet and the agent
// refuses broker URLs with credentials, so none should be there, but
// paho's words are not the agent's to check line by line.
var knownSecrets devconf.Secrets

// pahoLogger adapts slog to paho's Logger interface at one level.
type pahoLogger slog.Level

func (l pahoLogger) Println(v ...any) { l.log(strings.TrimSuffix(fmt.Sprintln(v...), "\n")) }

func (l pahoLogger) Printf(format string, v ...any) {
	l.log(strings.TrimSuffix(fmt.Sprintf(format, v...), "\n"))
}

func (l pahoLogger) log(msg string) {
	if log := pahoLog.Load(); log != nil {
		log.Log(context.Background(), slog.Level(l), knownSecrets.Scrub(strings.Join(strings.Fields(msg), " ")))
	}
}

// routePahoLogs sends paho's log lines to the process's log. CRITICAL (a
// missed ping, a lost message) becomes a warning. ERROR and WARN become
// debug lines: paho logs each failed connection attempt at ERROR, which
// the session already reports, throttled and with a hint of what to check.
// Only Main calls it: paho's loggers are shared by every client in the
// process, and tests run many agents side by side.
func routePahoLogs() {
	mqtt.CRITICAL = pahoLogger(slog.LevelWarn)
	mqtt.ERROR = pahoLogger(slog.LevelDebug)
	mqtt.WARN = pahoLogger(slog.LevelDebug)
}
