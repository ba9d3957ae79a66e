package relay_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
	"github.com/pinion-home/pinion/examples/relay"
)

func TestRegistered(t *testing.T) {
	drivertest.Registered[*relay.Board](t, relay.DriverName, relay.SampleConfig, `pins = ["GPIO5"]`)
}

// TestConfig checks what a valid configuration makes: one switch per pin,
// in order, named for people, and a claim on every line.
func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name  string
		src   string
		pins  []string
		model string
	}{
		{"one channel", `pins = ["GPIO17"]`, []string{"GPIO17"}, "1-channel relay board (GPIO17)"},
		{"four channels", `pins = ["GPIO5", "GPIO6", "GPIO13", "GPIO19"]`,
			[]string{"GPIO5", "GPIO6", "GPIO13", "GPIO19"}, "4-channel relay board (GPIO5, GPIO6, GPIO13, GPIO19)"},
		{"every key", "pins = [\"GPIO20\", \"GPIO21\"]\ninverted = true\ninterlock = true",
			[]string{"GPIO20", "GPIO21"}, "2-channel relay board (GPIO20, GPIO21)"},
		{"names the host does not know", `pins = ["PA7", "GPIO99"]`, []string{"PA7", "GPIO99"}, "2-channel relay board (PA7, GPIO99)"},
		{"lines of an expander", `pins = ["expander/GPA0", "expander/GPA1"]`, []string{"expander/GPA0", "expander/GPA1"},
			"2-channel relay board (expander/GPA0, expander/GPA1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBoard(t, tc.src)
			var want []drivers.Entity
			var claims []string
			for i, p := range tc.pins {
				want = append(want, drivers.Entity{ID: fmt.Sprintf("ch%d", i+1), Name: fmt.Sprintf("Channel %d", i+1),
					Spec: drivers.Switch{Class: drivers.ClassSwitch}})
				claims = append(claims, "gpio:"+p)
			}
			if got := b.Entities(); !reflect.DeepEqual(got, want) {
				t.Errorf("Entities() = %+v, want %+v", got, want)
			}
			if got := claimStrings(b.Claims()); !slices.Equal(got, claims) {
				t.Errorf("Claims() = %q, want %q", got, claims)
			}
			if got := b.Info().Model; got != tc.model {
				t.Errorf("Info().Model = %q, want %q", got, tc.model)
			}
		})
	}
}

