package drivers

// Action is what a command asks of an entity.
type Action int

const (
	// ActionOn switches a switch or a light on; a light's Value is then
	// its brightness (1–255), or the zero Value to keep the last one.
	ActionOn Action = iota + 1
	// ActionOff switches a switch or a light off.
	ActionOff
	// ActionPress presses a button.
	ActionPress
	// ActionSet sets a number (a Number value), a select (a Text value,
	// one of its options) or a cover's position (a Number, 0–100).
	ActionSet
	// ActionOpen opens a cover.
	ActionOpen
	// ActionClose closes a cover.
	ActionClose
	// ActionStop stops a moving cover.
	ActionStop
)

// String returns the action as a command payload names it: "ON", "PRESS".
func (a Action) String() string {
	switch a {
	case ActionOn:
		return "ON"
	case ActionOff:
		return "OFF"
	case ActionPress:
		return "PRESS"
	case ActionSet:
		return "SET"
	case ActionOpen:
		return "OPEN"
	case ActionClose:
		return "CLOSE"
	case ActionStop:
		return "STOP"
	}
	return "UNKNOWN"
}

// Command is one parsed command for an entity. The agent parses payloads
// for the entity's spec and hands a device only commands its entity
// takes: a switch gets ActionOn and ActionOff, never a number.
type Command struct {
	Action Action
	// Value is what the action carries: the number of an ActionSet on a
	// Number or a Cover, the option of an ActionSet on a Select, the
	// brightness of an ActionOn on a dimmable Light. Otherwise zero.
	Value Value
}

// String formats c for logs: "ON", "SET 21.5".
func (c Command) String() string {
	if c.Value.IsZero() {
		return c.Action.String()
	}
	return c.Action.String() + " " + c.Value.String()
}
