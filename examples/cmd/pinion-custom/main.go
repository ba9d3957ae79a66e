// Command pinion-custom is pinion's agent with the example drivers compiled
// in: cmd/agent/main.go copied, with one import added per driver package.
// It is how you build an agent with drivers of your own:
//
//	go build -o pinion ./examples/cmd/pinion-custom
//	./pinion -drivers                  # lists example-relay and example-sensor
//	./pinion -sample example-relay     # prints the driver's sample config
//
// Drivers register themselves in init(), so the imports are all it takes.
package main

import (
	"github.com/pinion-home/pinion/agent"
	_ "github.com/pinion-home/pinion/drivers/all"     // the built-in drivers
	_ "github.com/pinion-home/pinion/examples/relay"  // registers "example-relay"
	_ "github.com/pinion-home/pinion/examples/sensor" // registers "example-sensor"
)

func main() { agent.Main() }
