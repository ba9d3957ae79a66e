package agent_test

import (
	"os"
	"os/exec"
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
