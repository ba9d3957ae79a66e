package agent

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/pinion-home/pinion/drivers"
)

// Command is a parsed command payload: a value to set, or a toggle.
type Command struct {
	// Toggle asks for the opposite of the entity's current state.
	Toggle bool
	// Value is the state to set when Toggle is false.
	Value drivers.Value
}

// maxCommandLen bounds what is parsed; real commands are a few bytes.
const maxCommandLen = 1024

// ParseCommand parses a switch command payload. It accepts, in any case and
// with surrounding white space: ON/OFF, TOGGLE, 1/0, true/false, and the
// JSON forms {"state":"ON"} and {"state":true}, so Home Assistant, scripts
// and people at a shell all get what they mean. Anything else is an error
// that says what is accepted.
func ParseCommand(payload []byte) (Command, error) {
	if len(payload) > maxCommandLen {
		return Command{}, fmt.Errorf("command of %d bytes is too long: want ON, OFF, TOGGLE, 1, 0, true, false or {\"state\":\"ON\"}", len(payload))
	}
	s := strings.TrimSpace(string(payload))
	if strings.HasPrefix(s, "{") {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(s), &obj); err != nil {
			return Command{}, fmt.Errorf("command %q: invalid JSON: %w", truncate(s), err)
		}
		raw, ok := obj["state"]
		if !ok {
			return Command{}, fmt.Errorf("command %q: JSON without a \"state\" key: want {\"state\":\"ON\"}", truncate(s))
		}
		// Decoded as any: a JSON null would decode into a bool as false,
		// and switch a relay off that nobody asked to switch.
		var state any
		if err := json.Unmarshal(raw, &state); err != nil {
			return Command{}, fmt.Errorf("command %q: invalid JSON: %w", truncate(s), err)
		}
		var str string
		switch v := state.(type) {
		case bool:
			return Command{Value: drivers.Bool(v)}, nil
		case string:
			str = v
		default:
			return Command{}, fmt.Errorf("command %q: \"state\" must be a string or a boolean", truncate(s))
		}
		if strings.HasPrefix(strings.TrimSpace(str), "{") {
			return Command{}, fmt.Errorf("command %q: nested JSON in \"state\"", truncate(s))
		}
		return ParseCommand([]byte(str))
	}
	switch strings.ToUpper(s) {
	case "ON", "1", "TRUE":
		return Command{Value: drivers.Bool(true)}, nil
	case "OFF", "0", "FALSE":
		return Command{Value: drivers.Bool(false)}, nil
	case "TOGGLE":
		return Command{Toggle: true}, nil
	}
	return Command{}, fmt.Errorf("command %q not understood: want ON, OFF, TOGGLE, 1, 0, true, false or {\"state\":\"ON\"}", truncate(s))
}

// truncate shortens s, on a rune boundary, for errors and logs.
func truncate(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
