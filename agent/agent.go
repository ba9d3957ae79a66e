// Package agent is pinion's runtime: it loads the configuration, builds the
// devices through the driver registry, runs one worker per device, and
// connects them to MQTT and Home Assistant discovery. Main is the whole
// command-line program; cmd/agent calls it.
package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"

	"github.com/jonboulle/clockwork"

	"github.com/pinion-home/pinion/agent/realhost"
	"github.com/pinion-home/pinion/discovery"
	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/sim"
	"github.com/pinion-home/pinion/internal/mqttbroker"
)

// Version is pinion's version, set at build time with
// -ldflags "-X github.com/pinion-home/pinion/agent.Version=v1.2.3". Left
// unset, it is the version of pinion's module that the go command recorded:
// v1.2.3 from go install github.com/pinion-home/pinion/cmd/agent@v1.2.3 or
// a custom agent requiring it, a pseudo-version (v0.0.0-<time>-<commit>,
// +dirty with local changes) from go build in a git checkout, or dev when
// nothing was recorded (-buildvcs=false, go run, tests).
var Version = "dev"

func init() {
	if Version == "dev" {
		Version = moduleVersion(debug.ReadBuildInfo())
	}
}

// moduleVersion finds pinion's module version in a binary's build info.
func moduleVersion(bi *debug.BuildInfo, ok bool) string {
	const path = "github.com/pinion-home/pinion"
	if !ok {
		return "dev"
	}
	mods := append([]*debug.Module{&bi.Main}, bi.Deps...)
	for _, m := range mods {
		if m.Path != path {
			continue
		}
		if m.Replace != nil {
			// A replace directive: a local checkout has no version, and
			// the required one (often v0.0.0) would be a lie.
			m = m.Replace
		}
		if m.Version != "" && m.Version != "(devel)" {
			return m.Version
		}
		return "dev"
	}
	return "dev"
}

// Node returns the discovery node the config describes.
func (c *Config) Node() discovery.Node {
	return discovery.Node{
		ID:              c.Agent.ID,
		Name:            c.Agent.Name,
		Version:         Version,
		TopicPrefix:     c.MQTT.TopicPrefix,
		DiscoveryPrefix: c.MQTT.DiscoveryPrefix,
	}
}

// DiscoveryDevices returns the devices as the discovery package sees them.
func (c *Config) DiscoveryDevices() []discovery.Device {
	out := make([]discovery.Device, 0, len(c.Devices))
	for _, d := range c.Devices {
		out = append(out, discovery.Device{ID: d.ID, Name: d.Name, Info: d.Info, Entities: d.Entities})
	}
	return out
}

// hostCloser is a hardware host the agent owns and releases at exit.
type hostCloser interface {
	drivers.Host
	io.Closer
}

// Run runs the agent until ctx is cancelled on the hardware the config
// selects (real or simulated), and releases it at the end.
func Run(ctx context.Context, cfg *Config, log *slog.Logger) error {
	host, err := openHost(cfg, log)
	if err != nil {
		return err
	}
	defer host.Close()
	return Serve(ctx, cfg, host, log)
}

// Serve runs the agent on host, which the caller owns, until ctx is
// cancelled: it starts the embedded broker if configured, connects to MQTT
// and runs every device. It returns after a clean shutdown: devices closed
// (outputs left as the config asks), their last states published, and
// offline said last.
func Serve(ctx context.Context, cfg *Config, host drivers.Host, log *slog.Logger) error {
	return serve(ctx, cfg, host, log, clockwork.NewRealClock())
}

