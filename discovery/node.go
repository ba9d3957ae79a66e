package discovery

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Default prefixes, used when a Node leaves its prefix empty.
const (
	// DefaultTopicPrefix is the first level of pinion's own topics.
	DefaultTopicPrefix = "pinion"
	// DefaultDiscoveryPrefix is Home Assistant's default discovery prefix.
	DefaultDiscoveryPrefix = "homeassistant"
)

// Payloads of the availability topics. They are Home Assistant's defaults,
// so the discovery configs need not spell them out.
const (
	PayloadOnline  = "online"
	PayloadOffline = "offline"
)

// Node is one pinion agent: the Home Assistant device of the agent itself
// and the root of every topic it uses.
type Node struct {
	// ID is the node id, made of [a-zA-Z0-9_-]. It appears in every topic
	// and unique id, so changing it makes Home Assistant see new entities.
	ID string
	// Name is the human name of the agent's own Home Assistant device
	// ("Garage Pi"). Empty means the ID.
	Name string
	// Version is pinion's version; it goes into the agent device's
	// sw_version and into every config's origin.
	Version string
	// TopicPrefix is the first level of pinion's topics. Empty means
	// DefaultTopicPrefix.
	TopicPrefix string
	// DiscoveryPrefix is Home Assistant's discovery prefix. Empty means
	// DefaultDiscoveryPrefix.
	DiscoveryPrefix string
}

func (n Node) topicPrefix() string {
	if n.TopicPrefix == "" {
		return DefaultTopicPrefix
	}
	return n.TopicPrefix
}

func (n Node) discoveryPrefix() string {
	if n.DiscoveryPrefix == "" {
		return DefaultDiscoveryPrefix
	}
	return n.DiscoveryPrefix
}

func (n Node) name() string {
	if n.Name == "" {
		return n.ID
	}
	return n.Name
}

// StatusTopic is the agent's availability topic: the will publishes
// "offline" there, retained, and the agent "online" once connected.
func (n Node) StatusTopic() string {
	return n.topicPrefix() + "/" + n.ID + "/status"
}

// DeviceStatusTopic is a device's own availability topic, "offline" while
// the device fails so that only its entities go unavailable.
func (n Node) DeviceStatusTopic(device string) string {
	return n.topicPrefix() + "/" + n.ID + "/" + device + "/status"
}

// EntityStatusTopic is one entity's own availability topic, "offline"
// while the device reports that entity unavailable. Configured devices'
// configs list it with the node's and the device's status, all of which
// must be "online" for Home Assistant to show the entity available.
func (n Node) EntityStatusTopic(device, entity string) string {
	return n.StateTopic(device, entity) + "/status"
}

// StateTopic is where an entity's state is published, retained, or an
// event entity's events, not retained.
func (n Node) StateTopic(device, entity string) string {
	return n.topicPrefix() + "/" + n.ID + "/" + device + "/" + entity
}

// CommandTopic is where commands for an entity arrive.
func (n Node) CommandTopic(device, entity string) string {
	return n.StateTopic(device, entity) + "/set"
}

// CommandFilter is the subscription filter that matches the command topic
// of every entity of this node, "<topic_prefix>/<node>/+/+/set"; no state
// or status topic matches it.
func (n Node) CommandFilter() string {
	return n.topicPrefix() + "/" + n.ID + "/+/+/set"
}

