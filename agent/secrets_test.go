package agent_test

// Secrets are never printed: every error path of the configuration and
// every output of a running agent is fed a known password, and searched
// for it, for any five characters of it in a row, and for its bytes
// written as numbers (a packet struct dumped with %v).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pinion-home/pinion/agent"
	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/internal/brokertest"
	"github.com/pinion-home/pinion/internal/logbuf"
)

// secret is the password the tests hide.
const secret = "S3cr3t-Pa55"

// pahoDebugEnv makes the agent run by the test binary (runAgentEnv) send
// every paho log line, DEBUG included, raw to stderr, so that what paho
// itself prints is searched too; the agent never routes paho's DEBUG.
const pahoDebugEnv = "PINION_TEST_PAHO_DEBUG"

func init() {
	if os.Getenv(pahoDebugEnv) == "1" {
		l := log.New(os.Stderr, "paho-raw ", 0)
		mqtt.DEBUG, mqtt.ERROR, mqtt.WARN, mqtt.CRITICAL = l, l, l, l
	}
	// A driver with a secret key of its own, whose factory misbehaves
	// as told: its errors and panics quote the token.
	drivers.Register(drivers.Driver{Name: "secrettest_leaky", New: func(c drivers.Config) (drivers.Device, error) {
		var cfg struct {
			Token string `toml:"token"`
			Fail  string `toml:"fail"`
		}
		if err := c.Decode(&cfg); err != nil {
			return nil, err
		}
		switch cfg.Fail {
		case "panic":
			panic("bad token " + cfg.Token)
		case "key":
			return nil, &drivers.KeyError{Key: "token", Err: fmt.Errorf("%q is not a token", cfg.Token)}
		case "error":
			return nil, fmt.Errorf("token %s refused", cfg.Token)
		}
		return badUnit{}, nil
	}})
	// A device whose Open panics, for the running agent.
	drivers.Register(drivers.Driver{Name: "secrettest_panic", New: func(c drivers.Config) (drivers.Device, error) {
		return panicky{}, c.Decode(&struct{}{})
	}})
}

// panicky is a device whose Open panics.
type panicky struct{ badUnit }

func (panicky) Entities() []drivers.Entity {
	return []drivers.Entity{{ID: "relay", Spec: drivers.Switch{}}}
}

func (panicky) Open(context.Context, drivers.Host, drivers.Output) error {
	panic("the driver broke")
}

// leaks returns what of secret s the text gives away: s itself, any five
// characters of it in a row, or its bytes as a %v of a []byte prints
// them; "" when nothing.
func leaks(text, s string) string {
	var nums []string
	for _, b := range []byte(s) {
		nums = append(nums, fmt.Sprint(b))
	}
	if n := strings.Join(nums, " "); strings.Contains(text, n) {
		return n
	}
	for i := 0; i+5 <= len(s); i++ {
		if strings.Contains(text, s[i:i+5]) {
			return s[i : i+5]
		}
	}
	return ""
}

func assertNoLeak(t *testing.T, what, text, s string) {
	t.Helper()
	if part := leaks(text, s); part != "" {
		t.Errorf("%s gives away %q of the secret:\n%s", what, part, text)
	}
}

// secretConfig is a node with one relay; the first %s goes at the top of
// the document, the second is the [mqtt] table's lines, the third is put
// in the device's table.
const secretConfig = `%s
[agent]
id = "sec"
hardware = "sim"

[mqtt]
%s

[[device]]
id = "pump"
driver = "gpio"
pin = "GPIO17"
mode = "output"
%s
`