// serve is Serve on a clock that tests may control: every timer of the
// agent (polls, retries, the sweep, the birth delay) runs on it.
func serve(ctx context.Context, cfg *Config, host drivers.Host, log *slog.Logger, clock clockwork.Clock) error {
	node := cfg.Node()
	msgs, err := discovery.Messages(node, cfg.DiscoveryDevices())
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}

	// The TLS files are read again: they may have changed since -check.
	tlsConf, err := cfg.MQTT.tlsConfig(log)
	if err != nil {
		return err
	}
	broker := cfg.MQTT.Broker
	if cfg.MQTT.Embedded() {
		// The broker's own info logs (hooks, listeners, every client's
		// disconnect) drown the agent's; keep its warnings and errors.
		blog := slog.New(minLevel{Handler: log.Handler(), min: slog.LevelWarn}).With("component", "broker")
		b, err := mqttbroker.Start(cfg.MQTT.Listen, blog)
		if err != nil {
			return err
		}
		defer b.Close()
		broker = b.URL()
		log.Info("embedded broker listening", "addr", b.Addr())
	}

	out := newOutbox()
	pipe := newPipeline(node, out, log.With("component", "pipeline"))
	devs := make([]*device, 0, len(cfg.Devices))
	byID := map[string]*device{}
	for _, dc := range cfg.Devices {
		d := newDevice(dc, host, pipe, clock, log)
		devs = append(devs, d)
		byID[d.id] = d
	}
	linkProviders(cfg, byID)
	// Relay safety sits below every command (see safety.go); nil when no
	// entity asks for it.
	safe := newSafety(cfg.Devices, byID, pipe, clock, log)
	restore := newRestorer(log.With("component", "restore"), clock, cfg.Agent.StateDir, node, cfg.Devices, restoreBroker{
		URL: broker, ClientID: cfg.MQTT.ClientID, Username: cfg.MQTT.Username, Password: cfg.MQTT.Password, TLS: tlsConf,
	})
	defer restore.close()
	pipe.observe = restore.observe
	restore.allowOn = safe.allowRestoreOnSince // an interlock group restores one member on at most
	for _, d := range devs {
		d.host.device, d.host.restore = d.id, restore
	}
	s, err := newSession(log, sessionConfig{
		Broker:    broker,
		ClientID:  cfg.MQTT.ClientID,
		Username:  cfg.MQTT.Username,
		Password:  cfg.MQTT.Password,
		Keepalive: cfg.MQTT.Keepalive,
		TLS:       tlsConf,

		OnConnection: restoreOnConnection(restore, safetyOnConnection(safe)),
	}, node, msgs, devs, pipe, out, clock, Version)
	if err != nil {
		return err
	}

	log.Info("pinion starting", "version", Version, "node", node.ID, "broker", redact(broker), "hardware", cfg.Agent.Hardware, "devices", len(devs))
	safe.start()
	s.start()

	// Each device has its own context, so that at the end the devices
	// that use another's lines close before it does.
	type running struct {
		d    *device
		stop context.CancelFunc
		done chan struct{}
	}
	runs := make([]running, len(devs))
	for i, d := range devs {
		dctx, stop := context.WithCancel(context.Background())
		runs[i] = running{d: d, stop: stop, done: make(chan struct{})}
		go func() {
			defer close(runs[i].done)
			d.run(dctx)
		}()
	}

	<-ctx.Done()
	log.Info("shutting down")
	// Safety's own timers and coordinators end first: nothing it decides
	// may reach a device that is closing.
	safe.close()
	for _, level := range shutdownOrder(devs) {
		for _, i := range level {
			runs[i].stop()
		}
		for _, i := range level {
			<-runs[i].done
		}
	}
	s.close()
	log.Info("stopped")
	return nil
}

// linkProviders gives each device the devices whose lines or buses it
// uses; the config loader has checked that they exist, provide them, and
// form no cycle.
func linkProviders(cfg *Config, byID map[string]*device) {
	for _, dc := range cfg.Devices {
		d := byID[dc.ID]
		for _, id := range dc.Providers {
			if p := byID[id]; p != nil && d.host.providers[id] == nil {
				d.host.providers[id] = p
				d.providers = append(d.providers, p)
			}
		}
	}
}

// shutdownOrder groups devices (by index) so that each group holds
// devices no later group provides for: users first, providers last.
func shutdownOrder(devs []*device) [][]int {
	index := map[*device]int{}
	for i, d := range devs {
		index[d] = i
	}
	// depth is the length of the longest chain of providers above a
	// device; devices used by nobody close first.
	users := map[*device]int{}
	for _, d := range devs {
		for _, p := range d.providers {
			users[p]++
		}
	}
	var levels [][]int
	done := map[*device]bool{}
	for len(done) < len(devs) {
		var level []int
		for _, d := range devs {
			if !done[d] && users[d] == 0 {
				level = append(level, index[d])
			}
		}
		if len(level) == 0 { // a cycle, which the config loader refuses
			for _, d := range devs {
				if !done[d] {
					level = append(level, index[d])
				}
			}
		}
		for _, i := range level {
			done[devs[i]] = true
			for _, p := range devs[i].providers {
				users[p]--
			}
		}
		levels = append(levels, level)
	}
	return levels
}

// openHost opens the hardware the config selects; the config loader has
// already checked that it is "real" or "sim".
func openHost(cfg *Config, log *slog.Logger) (hostCloser, error) {
	if cfg.Agent.Simulated() {
		h := sim.NewHost(log.With("component", "sim"))
		if err := PopulateSim(h, cfg); err != nil {
			h.Close()
			return nil, err
		}
		return h, nil
	}
	h, err := realhost.New(log.With("component", "host"))
	if err != nil {
		return nil, fmt.Errorf("hardware: %w", err)
	}
	return h, nil
}

// minLevel is a handler that drops records below min.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{Handler: h.Handler.WithAttrs(as), min: h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{Handler: h.Handler.WithGroup(name), min: h.min}
}
