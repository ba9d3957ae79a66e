//go:build hwtest

package realhost

import (
	"testing"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
	gpiodrv "github.com/pinion-home/pinion/drivers/gpio"
)

// outRecorder is a host whose GPIO lines record every level asked of
// them, on the way to the real kernel's lines.
type outRecorder struct {
	*drivertest.StateHost
	outs  []gpio.Level
	lines []gpio.PinIO // as the host handed them out
}

func (h *outRecorder) GPIO(name string) (gpio.PinIO, error) {
	p, err := h.StateHost.GPIO(name)
	if err != nil {
		return nil, err
	}
	h.lines = append(h.lines, p)
	return &recordedLine{PinIO: p, h: h}, nil
}

type recordedLine struct {
	gpio.PinIO
	h *outRecorder
}

func (l *recordedLine) Out(v gpio.Level) error {
	l.h.outs = append(l.h.outs, v)
	return l.PinIO.Out(v)
}

// TestHWRestartKeepRestore restarts a gpio output with on_exit = "keep"
// and power_on = "restore" on the real kernel: the first run switches the
// relay on and stops, which releases the line (the PL061 keeps driving
// it); the second run, whose host remembers ON, requests the line at High
// in one ioctl, and the kernel is never asked for Low in between.
func TestHWRestartKeepRestore(t *testing.T) {
	const off = 3
	const src = "pin = \"GPIO3\"\nmode = \"output\"\npower_on = \"restore\"\non_exit = \"keep\"\n"

	h1, _ := hwHost(t)
	run1 := &outRecorder{StateHost: drivertest.NewStateHost(h1)} // knows nothing: starts off
	w := drivertest.Open(t, drivertest.Device[drivers.Device](t, gpiodrv.New, "pump", src), run1)
	wantDebug(t, off, debugLine{consumer: consumerLabel, out: true, high: false})
	if err := w.Command(t, gpiodrv.EntityRelay, drivers.Command{Action: drivers.ActionOn}); err != nil {
		t.Fatal(err)
	}
	wantDebug(t, off, debugLine{consumer: consumerLabel, out: true, high: true})
	w.Close(t)
	if err := h1.Close(); err != nil {
		t.Fatal(err)
	}
	// The host leaves its lines requested; the kernel releases them when
	// the agent's process exits, as here.
	for _, p := range run1.lines {
		if req, ok := p.(*chardevPin).st.out.(*chardevRequest); ok {
			if err := req.release(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got, requested := readDebug(t, off); requested {
		t.Fatalf("line %d is still requested after the first run stopped: %v", off, got)
	}

	h2, _ := hwHost(t)
	t.Cleanup(func() { h2.Close() })
	run2 := &outRecorder{StateHost: drivertest.NewStateHost(h2)}
	run2.Set(gpiodrv.EntityRelay, drivers.Bool(true))
	drivertest.Open(t, drivertest.Device[drivers.Device](t, gpiodrv.New, "pump", src), run2)
	wantDebug(t, off, debugLine{consumer: consumerLabel, out: true, high: true})
	if len(run2.outs) != 1 || run2.outs[0] != gpio.High {
		t.Fatalf("the second run asked the kernel for %v; want exactly [High]", run2.outs)
	}
}
