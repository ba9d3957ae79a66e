package discovery

import (
	"time"

	"github.com/pinion-home/pinion/drivers"
)

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
			Diagnostic: true,
			Spec:       drivers.BinarySensor{Class: drivers.ClassConnectivity},
		},
		{
			ID:         AgentStarted,
			Name:       "Started",
			Diagnostic: true,
			Spec:       drivers.Sensor{Class: drivers.ClassTimestamp, Precision: -1},
		},
		{
			ID:         AgentVersion,
			Name:       "Version",
			Diagnostic: true,
			Icon:       "mdi:tag-outline",
			Spec:       drivers.Sensor{Precision: -1},
		},
	}
}

// AgentStates returns the state messages of the agent's own entities, to
// publish retained alongside its discovery: the version and the start time
// (RFC 3339, UTC). AgentConnectivity has none: it reads the node status.
func AgentStates(n Node, version string, started time.Time) ([]Message, error) {
	values := map[string]drivers.Value{
		AgentVersion: drivers.Text(version),
		AgentStarted: drivers.Text(started.UTC().Format(time.RFC3339)),
	}
	var msgs []Message
	for _, e := range AgentEntities() {
		v, ok := values[e.ID]
		if !ok {
			continue
		}
		p, err := StatePayload(e, v)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, Message{Topic: n.StateTopic(AgentDeviceID, e.ID), Payload: p})
	}
	return msgs, nil
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
