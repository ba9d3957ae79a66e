//go:build !custom || drivers || drivers.bme280

package all

import _ "github.com/pinion-home/pinion/drivers/bme280" // registers "bme280"