func TestEntityIDBeyondNine(t *testing.T) {
	pins := make([]string, 12)
	for i := range pins {
		pins[i] = `"GPIO` + string(rune('A'+i)) + `"`
	}
	b := newBoard(t, "pins = ["+strings.Join(pins, ", ")+"]")
	es := b.Entities()
	if e := es[11]; e.ID != "ch12" || e.Name != "Channel 12" || relay.EntityID(12) != "ch12" {
		t.Errorf("channel 12 is %q %q (EntityID(12) = %q), want ch12 \"Channel 12\"", e.ID, e.Name, relay.EntityID(12))
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		key  string   // the key the error is on
		want []string // what the error on key says
	}{
		{"no pins", `inverted = true`, "pins", []string{"is required", `pins = ["GPIO5", "GPIO6"]`}},
		{"empty pins", `pins = []`, "pins", []string{"is required"}},
		{"pin as number", `pins = ["GPIO5", 6]`, "pins", []string{"6 is a number", `write "GPIO6"`}},
		{"pin as numeric string", `pins = ["13"]`, "pins", []string{`"13" is a number`, `write "GPIO13"`}},
		{"pin as bool", `pins = [true]`, "pins", []string{`want the line's name as a string`}},
		{"pin with space", `pins = ["GPIO 5"]`, "pins", []string{"has spaces"}},
		{"empty pin", `pins = ["GPIO5", ""]`, "pins[1]", []string{`is empty`}},
		{"duplicate pin", `pins = ["GPIO5", "GPIO6", "GPIO5"]`, "pins[2]", []string{`"GPIO5" is both channel 1 and channel 3`}},
		{"pins as a string", `pins = "GPIO5"`, "pins", []string{"must be an array, not a string"}},
		{"interlock with one channel", "pins = [\"GPIO5\"]\ninterlock = true", "interlock", []string{"true needs at least two pins"}},
		{"inverted not bool", "pins = [\"GPIO5\"]\ninverted = \"yes\"", "inverted", []string{"must be a boolean"}},
		{"unknown key", "pins = [\"GPIO5\"]\npin = \"GPIO6\"", "pin", []string{`unknown key (did you mean "pins"?)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := relay.New(drivertest.Config(t, "blinds", tc.src))
			drivertest.CheckError(t, err, `example-relay "blinds": `)
			drivertest.CheckKeyError(t, err, tc.key, tc.want...)
		})
	}
}

// TestConfigErrorsAll checks that every bad value is reported at once, each
// at its own line: an element of pins at the line of pins.
func TestConfigErrorsAll(t *testing.T) {
	probs := drivertest.Problems(t, relay.New, "blinds", "interlock = true\npins = [\"\"]\n")
	drivertest.CheckProblems(t, probs,
		drivertest.WantProblem{Line: 1, Key: "interlock", Msg: "needs at least two pins"},
		drivertest.WantProblem{Line: 2, Key: "pins[0]", Msg: "is empty"},
	)
	probs = drivertest.Problems(t, relay.New, "blinds", "inverted = true\npins = [\"\", \"GPIO5\",\n  \"GPIO5\"]\n")
	drivertest.CheckProblems(t, probs,
		drivertest.WantProblem{Line: 2, Key: "pins[0]", Msg: "is empty"},
		drivertest.WantProblem{Line: 2, Key: "pins[2]", Msg: `"GPIO5" is both channel 2 and channel 3`},
	)
}

func TestNoDecode(t *testing.T) {
	_, err := relay.New(drivers.Config{ID: "blinds"})
	drivertest.CheckError(t, err, `example-relay "blinds": `)
}

// TestSampleConfig checks that the sample builds, and that every
// commented-out key shows its true default: uncommenting them all must
// change nothing a user would see.
func TestSampleConfig(t *testing.T) {
	plain := drivertest.SampleDevices[*relay.Board](t, relay.SampleConfig, relay.DriverName, relay.New)
	if len(plain) != 2 {
		t.Fatalf("sample has %d devices, want a plain board and an interlocked one", len(plain))
	}
	uncommented, n := drivertest.SampleDefaults(relay.SampleConfig)
	if n != 2 {
		t.Errorf("sample has %d commented-out keys, want 2 (inverted, interlock)", n)
	}
	all := drivertest.SampleDevices[*relay.Board](t, uncommented, relay.DriverName, relay.New)
	for i := range plain {
		if !reflect.DeepEqual(plain[i].Entities(), all[i].Entities()) || !slices.Equal(plain[i].Claims(), all[i].Claims()) {
			t.Errorf("device %d: uncommenting the defaults changed the entities or claims", i+1)
		}
		// The same commands must drive the same levels and report the
		// same states.
		var levels [2][]gpio.Level
		var reports [2][]string
		for j, b := range []*relay.Board{plain[i], all[i]} {
			h := drivertest.Host(t)
			w := drivertest.Open(t, b, h)
			set(t, w, "ch1", true)
			set(t, w, "ch2", true)
			reports[j] = strs(w.Reports())
			for _, r := range b.Claims() {
				levels[j] = append(levels[j], h.Line(r.Name).Level())
			}
		}
		if !slices.Equal(levels[0], levels[1]) || !slices.Equal(reports[0], reports[1]) {
			t.Errorf("device %d: with the defaults written out, levels %v and reports %q; without, %v and %q", i+1, levels[1], reports[1], levels[0], reports[0])
		}
	}
	drivertest.CheckSample(t, relay.SampleConfig)
}

// FuzzNew feeds arbitrary driver tables to the factory: it must never
// panic, every error must name the driver and device, and a board it
// accepts must be well-formed.
func FuzzNew(f *testing.F) {
	for _, s := range []string{
		`pins = ["GPIO5", "GPIO6", "GPIO13", "GPIO19"]`,
		"pins = [\"GPIO20\", \"GPIO21\"]\ninverted = true\ninterlock = true",
		`pins = [5, 6]`,
		`pins = ["GPIO5", "GPIO5"]`,
		"pins = [\"GPIO5\"]\ninterlock = true",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		d := drivertest.FuzzFactory(t, relay.New, "fz", `example-relay "fz": `, src)
		if d == nil {
			return
		}
		b := d.(*relay.Board)
		es, claims := b.Entities(), claimStrings(b.Claims())
		if len(es) == 0 || len(es) != len(claims) {
			t.Fatalf("%d entities, %d claims", len(es), len(claims))
		}
		seen := map[string]bool{}
		for i, c := range claims {
			pin, ok := strings.CutPrefix(c, "gpio:")
			if !ok || pin == "" || seen[pin] || strings.Trim(pin, "0123456789") == "" || strings.ContainsAny(pin, " \t\r\n") {
				t.Fatalf("claim %d is %q (claims %q)", i, c, claims)
			}
			seen[pin] = true
			if es[i].ID != relay.EntityID(i+1) || es[i].Spec != (drivers.Switch{Class: drivers.ClassSwitch}) {
				t.Fatalf("entity %d is %+v", i, es[i])
			}
		}
	})
}

// claimStrings returns the canonical forms of claims, which is what a
// user sees when two devices claim the same line.
func claimStrings(claims []drivers.Resource) []string {
	out := make([]string, len(claims))
	for i, c := range claims {
		out[i] = c.String()
	}
	return out
}