// Every way a configuration can be wrong around a password, through the
// command line as a user runs it: -check, -print-discovery and a plain
// start. Each is searched for the password.
func TestSecretsNotInConfigErrors(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// TLS files that hold the secret where a certificate or key should be.
	plainKey := filepath.Join(dir, "plain.key")
	pemKey := filepath.Join(dir, "pem.key")
	for f, body := range map[string]string{
		plainKey: secret + "\n",
		pemKey:   "-----BEGIN PRIVATE KEY-----\n" + secret + "\n-----END PRIVATE KEY-----\n",
	} {
		if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tlsKeys := func(ca, cert, key string) string {
		return fmt.Sprintf("broker = \"ssl://127.0.0.1:8883\"\nca_file = %q\ncert_file = %q\nkey_file = %q", ca, cert, key)
	}
	for _, tc := range []struct {
		name           string
		top, mqtt, dev string
		args           []string
		secret         string // secret when empty
		valid          bool   // the config loads
		want           string // in the output, when set
	}{
		{name: "credentials in the broker URL", mqtt: `broker = "tcp://pinion:S3cr3t-Pa55@127.0.0.1:1883"`, want: `"tcp://pinion:xxxxx@127.0.0.1:1883" has credentials in it`},
		{name: "credentials in a broker URL without a scheme", mqtt: `broker = "pinion:S3cr3t-Pa55@127.0.0.1:1883"`},
		{name: "credentials in an unparsable broker URL", mqtt: `broker = "tcp://pinion:S3cr3t-Pa55 x@127.0.0.1:1883"`},
		{name: "credentials with a slash", mqtt: `broker = "tcp://pinion:S3cr3t-Pa55/@h:1883"`},
		{name: "credentials with an at sign", mqtt: `broker = "tcp://pinion:S3c@r3t-Pa55@h:1883"`, secret: "S3c@r3t-Pa55"},
		{name: "credentials and no port", mqtt: `broker = "ssl://pinion:S3cr3t-Pa55@h"`},
		{name: "credentials and a broken host", mqtt: `broker = "tcp://pinion:S3cr3t-Pa55@[::1:1883"`},
		{name: "a token as the URL's user", mqtt: `broker = "tcp://S3cr3t-Pa55@h:1883"`},
		{name: "credentials and listen", mqtt: "broker = \"tcp://pinion:S3cr3t-Pa55@h:1883\"\nlisten = \"127.0.0.1:1884\""},
		{name: "credentials and a TLS key", mqtt: "broker = \"tcp://pinion:S3cr3t-Pa55@h:1883\"\nca_file = \"ca.pem\""},
		{name: "credentials through -broker", args: []string{"-broker", "tcp://pinion:S3cr3t-Pa55@h:1883"}, valid: true},
		{name: "a bare password", mqtt: "username = \"u\"\npassword = S3cr3t-Pa55", want: `text needs quotes: password = "…"`},
		{name: "a bare password and a comment", mqtt: "username = \"u\"\npassword = S3cr3t-Pa55 # mine"},
		{name: "an unterminated password", mqtt: "username = \"u\"\npassword = \"S3cr3t-Pa55"},
		{name: "an unterminated multi-line password", mqtt: "username = \"u\"\npassword = \"\"\"S3cr3t-Pa55"},
		{name: "text after the password", mqtt: "username = \"u\"\npassword = 'S3cr3t-Pa55' x"},
		{name: "a password toml reads as a date", mqtt: "username = \"u\"\npassword = 1979-05-27T07:32S3cr3t", secret: "1979-05-27T07:32S3cr3t"},
		{name: "a password too large a number", mqtt: "username = \"u\"\npassword = 123456789012345678901234", secret: "123456789012345678901234"},
		{name: "a password that is an integer", mqtt: "username = \"u\"\npassword = 123456789", secret: "123456789", want: "mqtt.password: must be a string, not an integer"},
		{name: "a password that is a float", mqtt: "username = \"u\"\npassword = 1234.56789", secret: "1234.56789"},
		{name: "a password in an array", mqtt: "username = \"u\"\npassword = [\"S3cr3t-Pa55\"]"},
		{name: "a password in a table", mqtt: "username = \"u\"\npassword = { v = \"S3cr3t-Pa55\" }"},
		{name: "a password defined twice", mqtt: "username = \"u\"\npassword = \"S3cr3t-Pa55\"\npassword = \"S3cr3t-Pa55\""},
		{name: "a misspelt password key", mqtt: "username = \"u\"\npasword = \"S3cr3t-Pa55\"", want: `did you mean "password"?`},
		{name: "a password at the top level", top: `password = "S3cr3t-Pa55"`},
		{name: "a password in a device", dev: `password = "S3cr3t-Pa55"`},
		{name: "a password without a username", mqtt: `password = "S3cr3t-Pa55"`},
		{name: "a password and a password file", mqtt: fmt.Sprintf("username = \"u\"\npassword = \"S3cr3t-Pa55\"\npassword_file = %q", pwFile)},
		{name: "a password file and other problems", mqtt: fmt.Sprintf("password_file = %q\nkeepalive = \"1s\"", pwFile)},
		{name: "a password file that is a directory", mqtt: fmt.Sprintf("username = \"u\"\npassword_file = %q", dir)},
		{name: "a driver's token of the wrong type", dev: "[[device]]\nid = \"leaky\"\ndriver = \"secrettest_leaky\"\ntoken = 123456789", secret: "123456789"},
		{name: "a driver's panic quoting its token", dev: "[[device]]\nid = \"leaky\"\ndriver = \"secrettest_leaky\"\ntoken = \"S3cr3t-Pa55\"\nfail = \"panic\"", want: "panicked"},
		{name: "a driver's key error quoting its token", dev: "[[device]]\nid = \"leaky\"\ndriver = \"secrettest_leaky\"\ntoken = \"S3cr3t-Pa55\"\nfail = \"key\""},
		{name: "a driver's error quoting its token", dev: "[[device]]\nid = \"leaky\"\ndriver = \"secrettest_leaky\"\ntoken = \"S3cr3t-Pa55\"\nfail = \"error\""},
		{name: "TLS files that are not PEM", mqtt: tlsKeys(plainKey, plainKey, plainKey), want: "mqtt.key_file: "},
		{name: "TLS files whose PEM is not base64", mqtt: tlsKeys(pemKey, pemKey, pemKey), want: "mqtt.key_file: "},
		{name: "a TLS key that is not PEM", mqtt: tlsKeys(pemKey, pemKey, plainKey)},
		{name: "a valid password", mqtt: "username = \"u\"\npassword = \"S3cr3t-Pa55\"", valid: true},
		{name: "a valid password file", mqtt: fmt.Sprintf("username = \"u\"\npassword_file = %q", pwFile), valid: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.secret
			if s == "" {
				s = secret
			}
			path := filepath.Join(t.TempDir(), "pinion.toml")
			if err := os.WriteFile(path, []byte(fmt.Sprintf(secretConfig, tc.top, tc.mqtt, tc.dev)), 0o600); err != nil {
				t.Fatal(err)
			}
			modes := [][]string{{"-check"}, {"-print-discovery"}}
			if !tc.valid {
				modes = append(modes, nil) // a plain start, which stops at the config
			}
			var all strings.Builder
			for _, mode := range modes {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				args := append(append([]string{"-config", path}, tc.args...), mode...)
				code, out, errOut := cli(ctx, args...)
				cancel()
				if wantCode := map[bool]int{true: 0, false: 1}[tc.valid && tc.args == nil]; code != wantCode && !(tc.args != nil && code == 2) {
					t.Errorf("%v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, wantCode, out, errOut)
				}
				assertNoLeak(t, fmt.Sprint(args), out+errOut, s)
				all.WriteString(out + errOut)
			}
			if tc.want != "" && !strings.Contains(all.String(), tc.want) {
				t.Errorf("the output lacks %q:\n%s", tc.want, all.String())
			}
		})
	}
}

// A loaded config printed with any verb, logged by slog's handlers or
// marshalled shows the password masked.
func TestSecretsNotInPrintedConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pinion.toml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(secretConfig, "", "username = \"u\"\npassword = \""+secret+"\"", "")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := agent.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MQTT.Password != secret {
		t.Fatalf("password %q not loaded", cfg.MQTT.Password)
	}
	var buf bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		fmt.Fprintf(&buf, verb+"\n", cfg)
		fmt.Fprintf(&buf, verb+"\n", cfg.MQTT)
		fmt.Fprintf(&buf, verb+"\n", *cfg)
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	buf.Write(js)
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		slog.New(h).Info("config", "cfg", cfg, "mqtt", cfg.MQTT, "plain", *cfg)
	}
	assertNoLeak(t, "the printed config", buf.String(), secret)
	if !strings.Contains(buf.String(), "Password:xxxxx") || !strings.Contains(buf.String(), `"Password":"xxxxx"`) {
		t.Errorf("the password is not shown masked:\n%s", buf.String())
	}
}

