// Command agent is pinion's device agent with every built-in driver.
//
// To build an agent with your own drivers, copy this file, add an import of
// your driver package, and build it: drivers register themselves in init().
package main

import (
	"github.com/pinion-home/pinion/agent"
	_ "github.com/pinion-home/pinion/drivers/all" // the built-in drivers
)

func main() { agent.Main() }
