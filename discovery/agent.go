package discovery

import "github.com/pinion-home/pinion/drivers"

// AgentDeviceID is the device id of the agent's own Home Assistant device.
// A configured device cannot use it.
const AgentDeviceID = "agent"

// Entity ids of the agent's own diagnostic entities.
const (
	// AgentConnectivity is on while the agent is connected. Its state is
	// the node status topic itself, so it needs no state of its own and
	// shows "disconnected" (not "unavailable") once the will fires.
	AgentConnectivity = "connectivity"
	// AgentStarted is when the agent started; its state is RFC 3339.
	AgentStarted = "started"
	// AgentVersion is pinion's version, as text.
	AgentVersion = "version"
)

// AgentEntities returns the agent's own diagnostic entities, which
// Messages publishes under the device AgentDeviceID. The agent publishes
// the states of all but AgentConnectivity to StateTopic(AgentDeviceID, id).
func AgentEntities() []drivers.Entity {
	return []drivers.Entity{
		{
			ID:         AgentConnectivity,
			Name:       "Connectivity",
			Kind:       drivers.KindBinarySensor,
			Class:      drivers.ClassConnectivity,
			Precision:  -1,
			Diagnostic: true,
		},
		{
			ID:         AgentStarted,
			Name:       "Started",
			Kind:       drivers.KindSensor,
			Class:      drivers.ClassTimestamp,
			Precision:  -1,
			Diagnostic: true,
		},
		{
			ID:         AgentVersion,
			Name:       "Version",
			Kind:       drivers.KindSensor,
			Precision:  -1,
			Diagnostic: true,
			Icon:       "mdi:tag-outline",
		},
	}
}

// agentDevice is the agent's own device as Messages publishes it.
func (n Node) agentDevice() Device {
	return Device{
		ID:       AgentDeviceID,
		Name:     n.name(),
		Info:     drivers.Info{Manufacturer: "pinion", Model: "pinion agent"},
		Entities: AgentEntities(),
	}
}
