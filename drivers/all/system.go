//go:build !custom || drivers || drivers.system

package all

import _ "github.com/pinion-home/pinion/drivers/system" // registers "system"