// runSecretAgent runs the agent as its own process (the test binary
// running agent.Main) at debug level with paho's every line on stderr too,
// until it has written each of until (paho's "received connack" is the
// broker's answer to the login); then it stops it with
// SIGTERM and returns everything it wrote.
func runSecretAgent(t *testing.T, config string, until ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pinion.toml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	var out logbuf.Buffer
	cmd := exec.Command(os.Args[0], "-config", path, "-log-level", "debug")
	cmd.Env = append(os.Environ(), runAgentEnv+"=1", pahoDebugEnv+"=1")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for _, want := range until {
		for !strings.Contains(out.String(), want) {
			select {
			case err := <-exited:
				t.Fatalf("the agent exited (%v) before logging %q:\n%s", err, want, out.String())
			default:
			}
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				<-exited
				t.Fatalf("the agent did not log %q within 30s:\n%s", want, out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		t.Errorf("the agent did not stop within 30s of SIGTERM")
	}
	return out.String()
}

// secretNode is a node with a relay and a device whose driver panics when
// opened; the %s are the [mqtt] table's lines.
const secretNode = `
[agent]
id = "sec"
hardware = "sim"

[mqtt]
%s

[[device]]
id = "pump"
driver = "gpio"
pin = "GPIO17"
mode = "output"

[[device]]
id = "broken"
driver = "secrettest_panic"
`

// A running agent at debug level, with paho's own lines (DEBUG included)
// and a driver's panic with its stack, never prints the password: logged
// in to the embedded broker (which takes any password), and refused by a
// Mosquitto that checks passwords.
func TestSecretsNotInRunningAgent(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("embedded", func(t *testing.T) {
		url := brokertest.Embedded(t)
		mq := fmt.Sprintf("broker = %q\nusername = \"pinion\"\npassword = %q", url, secret)
		out := runSecretAgent(t, fmt.Sprintf(secretNode, mq), "received connack", "driver panicked")
		assertNoLeak(t, "the agent's output", out, secret)
	})
	t.Run("embedded, password file", func(t *testing.T) {
		url := brokertest.Embedded(t)
		mq := fmt.Sprintf("broker = %q\nusername = \"pinion\"\npassword_file = %q", url, pwFile)
		out := runSecretAgent(t, fmt.Sprintf(secretNode, mq), "received connack", "driver panicked")
		assertNoLeak(t, "the agent's output", out, secret)
	})
	t.Run("mosquitto, wrong password", func(t *testing.T) {
		url := mosquittoWithPassword(t, "pinion", "the-right-one")
		mq := fmt.Sprintf("broker = %q\nusername = \"pinion\"\npassword_file = %q", url, pwFile)
		// Mosquitto 2.0.11 ends the connection without a CONNACK.
		out := runSecretAgent(t, fmt.Sprintf(secretNode, mq), "connect started", "cannot connect to the broker", "driver panicked")
		assertNoLeak(t, "the agent's output", out, secret)
		if !strings.Contains(out, "check [mqtt] username and password") {
			t.Errorf("the refused login's log has no hint naming [mqtt] username and password:\n%s", out)
		}
	})
}

// mosquittoWithPassword starts a Mosquitto that lets in only user with
// password, and returns its URL. Like brokertest.Mosquitto, a missing
// binary skips the test unless brokertest.RequireMosquittoEnv is set.
func mosquittoWithPassword(t *testing.T, user, password string) string {
	t.Helper()
	passwd, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		if os.Getenv(brokertest.RequireMosquittoEnv) == "1" {
			t.Fatalf("mosquitto_passwd is not installed but %s=1", brokertest.RequireMosquittoEnv)
		}
		t.Skip("mosquitto_passwd not installed")
	}
	pw := filepath.Join(t.TempDir(), "passwd")
	if out, err := exec.Command(passwd, "-b", "-c", pw, user, password).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	// The later allow_anonymous overrides brokertest's.
	return "tcp://" + brokertest.MosquittoConf(t, fmt.Sprintf("allow_anonymous false\npassword_file %s\n", pw))
}
