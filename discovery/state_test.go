package discovery

import (
	"maps"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pinion-home/pinion/drivers"
)

func TestStatePayload(t *testing.T) {
	relay := drivers.Entity{ID: "relay", Kind: drivers.KindSwitch}
	door := drivers.Entity{ID: "contact", Kind: drivers.KindBinarySensor, Class: drivers.ClassDoor}
	temp := drivers.Entity{ID: "temperature", Kind: drivers.KindSensor, Class: drivers.ClassTemperature, Unit: drivers.Celsius, State: drivers.StateMeasurement, Precision: 1}
	load := drivers.Entity{ID: "load", Kind: drivers.KindSensor, State: drivers.StateMeasurement, Precision: -1}
	host := drivers.Entity{ID: "host", Kind: drivers.KindSensor, Precision: -1}
	started := drivers.Entity{ID: "started", Kind: drivers.KindSensor, Class: drivers.ClassTimestamp, Precision: -1}
	day := drivers.Entity{ID: "day", Kind: drivers.KindSensor, Class: "date", Precision: -1}

	tests := []struct {
		name    string
		e       drivers.Entity
		v       drivers.Value
		want    string
		wantErr string
	}{
		{"switch on", relay, drivers.Bool(true), "ON", ""},
		{"switch off", relay, drivers.Bool(false), "OFF", ""},
		{"binary sensor on", door, drivers.Bool(true), "ON", ""},
		{"unknown", temp, drivers.Value{}, "None", ""},
		{"unknown switch", relay, drivers.Value{}, "None", ""},
		{"precision rounds", temp, drivers.Number(21.46, drivers.Celsius), "21.5", ""},
		{"precision pads", temp, drivers.Number(21, drivers.Celsius), "21.0", ""},
		{"no negative zero", temp, drivers.Number(-0.04, drivers.Celsius), "0.0", ""},
		{"negative", temp, drivers.Number(-3.25, drivers.Celsius), "-3.2", ""}, // round half to even
		{"value without unit", temp, drivers.Number(20, ""), "20.0", ""},
		{"shortest", load, drivers.Number(0.30000000000000004, ""), "0.30000000000000004", ""},
		{"shortest integer", load, drivers.Number(3, ""), "3", ""},
		{"large number not in exponent form", load, drivers.Number(1e21, ""), "1000000000000000000000", ""},
		{"text", host, drivers.Text("garage-pi"), "garage-pi", ""},
		{"number on a text sensor", host, drivers.Number(2.50, ""), "2.5", ""},
		{"timestamp", started, drivers.Text("2024-05-01T07:30:00+02:00"), "2024-05-01T07:30:00+02:00", ""},
		{"date", day, drivers.Text("2024-05-01"), "2024-05-01", ""},

		{"NaN", temp, drivers.Number(math.NaN(), drivers.Celsius), "", "NaN is not a number"},
		{"infinity", load, drivers.Number(math.Inf(-1), ""), "", "-Inf is not a number"},
		{"other unit", temp, drivers.Number(70, "°F"), "", `the value has unit "°F" but the entity is in "°C"`},
		{"unit on unitless sensor", load, drivers.Number(1, drivers.Percent), "", `has unit "%" but the entity has none`},
		{"number on switch", relay, drivers.Number(1, ""), "", "a switch takes on/off values, not a number"},
		{"text on binary sensor", door, drivers.Text("open"), "", "a binary_sensor takes on/off values, not text"},
		{"text on numeric sensor", temp, drivers.Text("warm"), "", "takes numbers, not text"},
		{"bool on sensor", host, drivers.Bool(true), "", "a sensor takes numbers or text, not an on/off"},
		{"timestamp without zone", started, drivers.Text("2024-05-01T07:30:00"), "", "RFC 3339"},
		{"number on timestamp", started, drivers.Number(1714541400, ""), "", "a timestamp sensor takes text"},
		{"bad date", day, drivers.Text("01.05.2024"), "", "YYYY-MM-DD"},
		{"text too long", host, drivers.Text(strings.Repeat("ä", 256)), "", "256 characters"},
		{"invalid UTF-8", host, drivers.Text("\xff"), "", "not valid UTF-8"},
		{"unknown kind", drivers.Entity{ID: "x"}, drivers.Bool(true), "", "entity kind 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := StatePayload(tt.e, tt.v)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("StatePayload = %q, want an error containing %q", got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), `entity "`+tt.e.ID+`"`) {
					t.Fatalf("error %q does not name the entity and contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("StatePayload: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("StatePayload = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzStatePayload checks that a numeric state always reads back as the
// number it came from (within the rounding of the precision), and that
// text is passed on unchanged or refused.
func FuzzStatePayload(f *testing.F) {
	f.Add(21.46, 1, "garage")
	f.Add(-0.0001, 3, "")
	f.Add(1e300, -1, "ä")
	f.Add(math.SmallestNonzeroFloat64, 2, "\xff")
	f.Fuzz(func(t *testing.T, num float64, prec int, text string) {
		prec = prec%12 - 1 // -12..10: both "shortest" and fixed decimals
		e := drivers.Entity{ID: "x", Kind: drivers.KindSensor, Unit: drivers.Volt, State: drivers.StateMeasurement, Precision: prec}
		got, err := StatePayload(e, drivers.Number(num, drivers.Volt))
		if math.IsNaN(num) || math.IsInf(num, 0) {
			if err == nil {
				t.Fatalf("StatePayload(%v) = %q, want an error", num, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("StatePayload(%v, precision %d): %v", num, prec, err)
		}
		back, err := strconv.ParseFloat(string(got), 64)
		if err != nil {
			t.Fatalf("StatePayload(%v) = %q, which does not parse as a number: %v", num, got, err)
		}
		if prec < 0 {
			if back != num {
				t.Fatalf("StatePayload(%v) = %q, which reads back as %v", num, got, back)
			}
		} else if diff := math.Abs(back - num); diff > 0.5*math.Pow10(-prec)*(1+1e-9)+math.Abs(num)*1e-15 {
			t.Fatalf("StatePayload(%v, precision %d) = %q, off by %v", num, prec, got, diff)
		}

		te := drivers.Entity{ID: "t", Kind: drivers.KindSensor, Precision: -1}
		gotText, err := StatePayload(te, drivers.Text(text))
		valid := utf8.ValidString(text) && utf8.RuneCountInString(text) <= 255
		if valid != (err == nil) {
			t.Fatalf("StatePayload(text %q) error %v, want error: %v", text, err, !valid)
		}
		if err == nil && string(gotText) != text {
			t.Fatalf("StatePayload(text %q) = %q", text, gotText)
		}
	})
}

// The agent's own entities get their states from AgentStates: text the
// discovery config announces, on topics that can be typed by hand, and none
// for connectivity, which reads the node status instead.
func TestAgentStates(t *testing.T) {
	n := Node{ID: "garage"}
	started := time.Date(2024, 5, 1, 9, 30, 0, 0, time.FixedZone("CEST", 2*3600))
	msgs, err := AgentStates(n, "1.2.3", started)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range msgs {
		got[m.Topic] = string(m.Payload)
	}
	want := map[string]string{
		"pinion/garage/agent/started": "2024-05-01T07:30:00Z",
		"pinion/garage/agent/version": "1.2.3",
	}
	if !maps.Equal(got, want) {
		t.Errorf("AgentStates = %q, want %q", got, want)
	}

	// A version Home Assistant cannot take as a state is refused, not sent.
	if _, err := AgentStates(n, strings.Repeat("v", 300), started); err == nil {
		t.Error("AgentStates accepted a 300-character version; Home Assistant caps states at 255")
	}
}
