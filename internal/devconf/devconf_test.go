package devconf

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pinion-home/pinion/drivers"
)

func TestProblemString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{File: "c.toml", Line: 3, Key: "mqtt.brokr", Msg: "unknown key"}, "c.toml:3: mqtt.brokr: unknown key"},
		{Problem{File: "c.toml", Key: "agent.id", Msg: "m"}, "c.toml: agent.id: m"},
		{Problem{File: "c.toml", Line: 1, Msg: "m"}, "c.toml:1: m"},
		{Problem{Msg: "m"}, "m"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
	e := &ConfigError{Problems: []Problem{{File: "a", Line: 1, Msg: "x"}, {File: "a", Line: 2, Msg: "y"}}}
	if e.Error() != "a:1: x\na:2: y" {
		t.Errorf("ConfigError.Error() = %q", e.Error())
	}
}

// scanDoc is a document with every layout the scanner must follow: keys
// dotted and quoted, values over several lines that hold what looks like
// keys and tables, and tables and arrays of tables at several depths.
const scanDoc = `# comment [not] = a table
top = 1
dotted.key = "x"
"quoted.key" = 'y'
"esc\u0061ped" = 1
arr = [
  "]", '[',  # a comment with ] in it
  { a = 1 },
]

[mqtt]   # trailing comment
broker = """
[not a table]
key = "not a key"
"""
after = 'lit'
lit = '''
[[also not]]
'''
inline = { x = 1,
  y = 2 }

[[device]]
id = "a"
  [device.options]
  deep = 1
  [[device.chan]]
  n = 1
  [[device.chan]]
  n = 2

[[device]]
id = "b"
	[ device . "opt ions" ]
	k = 1
[[ device ]]
id = "c"
`

func TestScanLines(t *testing.T) {
	t.Parallel()
	lines := scanLines(scanDoc)
	for key, want := range map[string]int{
		"top":                    2,
		"dotted":                 3,
		"dotted.key":             3,
		`"quoted.key"`:           4,
		"escaped":                5,
		"arr":                    6,
		"mqtt":                   11,
		"mqtt.broker":            12,
		"mqtt.after":             16,
		"mqtt.lit":               17,
		"mqtt.inline":            20,
		"device":                 23,
		"device[0]":              23,
		"device[0].id":           24,
		"device[0].options":      25,
		"device[0].options.deep": 26,
		"device[0].chan":         27,
		"device[0].chan[0]":      27,
		"device[0].chan[0].n":    28,
		"device[0].chan[1]":      29,
		"device[0].chan[1].n":    30,
		"device[1]":              32,
		"device[1].id":           33,
		`device[1]."opt ions"`:   34,
		`device[1]."opt ions".k`: 35,
		"device[2]":              36,
		"device[2].id":           37,
	} {
		if got, ok := lines[key]; !ok || got != want {
			t.Errorf("%s: line %d (found %v), want %d", key, got, ok, want)
		}
	}
	for _, key := range []string{"not", "mqtt.key", "also", "mqtt.y", "a"} {
		if l, ok := lines[key]; ok {
			t.Errorf("%s found at line %d, but it is inside a value", key, l)
		}
	}
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	known := []string{"broker", "listen", "client_id", "keepalive"}
	for in, want := range map[string]string{
		"brokr":      "broker",
		"borker":     "broker",
		"Broker":     "broker",
		"keep_alive": "keepalive",
		"clientid":   "client_id",
		"listening":  "listen",
		"x":          "",
		"":           "",
	} {
		if got := Suggest(in, known); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path Path
		want string
	}{
		{Path{}, ""},
		{Path{}.Key("mqtt").Key("broker"), "mqtt.broker"},
		{Path{"device"}.Index(1).Keys("sensor", "offset"), "device[1].sensor.offset"},
		{Path{"device"}.Index(0).Key("quoted key"), `device[0]."quoted key"`},
		{Path{}.Keys("a.b", "c"), `"a.b".c`},
		{Path{"device"}.Index(2).Key("chans").Index(0), "device[2].chans[0]"},
	} {
		if got := tc.path.String(); got != tc.want {
			t.Errorf("%q.String() = %q, want %q", []string(tc.path), got, tc.want)
		}
	}
	// Key never changes the path it extends, so one base serves many.
	base := make(Path, 1, 4)
	base[0] = "device"
	a, b := base.Key("a"), base.Key("b")
	if a.String() != "device.a" || b.String() != "device.b" {
		t.Errorf("two keys under one base: %s, %s", a, b)
	}
}

func TestSplitKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]string{
		"pin":            {"pin"},
		"sensor.offset":  {"sensor", "offset"},
		`a."b.c".d`:      {"a", "b.c", "d"},
		`"esc\u0061ped"`: {"escaped"},
		`'lit.eral'`:     {"lit.eral"},
	} {
		if got := splitKey(in); !slices.Equal(got, want) {
			t.Errorf("splitKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want string // the path as String writes it; "" when in is no key
	}{
		{"pin", "pin"},
		{"sensor.offset", "sensor.offset"},
		{"pins[1]", "pins[1]"},
		{"chans[0].n", "chans[0].n"},
		{"grid[1][2]", "grid[1][2]"},
		{` a . b `, "a.b"},
		{`a."b.c"`, `a."b.c"`},
		{`"esc\u0061ped"`, "escaped"},
		{`'lit'`, "lit"},
		{`""`, `""`},
		{"", ""},
		{"a.", ""},
		{".a", ""},
		{"a b", ""},
		{"pins[", ""},
		{"pins[x]", ""},
		{"pins[-1]", ""},
		{`"open`, ""},
		{`"a\"`, ""},
		{"a[1]b", ""},
	} {
		p, ok := parseKey(tc.in)
		if ok != (tc.want != "") || ok && p.String() != tc.want {
			t.Errorf("parseKey(%q) = %q, %t; want %q", tc.in, p.String(), ok, tc.want)
		}
	}
}

// TestDecodeExactKeys checks that a key matching a field only when case is
// ignored is reported, leaves the key of the right case decoded, and does
// not change the parsed document, which other checks read after Decode.
func TestDecodeExactKeys(t *testing.T) {
	t.Parallel()
	src := "[[device]]\nid = \"a\"\npin = \"GPIO4\"\nPIN = \"GPIO5\"\n[[device.chans]]\nN = 1\n[[device.chans]]\nn = 2\n"
	root, doc, err := Parse("x.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	tables := doc.DeviceTables(root)
	var v struct {
		Pin   string `toml:"pin"`
		Chans []struct {
			N int `toml:"n"`
		} `toml:"chans"`
	}
	dec := doc.Decoder(Path{"device"}.Index(0), "test", tables[0])
	err = dec.Decode(&v)
	want := "x.toml:4: device[0].PIN: unknown key (did you mean \"pin\"? keys are case-sensitive)\n" +
		"x.toml:6: device[0].chans[0].N: unknown key (did you mean \"n\"? keys are case-sensitive)"
	if err == nil || err.Error() != want {
		t.Errorf("Decode: %v\nwant:\n%s", err, want)
	}
	if v.Pin != "GPIO4" || len(v.Chans) != 2 || v.Chans[0].N != 0 || v.Chans[1].N != 2 {
		t.Errorf("decoded %+v, want pin GPIO4 and chans [0 2]", v)
	}
	chans := tables[0]["chans"].([]map[string]any)
	if _, ok := tables[0]["PIN"]; !ok || chans[0]["N"] != int64(1) {
		t.Errorf("Decode changed the parsed document: %v", tables[0])
	}
}

// TestReturnedIDInMessages checks the words of a factory's error that is
// no KeyError: the device's id is put in front only when it is missing.
func TestReturnedIDInMessages(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errors.New("pin is required"), `device "door": pin is required`},
		{fmt.Errorf("gpio %q: %w", "door", errors.New("bad")), `gpio "door": bad`},
		{fmt.Errorf("gpio %q: %w", "door", errors.Join(errors.New("one"), drivers.BadKey("pin", "two"))), `gpio "door": one`},
		{fmt.Errorf("wrapped: %v", errors.Join(errors.New("one"), drivers.BadKey("pin", "two"))), "device \"door\": wrapped: one\npin: two"},
	} {
		root, doc, err := Parse("x.toml", []byte("[[device]]\nid = \"door\"\npin = 1\n"))
		if err != nil {
			t.Fatal(err)
		}
		dec := doc.Decoder(Path{"device"}.Index(0), "gpio", doc.DeviceTables(root)[0])
		probs := dec.Returned(nil, tc.err)
		if len(probs) == 0 || probs[0].Key != "device[0]" || probs[0].Line != 1 || probs[0].Msg != tc.want {
			t.Errorf("Returned(%q) = %v, want first x.toml:1: device[0]: %s", tc.err, probs, tc.want)
		}
	}
}

// FuzzScanLines feeds the scanner any input, TOML or not: it must not
// panic or hang, and every line it finds must be inside the input.
func FuzzScanLines(f *testing.F) {
	f.Add(scanDoc)
	f.Add("a = \"\"\"x\\\n\"\"\"\"\"\n[[device]]\n'id' = 'b'\n")
	f.Add("[ a . \"b\\\"\" . 'c' ]\nk.\"l\".m = {x = [1,\n2]}\n")
	f.Add("\"unterminated\n[\n[[\n= 1\n")
	f.Fuzz(func(t *testing.T, src string) {
		n := 1 + strings.Count(src, "\n")
		for k, l := range scanLines(src) {
			if l < 1 || l > n {
				t.Fatalf("%s at line %d of a %d-line input", k, l, n)
			}
		}
	})
}
