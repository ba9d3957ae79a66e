package agent_test

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pinion-home/pinion/agent"
	"github.com/pinion-home/pinion/internal/brokertest"
	"github.com/pinion-home/pinion/internal/hatest"
	"github.com/pinion-home/pinion/internal/logbuf"
)

// runAgentEnv makes the test binary run agent.Main instead of the tests,
// so a test can start the real command as a process and signal it.
const runAgentEnv = "PINION_TEST_RUN_AGENT"

func TestMain(m *testing.M) {
	if os.Getenv(runAgentEnv) == "1" {
		agent.Main()
	}
	os.Exit(m.Run())
}

// SIGTERM (systemd stop) and SIGINT (Ctrl-C) stop the agent cleanly: exit
// status 0, and "offline" left retained so Home Assistant shows the
// entities unavailable at once rather than when the keepalive runs out.
func TestSignalStopsCleanly(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			url := brokertest.Embedded(t)
			ha := hatest.New(t, url)
			var logs logbuf.Buffer
			cmd := exec.Command(os.Args[0], "-config", "../configs/demo.toml", "-broker", url)
			cmd.Env = append(os.Environ(), runAgentEnv+"=1")
			cmd.Stderr = &logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			t.Cleanup(func() {
				if cmd.ProcessState == nil {
					_ = cmd.Process.Kill()
					<-exited
				}
			})

			relay := "pinion:demo:pump:relay"
			if err := ha.WaitAvailable(relay, true, wait); err != nil {
				t.Fatalf("%v\nagent log:\n%s", err, logs.String())
			}
			// Switched on, so that the state after exit shows on_exit =
			// keep left it on rather than being the power-on default.
			if err := ha.Command(relay, "ON"); err != nil {
				t.Fatal(err)
			}
			if err := ha.WaitState(relay, "ON", wait); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("agent exited with %v after %v\nagent log:\n%s", err, sig, logs.String())
				}
			case <-time.After(wait):
				t.Fatalf("agent still running %v after %v", wait, sig)
			}
			if err := ha.WaitAvailable(relay, false, wait); err != nil {
				t.Fatalf("after %v: %v", sig, err)
			}
			if e, _ := ha.Entity(relay); e.State != "ON" {
				t.Errorf("the pump's last state is %q, want ON (on_exit = keep)", e.State)
			}
		})
	}
}

// process is the agent run as a separate process on the demo config.
type process struct {
	cmd    *exec.Cmd
	exited chan error
}

// startProcess starts the agent with the demo config against url, its
// stderr going to stderr, with env added to the test's environment. The
// process is killed at the end of the test if it is still running.
func startProcess(t *testing.T, url string, stderr *os.File, env ...string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-config", "../configs/demo.toml", "-broker", url)
	cmd.Env = append(append(os.Environ(), runAgentEnv+"=1", "STATE_DIRECTORY="+t.TempDir()), env...)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// running fails the test if the process has exited.
func (p *process) running(t *testing.T, after string) {
	t.Helper()
	select {
	case err := <-p.exited:
		t.Fatalf("the agent exited (%v) after %s", err, after)
	default:
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *process) stop(t *testing.T, logs func() string) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("agent exited with %v after SIGTERM\nagent log:\n%s", err, logs())
		}
	case <-time.After(wait):
		t.Fatalf("agent still running %v after SIGTERM", wait)
	}
}

// pipeLogs returns the write end of a pipe for the agent's stderr, the
// read end (the test's to close) and what has been read from it.
func pipeLogs(t *testing.T) (w, r *os.File, logs *logbuf.Buffer) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	logs = &logbuf.Buffer{}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(logs, r)
	}()
	t.Cleanup(func() {
		r.Close()
		w.Close()
		<-copied
	})
	return w, r, logs
}

