// Package discovery turns pinion's devices and entities into Home Assistant
// MQTT discovery messages, parses the commands Home Assistant sends back,
// formats states and events, and owns pinion's topic layout:
//
//	<topic_prefix>/<node>/status                     online | offline (agent availability; the will)
//	<topic_prefix>/<node>/<device>/status            online | offline (per-device availability)
//	<topic_prefix>/<node>/<device>/<entity>          state (retained), or events (not retained)
//	<topic_prefix>/<node>/<device>/<entity>/status   online | offline (per-entity availability)
//	<topic_prefix>/<node>/<device>/<entity>/set      command
//	<discovery_prefix>/<component>/<node>/<device>_<entity>/config   (retained)
//
// It is the only package that knows Home Assistant's schema: component
// names (Component), the config of each entity spec (Messages), the
// command grammar of each (ParseCommand), the state payloads (StatePayload,
// EventPayload) and the id rules. Unique ids are
// "pinion:<node>:<device>:<entity>" and device identifiers
// "pinion:<node>:<device>": ids cannot contain ":", so no two entities of
// any nodes share one. It is pure: it imports neither the MQTT client nor
// any driver, so the agent's -check and -print-discovery modes and the
// golden-file tests need no broker and no hardware.
//
// Everything it emits is validated first against the tables Home Assistant
// itself validates with (device classes per component, units per device
// class, a number's range and step, a select's options), so a
// configuration Home Assistant would reject fails at start with an error
// that names the device and the entity, instead of being logged and
// dropped on the Home Assistant side where nobody looks. Where Home
// Assistant accepts a config but then misbehaves (a numeric device class
// without a unit, a display precision on a text sensor, a state class on a
// timestamp, a select option "none" that reads as unknown), discovery is
// stricter and refuses it too.
//
// The golden files in testdata pin the exact payloads of every component;
// after an intended change, rewrite them with `go test ./discovery -update`
// and review the diff.
package discovery
