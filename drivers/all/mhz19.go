//go:build !custom || drivers || drivers.mhz19

package all

import _ "github.com/pinion-home/pinion/drivers/mhz19" // registers "mhz19"
