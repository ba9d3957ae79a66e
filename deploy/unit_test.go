package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// unit is a parsed systemd unit file: section → key → values in order
// (a key may be given more than once, as DeviceAllow is).
type unit map[string]map[string][]string

// parseUnit reads the subset of systemd's syntax that a unit uses:
// comments, [sections], key=value.
func parseUnit(t *testing.T, text string) unit {
	t.Helper()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.HasSuffix(line, `\`) {
				t.Fatalf("pinion.service:%d: %q is not key=value in a section", n, line)
			}
			k = strings.TrimSpace(k)
			u[section][k] = append(u[section][k], strings.TrimSpace(v))
		}
	}
	return u
}

// The unit says what the docs say it says: each of these lines is quoted
// in the README's systemd section and docs/reliability.md.
func TestUnitKeys(t *testing.T) {
	text, err := os.ReadFile("pinion.service")
	if err != nil {
		t.Fatal(err)
	}
	u := parseUnit(t, string(text))
	want := []struct {
		section, key string
		values       []string
	}{
		{"Service", "Type", []string{"notify"}},
		{"Service", "ExecStart", []string{"/usr/local/bin/pinion -config /etc/pinion/pinion.toml"}},
		{"Service", "WatchdogSec", []string{"30s"}},
		{"Service", "Restart", []string{"on-failure"}},
		{"Service", "User", []string{"pinion"}},
		{"Service", "SupplementaryGroups", []string{"gpio i2c dialout"}},
		{"Service", "StateDirectory", []string{"pinion"}},
		{"Service", "NoNewPrivileges", []string{"yes"}},
		{"Service", "ProtectSystem", []string{"strict"}},
		{"Service", "ProtectHome", []string{"yes"}},
		{"Service", "PrivateTmp", []string{"yes"}},
		{"Service", "CapabilityBoundingSet", []string{""}},
		{"Service", "DevicePolicy", []string{"closed"}},
		{"Service", "DeviceAllow", []string{"char-gpiochip rw", "char-i2c rw", "char-ttyS rw", "char-ttyAMA rw", "char-ttyUSB rw", "char-ttyACM rw"}},
		{"Install", "WantedBy", []string{"multi-user.target"}},
	}
	for _, w := range want {
		if got := u[w.section][w.key]; !slices.Equal(got, w.values) {
			t.Errorf("[%s] %s = %q, want %q", w.section, w.key, got, w.values)
		}
	}
	// Nothing that would undo the hardening or hide the hardware.
	for _, k := range []string{"PrivateDevices", "ProtectKernelTunables", "DynamicUser", "AmbientCapabilities"} {
		if v, ok := u["Service"][k]; ok && !(k == "AmbientCapabilities" && slices.Equal(v, []string{""})) {
			t.Errorf("[Service] %s = %q: PrivateDevices hides /dev/gpiochip*, ProtectKernelTunables makes /sys/class/pwm read-only, DynamicUser loses the groups", k, v)
		}
	}
	// The state directory that StateDirectory= makes is the one the
	// agent's state_dir defaults to.
	if !strings.Contains(string(text), "/var/lib/pinion") {
		t.Error("the unit's comments no longer name /var/lib/pinion")
	}
}

// The user the unit runs as is the one pinion.sysusers creates, in the
// unit's groups.
func TestSysusers(t *testing.T) {
	text, err := os.ReadFile("pinion.sysusers")
	if err != nil {
		t.Fatal(err)
	}
	var groups []string
	user := ""
	for _, line := range strings.Split(string(text), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "u":
			user = f[1]
		case "m":
			groups = append(groups, f[2])
		}
	}
	if user != "pinion" || !slices.Equal(groups, []string{"gpio", "i2c", "dialout"}) {
		t.Fatalf("user %q in %q, want pinion in gpio, i2c, dialout", user, groups)
	}
}

// systemd-analyze verify parses the unit as systemd would: unknown keys,
// values it cannot parse and a missing executable are reported. Its exit
// status is 0 for most of these, so any output fails the test.
func TestSystemdAnalyzeVerify(t *testing.T) {
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		// CI installs systemd and sets this, so the check never goes
		// missing there unnoticed.
		if os.Getenv("PINION_REQUIRE_SYSTEMD") == "1" {
			t.Fatal("systemd-analyze is not installed (apt-get install -y systemd) and PINION_REQUIRE_SYSTEMD=1")
		}
		t.Skip("systemd-analyze is not installed: the unit is checked only against the docs (TestUnitKeys); set PINION_REQUIRE_SYSTEMD=1 to make this a failure")
	}
	text, err := os.ReadFile("pinion.service")
	if err != nil {
		t.Fatal(err)
	}
	verify := func(t *testing.T, text string) (string, error) {
		t.Helper()
		// ExecStart must name an executable that exists here: this test's
		// own binary stands in for /usr/local/bin/pinion.
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		text = strings.ReplaceAll(text, "/usr/local/bin/pinion", self)
		path := filepath.Join(t.TempDir(), "pinion.service")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		cmd := exec.Command(bin, "verify", "--man=no", path)
		cmd.Stdout, cmd.Stderr = &out, &out
		err = cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("systemd-analyze: %v", err)
		}
		return strings.TrimSpace(out.String()), err
	}
	if out, err := verify(t, string(text)); err != nil || out != "" {
		t.Fatalf("systemd-analyze verify pinion.service: %v\n%s", err, out)
	}
	// The check can fail: a misspelt key and a bad value are reported.
	bad := strings.Replace(string(text), "DevicePolicy=closed", "DevicePolicy=closd\nNoNewPrivilege=yes", 1)
	if out, _ := verify(t, bad); !strings.Contains(out, "closd") || !strings.Contains(out, "NoNewPrivilege") {
		t.Fatalf("systemd-analyze verify did not report a misspelt key and a bad value: %q", out)
	}
}
