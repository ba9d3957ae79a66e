package agent

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/jonboulle/clockwork"

	"github.com/pinion-home/pinion/discovery"
	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/internal/devconf"
	"github.com/pinion-home/pinion/internal/ratelog"
	"github.com/pinion-home/pinion/internal/sdnotify"
)

// DefaultConfigPath is where the agent looks for its config when -config
// is not given: the path a Debian package or the README's systemd unit uses.
const DefaultConfigPath = "/etc/pinion/pinion.toml"

// Main is the pinion command line. A custom agent is a copy of cmd/agent
// with more driver packages imported; it calls Main.
func Main() {
	surviveSignals()
	routePahoLogs()
	os.Exit(RunCLI(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// RunCLI runs the command line with args and returns the exit code. It is
// Main without the process around it, for tests.
func RunCLI(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pinion", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		configPath = fs.String("config", DefaultConfigPath, "configuration `file` (TOML)")
		broker     = fs.String("broker", "", "broker `URL` (tcp://host:1883, ssl://host:8883 or embedded); overrides [mqtt] broker")
		check      = fs.Bool("check", false, "validate the config and exit, touching no hardware and no network (exit 1 on errors)")
		printDisc  = fs.Bool("print-discovery", false, "print every discovery topic and payload for the config and exit, touching nothing")
		version    = fs.Bool("version", false, "print the version and exit")
		listDrv    = fs.Bool("drivers", false, "list the drivers built into this agent and exit")
		sample     = fs.String("sample", "", "print the sample configuration of `driver` and exit")
		logLevel   = fs.String("log-level", "", "log level: debug, info, warn or error; overrides [agent] log_level")
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "pinion exposes GPIO, I2C and serial hardware to Home Assistant over MQTT.\n\nUsage: pinion [flags]\n\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nTry it without hardware or broker: pinion -config configs/demo.toml\n")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pinion: unexpected argument %q (flags start with -, e.g. -config %s)\n", fs.Arg(0), fs.Arg(0))
		return 2
	}
	if *version {
		fmt.Fprintf(stdout, "pinion %s (driver API %d)\n", Version, drivers.APIVersion)
		return 0
	}
	if *listDrv {
		names := drivers.Names()
		if len(names) == 0 {
			fmt.Fprintln(stderr, "pinion: no drivers are built into this agent (built with -tags custom and no drivers.<name> tags?)")
			return 1
		}
		listDrivers(stdout, names)
		return 0
	}

	if *sample != "" {
		d, ok := drivers.Lookup(*sample)
		switch {
		case !ok:
			hint := ""
			if s := devconf.Suggest(*sample, drivers.Names()); s != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", s)
			}
			fmt.Fprintf(stderr, "pinion: no driver %q%s; built-in drivers: %s\n", *sample, hint, strings.Join(drivers.Names(), ", "))
			return 1
		case d.Sample == "":
			fmt.Fprintf(stderr, "pinion: driver %q has no sample configuration; see its documentation\n", *sample)
			return 1
		}
		fmt.Fprint(stdout, d.Sample)
		if !strings.HasSuffix(d.Sample, "\n") {
			fmt.Fprintln(stdout)
		}
		return 0
	}

	cfg, err := LoadConfig(*configPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && !errors.As(err, new(*ConfigError)) && *configPath == DefaultConfigPath {
			fmt.Fprintf(stderr, "pinion: no config at %s; pass -config FILE (try -config configs/demo.toml)\n", DefaultConfigPath)
			return 1
		}
		fmt.Fprintf(stderr, "pinion: %v\n", err)
		return 1
	}
	if *broker != "" {
		if err := cfg.SetBroker(*broker); err != nil {
			fmt.Fprintf(stderr, "pinion: -broker: %v\n", err)
			return 2
		}
	}
	if *logLevel != "" {
		// The same values as [agent] log_level, which the config checks.
		switch *logLevel {
		case "debug", "info", "warn", "error":
			cfg.Agent.LogLevel = *logLevel
		default:
			fmt.Fprintf(stderr, "pinion: -log-level: log level %q: want debug, info, warn or error\n", *logLevel)
			return 2
		}
	}
	node := cfg.Node()
	devs := cfg.DiscoveryDevices()

	switch {
	case *check:
		if err := discovery.Validate(node, devs); err != nil {
			for _, line := range cfg.discoveryProblems(err) {
				fmt.Fprintln(stderr, line)
			}
			return 1
		}
		n := 0
		for _, d := range devs {
			n += len(d.Entities)
		}
		fmt.Fprintf(stdout, "%s: OK: node %q, %s, %s (and the agent's own %d), broker %s\n",
			cfg.File, node.ID, plural(len(devs), "device"), plural(n, "entity"), len(discovery.AgentEntities()), cfg.MQTT.Broker)
		if len(devs) == 0 {
			fmt.Fprintf(stdout, "%s: no [[device]] tables yet: see pinion -drivers and pinion -sample <driver>\n", cfg.File)
		}
		return 0
	case *printDisc:
		msgs, err := discovery.Messages(node, devs)
		if err != nil {
			for _, line := range cfg.discoveryProblems(err) {
				fmt.Fprintln(stderr, line)
			}
			return 1
		}
		for _, m := range msgs {
			fmt.Fprintf(stdout, "%s\n%s\n\n", m.Topic, m.Payload)
		}
		return 0
	}

	log := newLogger(stderr, cfg.Agent.Level(), clockwork.NewRealClock())
	pahoLog.Store(log.With("component", "paho"))
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopHUP := ignoreHUP(log)
	defer stopHUP()
	stopNotify := notifySystemd(ctx, log)
	defer stopNotify()
	if err := Run(ctx, cfg, log); err != nil {
		log.Error("pinion stopped", "err", err)
		return 1
	}
	return 0
}

