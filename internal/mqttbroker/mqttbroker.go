// Package mqttbroker runs the embedded MQTT broker (mochi-mqtt v2) that
// serves `broker = "embedded"`: one process is enough on a machine with no
// broker, and tests need no external one.
package mqttbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Broker is a running embedded broker.
type Broker struct {
	srv *mqtt.Server
	tcp *listeners.TCP
}

// Start listens on addr ("127.0.0.1:1883"; port 0 picks a free one) and
// serves MQTT 3.1.1 and 5 clients without authentication, so bind it to
// loopback unless the network is trusted. log may be nil.
func Start(addr string, log *slog.Logger) (*Broker, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv := mqtt.New(&mqtt.Options{InlineClient: false, Logger: slog.New(listenerLog{log.Handler()})})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	tcp := listeners.NewTCP(listeners.Config{Type: listeners.TypeTCP, ID: "tcp", Address: addr})
	if err := srv.AddListener(tcp); err != nil {
		return nil, fmt.Errorf("embedded broker: listen on %s: %w (is another broker, or another pinion, running there? set [mqtt] listen to another address such as 127.0.0.1:1884; or, if it is a broker and not a pinion with the same [agent] id, use it with -broker tcp://%s)", addr, err, addr)
	}
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("embedded broker: serve: %w", err)
	}
	return &Broker{srv: srv, tcp: tcp}, nil
}

// Addr is the address the broker listens on, with the real port.
func (b *Broker) Addr() string { return b.tcp.Address() }

// URL is the broker's address as a client URL: tcp://host:port.
func (b *Broker) URL() string { return "tcp://" + b.Addr() }

// Close disconnects every client and stops listening. Clients see their
// connection drop, so the broker sends their wills.
func (b *Broker) Close() error { return b.srv.Close() }

// listenerLog tidies what mochi's listener logs when a connection ends with
// an error: a warning with an empty message. Connections the broker closed
// itself (at Close, or when a client id is taken over) end in net.ErrClosed
// and are dropped, so a clean shutdown prints no warning; the rest get a
// message that says what happened.
type listenerLog struct{ slog.Handler }

func (h listenerLog) Handle(ctx context.Context, r slog.Record) error {
	closed := false
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && errors.Is(err, net.ErrClosed) {
			closed = true
		}
		return !closed
	})
	if closed {
		return nil
	}
	if r.Message == "" {
		r.Message = "client connection ended with an error"
	}
	return h.Handler.Handle(ctx, r)
}

func (h listenerLog) WithAttrs(as []slog.Attr) slog.Handler {
	return listenerLog{h.Handler.WithAttrs(as)}
}

func (h listenerLog) WithGroup(name string) slog.Handler {
	return listenerLog{h.Handler.WithGroup(name)}
}
