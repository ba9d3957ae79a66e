package agent

import (
	"fmt"

	"github.com/pinion-home/pinion/drivers/sim"
)

// PopulateSim fits the simulated board to the config: the machine's own
// /proc and /sys files, a simulated chip or peer of the right model
// wherever a device claims an I2C address or a serial port, and the input
// toggles of [sim].
func PopulateSim(h *sim.Host, cfg *Config) error {
	// The machine's own /proc and /sys, read-only, so that the system
	// driver shows real figures in the demo.
	h.UseMachineFiles()
	for i, dc := range cfg.Devices {
		if err := sim.Attach(h, dc.Driver, dc.Claims, int64(i+1)); err != nil {
			return fmt.Errorf("sim: device %q: %w", dc.ID, err)
		}
	}
	for _, t := range cfg.Sim.Toggle {
		if err := h.Toggle(t.Pin, t.Every); err != nil {
			return err
		}
	}
	return nil
}
