//go:build !custom || drivers || drivers.gpio

package all

import _ "github.com/pinion-home/pinion/drivers/gpio" // registers "gpio"