// ParseCommandTopic splits a command topic of this node into the device and
// entity it addresses. ok is false for any other topic, so a message on a
// topic pinion would never have published as a command is ignored.
func (n Node) ParseCommandTopic(topic string) (device, entity string, ok bool) {
	rest, found := strings.CutPrefix(topic, n.topicPrefix()+"/"+n.ID+"/")
	if !found {
		return "", "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[2] != "set" || !ValidID(parts[0]) || !ValidID(parts[1]) {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// BirthTopic is where Home Assistant announces itself ("online" when it
// starts), "<discovery_prefix>/status". The agent republishes discovery
// and states when it sees the birth there.
func (n Node) BirthTopic() string {
	return n.discoveryPrefix() + "/status"
}

// ConfigTopic is the discovery topic of an entity of the given component
// (as Component returns it: "sensor", "switch", "light", …).
func (n Node) ConfigTopic(component, device, entity string) string {
	return n.discoveryPrefix() + "/" + component + "/" + n.ID + "/" + ObjectID(device, entity) + "/config"
}

// ConfigFilter is the subscription filter that matches every discovery
// config topic of this node, of any component. The agent subscribes to it
// at start to find the retained configs of entities that are gone from the
// configuration, and removes them; ParseConfigTopic keeps it to this node's
// own topics.
func (n Node) ConfigFilter() string {
	return n.discoveryPrefix() + "/+/" + n.ID + "/+/config"
}

// ParseConfigTopic splits a discovery config topic of this node into its
// component and object id. ok is false for a topic of another node or
// prefix, or one Home Assistant would not accept as a discovery topic.
func (n Node) ParseConfigTopic(topic string) (component, objectID string, ok bool) {
	rest, found := strings.CutPrefix(topic, n.discoveryPrefix()+"/")
	if !found {
		return "", "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 4 || parts[2] == "" || parts[3] != "config" || parts[1] != n.ID {
		return "", "", false
	}
	if !validComponent(parts[0]) || !ValidID(parts[2]) {
		return "", "", false
	}
	return parts[0], parts[2], true
}

// idSeparator joins the parts of unique ids and device identifiers. Ids
// cannot contain it, so every unique id splits back into exactly one node,
// device and entity: node "garage" with device "pi_x" and node
// "garage_pi" with device "x" never meet.
const idSeparator = ":"

// UniqueID is an entity's Home Assistant unique id,
// "pinion:<node>:<device>:<entity>". It must never change for an entity
// that stays, or Home Assistant loses its history and customisations.
func (n Node) UniqueID(device, entity string) string {
	return n.deviceIdentifier(device) + idSeparator + entity
}

// DefaultEntityID is the entity id Home Assistant gives an entity when it
// first sees it: "<component>.<node>_<device>_<entity>", lower-cased and
// with every run of other characters than [a-z0-9] turned into one "_",
// because Home Assistant rejects entity ids with upper case, "-" or "__".
func (n Node) DefaultEntityID(component, device, entity string) string {
	return component + "." + slug(n.ID+"_"+device+"_"+entity)
}

// deviceIdentifier is the identifier of a configured device in Home
// Assistant's device registry, "pinion:<node>:<device>".
func (n Node) deviceIdentifier(device string) string {
	return n.agentIdentifier() + idSeparator + device
}

// agentIdentifier is the identifier of the agent's own device,
// "pinion:<node>", which the configured devices name as their via_device.
func (n Node) agentIdentifier() string {
	return "pinion" + idSeparator + n.ID
}

// ObjectID is the object id of an entity in its config topic,
// "<device>_<entity>". Home Assistant allows only the characters of ids in
// it, so it has no separator of its own: Validate refuses two entities of
// a node whose object ids meet ("a_b"+"c" and "a"+"b_c"). Across nodes,
// the node level of the topic keeps them apart.
func ObjectID(device, entity string) string {
	return device + "_" + entity
}

// ValidID reports whether s can be a node, device or entity id: one or more
// of [a-zA-Z0-9_-], the characters Home Assistant allows in a discovery
// topic's node and object ids, and that need no quoting in a topic typed
// by hand.
func ValidID(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validComponent matches the \w+ of Home Assistant's discovery topic
// pattern, restricted to ASCII as every component name is.
func validComponent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// slug lower-cases s and replaces each run of characters outside [a-z0-9]
// with a single "_", trimming them at both ends: Home Assistant's rule for
// the object id part of an entity id.
func slug(s string) string {
	var b strings.Builder
	pending := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if pending && b.Len() > 0 {
				b.WriteByte('_')
			}
			pending = false
			b.WriteRune(r)
			continue
		}
		pending = true
	}
	if b.Len() == 0 {
		return "unnamed"
	}
	return b.String()
}

// checkPrefix reports why p cannot be a topic prefix: it is published to,
// so it takes no wildcards, and it is joined with "/", so it has no empty
// levels.
func checkPrefix(p string) error {
	switch {
	case !utf8.ValidString(p):
		return fmt.Errorf("is not valid UTF-8")
	case strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/"):
		return fmt.Errorf("%q starts or ends with \"/\"; write it without, pinion adds the separators", p)
	case strings.Contains(p, "//"):
		return fmt.Errorf("%q has an empty level (\"//\")", p)
	case strings.ContainsAny(p, "+#"):
		return fmt.Errorf("%q contains an MQTT wildcard (+ or #), which cannot be published to", p)
	case strings.HasPrefix(p, "$"):
		return fmt.Errorf("%q starts with \"$\", which brokers reserve for their own topics", p)
	}
	for _, r := range p {
		if unicode.IsControl(r) {
			return fmt.Errorf("%q contains a control character", p)
		}
	}
	return nil
}