// waitLogged waits until logs holds substr.
func waitLogged(t *testing.T, logs *logbuf.Buffer, substr string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !strings.Contains(logs.String(), substr) {
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not log %q\nagent log:\n%s", substr, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SIGHUP, which kills a Go program by default, is logged and ignored: the
// agent goes on obeying commands, and a SIGTERM after it still stops it
// cleanly with offline as its last word.
func TestSIGHUPIsIgnored(t *testing.T) {
	url := brokertest.Embedded(t)
	ha := hatest.New(t, url)
	mon, _ := newMonitor(t, url, "pinion/demo/#")
	w, _, logs := pipeLogs(t)
	p := startProcess(t, url, w)
	w.Close()
	relay := "pinion:demo:pump:relay"
	if err := ha.WaitAvailable(relay, true, wait); err != nil {
		t.Fatalf("%v\nagent log:\n%s", err, logs.String())
	}
	for range 3 {
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	waitLogged(t, logs, "SIGHUP ignored: reload is not supported yet; restart the service")
	p.running(t, "SIGHUP")
	if err := ha.Command(relay, "ON"); err != nil {
		t.Fatal(err)
	}
	if err := ha.WaitState(relay, "ON", wait); err != nil {
		t.Fatalf("a command after SIGHUP: %v", err)
	}
	p.stop(t, logs.String)
	if err := ha.WaitAvailable(relay, false, wait); err != nil {
		t.Fatal(err)
	}
	mon.waitFor(t, "offline", func(s string) bool { return s == "pinion/demo/status=offline" })
	msgs := mon.messages()
	if last := msgs[len(msgs)-1]; last != "pinion/demo/status=offline" {
		t.Fatalf("the agent's last message is %q, want offline", last)
	}
}

// A stderr whose reader has gone (a closed pipe: a terminal closed, a log
// collector restarted) makes every log line fail with EPIPE, and SIGPIPE
// would kill the agent: it must go on, obeying commands, and still stop
// cleanly.
func TestClosedStderr(t *testing.T) {
	url := brokertest.Embedded(t)
	ha := hatest.New(t, url)
	w, r, logs := pipeLogs(t)
	p := startProcess(t, url, w)
	w.Close()
	relay := "pinion:demo:pump:relay"
	if err := ha.WaitAvailable(relay, true, wait); err != nil {
		t.Fatalf("%v\nagent log:\n%s", err, logs.String())
	}
	r.Close()
	// Invalid commands and a SIGHUP each make the agent log, into the
	// broken pipe.
	for range 20 {
		if err := ha.Publish("pinion/demo/pump/relay/set", "maybe", false); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := ha.Command(relay, "ON"); err != nil {
		t.Fatal(err)
	}
	if err := ha.WaitState(relay, "ON", wait); err != nil {
		t.Fatalf("a command after stderr closed: %v", err)
	}
	if err := ha.Command(relay, "OFF"); err != nil {
		t.Fatal(err)
	}
	if err := ha.WaitState(relay, "OFF", wait); err != nil {
		t.Fatalf("a second command after stderr closed: %v", err)
	}
	p.running(t, "stderr was closed")
	p.stop(t, logs.String)
	if err := ha.WaitAvailable(relay, false, wait); err != nil {
		t.Fatal(err)
	}
}

// Run by systemd with Type=notify, the agent says READY=1 when it starts
// serving, pings the watchdog at half of WATCHDOG_USEC, and says
// STOPPING=1 when told to stop.
func TestSystemdNotify(t *testing.T) {
	dir, err := os.MkdirTemp("", "sd") // short: sun_path holds 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	got := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n])
		}
	}()
	next := func(want string) {
		t.Helper()
		deadline := time.After(wait)
		for {
			select {
			case s := <-got:
				if s == want {
					return
				}
				if s != "WATCHDOG=1" {
					t.Fatalf("got %q while waiting for %q", s, want)
				}
			case <-deadline:
				t.Fatalf("no %q from the agent", want)
			}
		}
	}

	url := brokertest.Embedded(t)
	ha := hatest.New(t, url)
	w, _, logs := pipeLogs(t)
	// WATCHDOG_PID is the agent's, which the test cannot know before it
	// starts; leaving it unset means "this process".
	p := startProcess(t, url, w, "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=200000", "WATCHDOG_PID=")
	w.Close()
	next("READY=1")
	next("WATCHDOG=1")
	next("WATCHDOG=1")
	if err := ha.WaitAvailable("pinion:demo:pump:relay", true, wait); err != nil {
		t.Fatalf("%v\nagent log:\n%s", err, logs.String())
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	next("STOPPING=1")
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("agent exited with %v\nagent log:\n%s", err, logs.String())
		}
	case <-time.After(wait):
		t.Fatal("agent still running after SIGTERM")
	}
}