// newLogger is the logger the agent runs with: text lines on w at level
// and above, repeated records of one kind rate-limited on clock (a burst
// of 10 a minute, then a count; see package ratelog), and a w that fails
// (a closed stderr) ignored rather than fatal.
func newLogger(w io.Writer, level slog.Level, clock clockwork.Clock) *slog.Logger {
	h := slog.NewTextHandler(ignoreErrors{w}, &slog.HandlerOptions{Level: level})
	return slog.New(ratelog.New(h, clock, ratelog.Options{}))
}

// ignoreErrors is a writer whose failures are nobody's concern: a log
// line that cannot be written is lost, and the agent goes on.
type ignoreErrors struct{ w io.Writer }

func (w ignoreErrors) Write(p []byte) (int, error) {
	_, _ = w.w.Write(p)
	return len(p), nil
}

// surviveSignals keeps a broken stdout or stderr (a closed pipe, a
// terminal gone) from killing the agent: Go exits on SIGPIPE from a write
// to fd 1 or 2 unless the signal is notified. SIGHUP too, from the start:
// ignoreHUP logs it once the logger exists. Notify rather than Ignore,
// because an ignored signal stays ignored in the exec drivers the agent
// starts.
func surviveSignals() {
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE, syscall.SIGHUP)
}

// ignoreHUP logs SIGHUP, which would otherwise kill the agent without a
// clean shutdown (on_exit not applied), until the returned function is
// called.
func ignoreHUP(log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for {
			select {
			case <-hup:
				log.Warn("SIGHUP ignored: reload is not supported yet; restart the service (systemctl restart pinion)")
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		<-ended
	}
}

// notifySystemd tells systemd (Type=notify) that the agent is ready, pings
// its watchdog, and says STOPPING=1 when ctx ends; outside systemd it does
// nothing. READY=1 is sent once the config is valid and the agent starts
// serving, not once the broker is connected: a broker that is down at boot
// must not fail the unit's start (TimeoutStartSec) and restart it in a
// loop while the agent keeps its hardware safe and reconnects on its own.
func notifySystemd(ctx context.Context, log *slog.Logger) (stop func()) {
	n, err := sdnotify.FromEnv()
	if err != nil {
		log.Warn("systemd notification disabled", "err", err)
	}
	if !n.Enabled() {
		return func() {}
	}
	if err := n.Ready(); err != nil {
		log.Warn("cannot tell systemd the agent is ready", "err", err)
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		pinged := make(chan struct{})
		go func() {
			defer close(pinged)
			n.Watchdog(wctx, clockwork.NewRealClock(), nil, func(err error) {
				log.Warn("cannot ping systemd's watchdog", "err", err)
			})
		}()
		<-wctx.Done()
		if ctx.Err() != nil {
			_ = n.Stopping()
		}
		<-pinged
	}()
	return func() {
		cancel()
		<-done
	}
}

// listDrivers prints one line per driver: its name and, in a column, its
// description.
func listDrivers(w io.Writer, names []string) {
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	for _, n := range names {
		d, _ := drivers.Lookup(n)
		if d.Description == "" {
			fmt.Fprintln(w, n)
			continue
		}
		fmt.Fprintf(w, "%-*s  %s\n", width, n, d.Description)
	}
}

// discoveryProblems formats what Home Assistant would reject, one line per
// problem, each with the file and the line of the device's table.
func (c *Config) discoveryProblems(err error) []string {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	lines := make([]string, 0, len(errs))
	for _, e := range errs {
		line := 0
		var de *discovery.Error
		if errors.As(e, &de) {
			for _, d := range c.Devices {
				if d.ID == de.Device {
					line = d.Line
				}
			}
		}
		if line > 0 {
			lines = append(lines, fmt.Sprintf("%s:%d: %v", c.File, line, e))
		} else {
			lines = append(lines, fmt.Sprintf("%s: %v", c.File, e))
		}
	}
	return lines
}

// plural counts n things in English: "1 device", "2 entities".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "y") {
		noun = strings.TrimSuffix(noun, "y") + "ie"
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
