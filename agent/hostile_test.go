package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/drivers/sim"
	"github.com/pinion-home/pinion/internal/brokertest"
	"github.com/pinion-home/pinion/internal/hatest"
	"github.com/pinion-home/pinion/internal/logbuf"
)

// hostileConfig has an entity of each commandable kind (a relay, a pulsed
// gate, a dimmable lamp, a fan's duty as a number) and some that take no
// commands (a door contact, a BME280's sensors), on simulated hardware.
const hostileConfig = `
[agent]
id = "hostile"
hardware = "sim"

[mqtt]
broker = "%s"

[[device]]
id = "pump"
driver = "gpio"
pin = "GPIO17"
mode = "output"

[[device]]
id = "gate"
driver = "gpio"
pin = "GPIO23"
mode = "output"
pulse = "500ms"

[[device]]
id = "lamp"
driver = "gpio"
pin = "GPIO18"
mode = "pwm"

[[device]]
id = "fan"
driver = "gpio"
pin = "GPIO13"
mode = "pwm"
show_as = "number"

[[device]]
id = "door"
driver = "gpio"
pin = "GPIO22"
mode = "input"

[[device]]
id = "climate"
driver = "bme280"
bus = "1"
address = 0x76
interval = "1h"
`

// hostilePayloads are command payloads that no entity of hostileConfig
// may obey (a plain number in 0–100 would set the fan, and ASCII white
// space around a word is allowed, so neither is here): garbage, near misses of every accepted form, Unicode
// look-alikes, JSON that is ambiguous or nested, numbers out of range or
// not numbers.
func hostilePayloads(light bool) []string {
	p := []string{
		"", " ", "\x00", "\xff\xfe", "\xc0\xaf", "\x1b[2J", "\r\n",
		"garbage", "ONN", "O N", "0N", "OF", "OFFF", "TOGGLEE", "PRES", "yes", "no", "enable", "-1", "00x", "1.0.0",
		"ＯＮ", "ＯＦＦ", "falſe", "trᴜe", "\u212aON", "ON\u200b", "\u00a0ON", "ON\u00a0", "\u2003OFF", "ON\u3000", "\ufeffON", "Ｏn",
		"\"ON\"", "'ON'", "[\"ON\"]", "{ON}", "{", "}", "{}", "null", "true\x00",
		`{"state":"ON","state":"OFF"}`, `{"state":"OFF","state":"ON"}`, `{"state":"ON","st\u0061te":"OFF"}`,
		`{"state":null}`, `{"state":{"state":"ON"}}`, `{"state":["ON"]}`, `{"state":"{\"state\":\"ON\"}"}`,
		`{"State":"ON"}`, `{"ſtate":"ON"}`, `{"state":"ＯＮ"}`, `{"state":1}`, `{"state":"ON"} {"state":"OFF"}`, `{"state":"ON"}x`,
		`{"state":"ON","brightness":NaN}`, `{"state":"ON","brightness":-Infinity}`,
		"NaN", "nan", "Inf", "-Inf", "+Inf", "1e999", "-1e999", "0x10", "1_0", "1e", ".", "-", "1e-999999x", "101", "-0.0001", "100.0000001",
		strings.Repeat("9", 400), strings.Repeat("[", 500) + strings.Repeat("]", 500), strings.Repeat(`{"a":`, 300) + "1" + strings.Repeat("}", 300),
		strings.Repeat("ON", 600), strings.Repeat("x", 100_000),
	}
	if light {
		p = append(p, brightnessPayloads...)
	}
	for i := 0; i < 32; i++ { // every control character but ASCII white space, which is trimmed
		if !strings.ContainsRune(" \t\n\v\f\r", rune(i)) {
			p = append(p, string(rune(i))+"ON", "ON"+string(rune(i)))
		}
	}
	p = append(p, "\x7fON", "ON\x85")
	return p
}

// brightnessPayloads are refused by a dimmable light, but a switch takes
// them (it ignores keys other than "state"), so they go to lights only.
var brightnessPayloads = []string{
	`{"state":"ON","brightness":0}`, `{"state":"ON","brightness":256}`, `{"state":"ON","brightness":1e999}`, `{"state":"ON","brightness":"128"}`,
	`{"state":"ON","brightness":12.5}`, `{"state":"OFF","brightness":128}`, `{"state":"ON","brightness":-1}`,
}

