package agent

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pinion-home/pinion/drivers"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		in         string
		on, toggle bool
		err        string
	}{
		{in: "ON", on: true},
		{in: "on", on: true},
		{in: " On\n", on: true},
		{in: "OFF"},
		{in: "off"},
		{in: "1", on: true},
		{in: "0"},
		{in: "true", on: true},
		{in: "FALSE"},
		{in: "TOGGLE", toggle: true},
		{in: "toggle", toggle: true},
		{in: `{"state":"ON"}`, on: true},
		{in: `{"state": "off"}`},
		{in: `{"state":true}`, on: true},
		{in: `{"state":"TOGGLE"}`, toggle: true},
		{in: `{"state":false,"brightness":3}`},
		{in: "", err: "not understood"},
		{in: "ONN", err: "not understood"},
		{in: "2", err: "not understood"},
		{in: "yes", err: "not understood"},
		{in: `{"state":1}`, err: "string or a boolean"},
		{in: `{"state":null}`, err: "string or a boolean"},
		{in: `{"state":"ON","state":null}`, err: "string or a boolean"},
		{in: `{"power":"ON"}`, err: `without a "state" key`},
		{in: `{"state":`, err: "invalid JSON"},
		{in: `{"state":"{\"state\":\"ON\"}"}`, err: "nested JSON"},
		{in: strings.Repeat("x", 2000), err: "too long"},
	}
	for _, tt := range tests {
		c, err := ParseCommand([]byte(tt.in))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseCommand(%q) err = %v, want it to contain %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseCommand(%q): %v", tt.in, err)
			continue
		}
		if c.Toggle != tt.toggle || (!tt.toggle && c.Value.Bool != tt.on) {
			t.Errorf("ParseCommand(%q) = %+v, want on=%v toggle=%v", tt.in, c, tt.on, tt.toggle)
		}
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"ON", "off", "TOGGLE", "1", `{"state":"ON"}`, `{"state":true}`, `{"state":null}`, `{"state":" on "}`, "{", "\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommand(b)
		if err != nil {
			if !utf8.ValidString(err.Error()) && utf8.Valid(b) {
				t.Fatalf("error message is not valid UTF-8: %q", err)
			}
			return
		}
		// Whatever is accepted is one of the documented forms, and means
		// what that form says.
		want, ok := documentedCommand(b)
		if !ok {
			t.Fatalf("ParseCommand(%q) = %+v; not one of the documented forms", b, c)
		}
		if c.Toggle != want.Toggle || (!c.Toggle && !c.Value.Equal(want.Value)) {
			t.Fatalf("ParseCommand(%q) = %+v, want %+v", b, c, want)
		}
	})
}

// documentedCommand is the README's list of commands, written out plainly:
// ON/OFF, TOGGLE, 1/0, true/false in any case with white space around, or
// a JSON object whose "state" is a boolean or one of those words.
func documentedCommand(b []byte) (Command, bool) {
	if len(b) > maxCommandLen {
		return Command{}, false
	}
	word := func(s string) (Command, bool) {
		switch strings.ToUpper(strings.TrimSpace(s)) {
		case "ON", "1", "TRUE":
			return Command{Value: drivers.Bool(true)}, true
		case "OFF", "0", "FALSE":
			return Command{Value: drivers.Bool(false)}, true
		case "TOGGLE":
			return Command{Toggle: true}, true
		}
		return Command{}, false
	}
	if c, ok := word(string(b)); ok {
		return c, true
	}
	var obj map[string]any
	if json.Unmarshal(b, &obj) != nil {
		return Command{}, false
	}
	switch v := obj["state"].(type) {
	case bool:
		return Command{Value: drivers.Bool(v)}, true
	case string:
		return word(v)
	}
	return Command{}, false
}