// The agent under a flood of invalid commands on every topic it listens
// to: it stays up, no output moves, it logs a bounded number of lines, and
// a valid command after the flood is obeyed.
func TestHostilePayloadsEmbedded(t *testing.T)  { hostile(t, brokertest.Embedded(t)) }
func TestHostilePayloadsMosquitto(t *testing.T) { hostile(t, brokertest.Mosquitto(t)) }

// hostileWait bounds every wait of these tests: generous, for a loaded
// machine.
const hostileWait = 30 * time.Second

func hostile(t *testing.T, url string) {
	t.Setenv("STATE_DIRECTORY", t.TempDir())
	path := filepath.Join(t.TempDir(), "pinion.toml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(hostileConfig, url)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	host := sim.NewHost(nil)
	t.Cleanup(func() { host.Close() })
	if err := PopulateSim(host, cfg); err != nil {
		t.Fatal(err)
	}
	// The logger main builds, at main's default level, on a clock that
	// stands still: every window stays open for the whole flood, so the
	// count of lines does not depend on the machine's speed.
	var logs logbuf.Buffer
	clock := clockwork.NewFakeClock()
	log := newLogger(&logs, cfg.Agent.Level(), clock)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("hostile-" + strconv.FormatInt(time.Now().UnixNano(), 36)).SetOrderMatters(true))
	if tok := c.Connect(); !tok.WaitTimeout(hostileWait) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	sent := 0
	send := func(topic, payload string, retained bool) {
		t.Helper()
		tok := c.Publish(topic, 1, retained, payload)
		if !tok.WaitTimeout(hostileWait) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
		sent++
	}
	// Retained valid commands, waiting on the broker when the agent
	// subscribes: it must not obey them. (A retained message published
	// while the agent is subscribed reaches it as a live one, which
	// MQTT cannot tell apart; that is an ordinary command.)
	retainedOn := map[string][]string{
		"pinion/hostile/pump/relay/set": {"ON", "1", `{"state":"ON"}`},
		"pinion/hostile/gate/relay/set": {"ON"},
		"pinion/hostile/lamp/light/set": {`{"state":"ON","brightness":255}`},
		"pinion/hostile/fan/duty/set":   {"100"},
	}
	for topic, ps := range retainedOn {
		for _, p := range ps {
			send(topic, p, true)
		}
	}
	// A fence: a broker may acknowledge a QoS 1 publish before it hands
	// the message to subscribers (mochi does), and an agent subscribing
	// in between would get the last one live. The broker handles one
	// client's packets in order, so once the fence is acknowledged every
	// retained command has been handed out.
	send("pinion-test/hostile/fence", "", false)
	t.Cleanup(func() {
		for topic := range retainedOn {
			c.Publish(topic, 1, true, "").WaitTimeout(hostileWait)
		}
	})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, cfg, host, log) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent: %v", err)
			}
		case <-time.After(hostileWait):
			t.Error("the agent did not stop")
		}
	})

	ha := hatest.New(t, url)
	relay := "pinion:hostile:pump:relay"
	if err := ha.WaitAvailable(relay, true, hostileWait); err != nil {
		t.Fatalf("%v\nagent log:\n%s", err, logs.String())
	}
	outputs := []string{"GPIO17", "GPIO23", "GPIO18", "GPIO13"}
	history := func() string {
		var b strings.Builder
		for _, l := range outputs {
			fmt.Fprintf(&b, "%s %v\n", l, host.Line(l).History())
		}
		return b.String()
	}
	// The retained commands were replayed at the subscription and
	// refused: no output has been high since the start.
	for topic := range retainedOn {
		hostileWaitFor(t, "the retained command on "+topic+" refused", func() bool {
			return strings.Contains(logs.String(), "retained command ignored") && strings.Contains(logs.String(), topic)
		})
	}
	for _, l := range outputs {
		for _, c := range host.Line(l).History() {
			if c.Level == gpio.High {
				t.Fatalf("%s went high at the start: %v (a retained command obeyed?)", l, host.Line(l).History())
			}
		}
	}
	before := history()
	pumpChanges := len(host.Line("GPIO17").History())
	linesBefore := strings.Count(logs.String(), "\n")

	// Every set topic the agent listens to, and ones it does not know.
	var topics []string
	for _, d := range cfg.Devices {
		for _, e := range d.Entities {
			topics = append(topics, "pinion/hostile/"+d.ID+"/"+e.ID+"/set")
		}
	}
	topics = append(topics,
		"pinion/hostile/nosuch/relay/set", "pinion/hostile/pump/nosuch/set", "pinion/hostile/PUMP/relay/set",
		"pinion/hostile/pump/relay/SET", "pinion/hostile/ｐump/relay/set", "pinion/hostile/pump/relay/set/set",
		"pinion/hostile/pump/set", "pinion/hostile//relay/set", "pinion/hostile/"+strings.Repeat("x", 5000)+"/relay/set")

	for round := 0; round < 3; round++ {
		for _, topic := range topics {
			for _, p := range hostilePayloads(strings.Contains(topic, "/lamp/")) {
				send(topic, p, false)
			}
		}
	}
	t.Logf("%d hostile commands on %d topics (%d payloads)", sent, len(topics), len(hostilePayloads(true)))

	// A valid command after them all is obeyed: the session handles
	// messages in order, so every hostile one has been handled by then.
	if err := ha.Command(relay, "ON"); err != nil {
		t.Fatal(err)
	}
	if err := ha.WaitState(relay, "ON", hostileWait); err != nil {
		t.Fatalf("the valid command after the flood: %v\nagent log:\n%s", err, hostileTail(logs.String(), 40))
	}
	// Nothing moved but the pump, once, to high.
	after := history()
	if got, want := hostileDropLine(after, "GPIO17"), hostileDropLine(before, "GPIO17"); got != want {
		t.Fatalf("outputs moved under hostile commands:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if h := host.Line("GPIO17").History(); len(h) != pumpChanges+1 || h[len(h)-1].Level != gpio.High {
		t.Fatalf("GPIO17 went through %v after the flood and one ON, want one change to High:\nbefore:\n%s", h[pumpChanges:], before)
	}

	// Bounded logs: at most the burst per kind of line, whatever the
	// number of commands.
	flood := strings.Split(strings.TrimSpace(logs.String()), "\n")[linesBefore:]
	kinds := map[string]int{}
	msgRe := regexp.MustCompile(`level=(\w+) msg=("(?:[^"\\]|\\.)*"|\S+)`)
	for _, line := range flood {
		m := msgRe.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("unparsable log line %q", line)
		}
		kinds[m[1]+" "+m[2]]++
	}
	for k, n := range kinds {
		if n > 10 && !strings.HasPrefix(k, "DEBUG") {
			t.Errorf("%d lines of kind %s during the flood, want at most 10", n, k)
		}
	}
	bytes := 0
	for _, l := range flood {
		bytes += len(l) + 1
	}
	t.Logf("%d lines (%d bytes) logged for %d hostile commands, %d kinds: %v", len(flood), bytes, sent, len(kinds), kinds)
	if len(flood) > 10*len(kinds) || len(flood) > 200 {
		t.Errorf("%d lines logged for %d hostile commands: %v", len(flood), sent, kinds)
	}
	// No line carries the huge payloads or topics whole.
	for _, l := range flood {
		if len(l) > 4096 {
			t.Errorf("a log line of %d bytes: %.200q…", len(l), l)
		}
	}

	// When the minute ends, each limited kind says how many it held back.
	clock.Advance(time.Minute)
	hostileWaitFor(t, "a summary after the window ended", func() bool {
		return strings.Contains(logs.String(), `msg="invalid command; ignored … and `) && strings.Contains(logs.String(), "more in the last minute")
	})
}

// hostileWaitFor polls cond until it holds, failing the test after hostileWait.
func hostileWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hostileWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hostileDropLine removes a line's entry from a history() text.
func hostileDropLine(history, line string) string {
	var out []string
	for _, l := range strings.Split(history, "\n") {
		if !strings.HasPrefix(l, line+" ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// hostileTail is the last n lines of s.
func hostileTail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
