package realhost

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pinion-home/pinion/drivers"
)

// w1Tree lays out the kernel's 1-Wire tree as a Raspberry Pi with
// dtoverlay=w1-gpio shows it: the devices are links into the bus master's
// directory, beside a link to the master itself.
func w1Tree(t *testing.T, root string) {
	t.Helper()
	master := "sys/devices/w1_bus_master1"
	tree(t, root, map[string]string{
		master + "/w1_master_slaves":            "28-0316a2796aff\n10-000802b4c8a1\n",
		master + "/28-0316a2796aff/w1_slave":    "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n",
		master + "/28-0316a2796aff/temperature": "23125\n",
		master + "/10-000802b4c8a1/temperature": "-1250\n",
	})
	symlink(t, root, "sys/bus/w1/devices/w1_bus_master1", "../../../devices/w1_bus_master1")
	symlink(t, root, "sys/bus/w1/devices/28-0316a2796aff", "../../../devices/w1_bus_master1/28-0316a2796aff")
	symlink(t, root, "sys/bus/w1/devices/10-000802b4c8a1", "../../../devices/w1_bus_master1/10-000802b4c8a1")
}

func TestOneWire(t *testing.T) {
	h, root := treeHost(t)
	w1Tree(t, root)
	bus, err := drivers.OneWire(h, "w1")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := bus.Devices()
	if want := []string{"10-000802b4c8a1", "28-0316a2796aff"}; err != nil || !slices.Equal(ids, want) {
		t.Fatalf("Devices() = %v, %v; want %v (sorted, without the bus master)", ids, err, want)
	}
	reads := []struct {
		device, attr string
		want         string
		wantErr      error
		errHas       string
	}{
		{device: "28-0316a2796aff", attr: "temperature", want: "23125\n"},
		{device: "10-000802b4c8a1", attr: "temperature", want: "-1250\n"},
		{device: "28-0316a2796aff", attr: "w1_slave", want: "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"},
		{device: "28-0316a2796aff", attr: "alarms", wantErr: fs.ErrNotExist, errHas: "/sys/bus/w1/devices/28-0316a2796aff/alarms"},
		{device: "28-ffffffffffff", attr: "temperature", wantErr: fs.ErrNotExist, errHas: "/sys/bus/w1/devices/28-ffffffffffff/temperature"},
		{device: "../../../../etc", attr: "shadow", errHas: "without slashes"},
		{device: "..", attr: "w1_master_slaves", errHas: "without slashes"},
		{device: "28-0316a2796aff", attr: "", errHas: `attribute ""`},
		{device: "", attr: "temperature", errHas: `such as "28-0316a2796aff"`},
	}
	for _, r := range reads {
		got, err := bus.Read(r.device, r.attr)
		if r.errHas == "" {
			if err != nil || string(got) != r.want {
				t.Errorf("Read(%q, %q) = %q, %v; want %q", r.device, r.attr, got, err, r.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), r.errHas) || (r.wantErr != nil && !errors.Is(err, r.wantErr)) {
			t.Errorf("Read(%q, %q): err = %v, want one containing %q", r.device, r.attr, err, r.errHas)
		}
		if err != nil && strings.Contains(err.Error(), root) {
			t.Errorf("error %q names the host's root", err)
		}
	}

	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Devices(); !errors.Is(err, ErrClosed) {
		t.Errorf("Devices after Close: err = %v, want ErrClosed", err)
	}
	if _, err := bus.Read("28-0316a2796aff", "temperature"); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: err = %v, want ErrClosed", err)
	}
	if _, err := h.OneWire("w1"); !errors.Is(err, ErrClosed) {
		t.Errorf("OneWire after Close: err = %v, want ErrClosed", err)
	}
}

func TestOneWireErrors(t *testing.T) {
	h, root := treeHost(t)
	tests := []struct {
		name, bus string
		want      []string
	}{
		{"no w1 support", "w1", []string{"/sys/bus/w1/devices", "dtoverlay=w1-gpio", "GPIO4"}},
		{"another bus", "w1_bus_master1", []string{`"w1_bus_master1"`, `"w1"`}},
		{"provided", "hub/0", []string{`"hub/0"`, `device "hub"`}},
	}
	for _, tt := range tests {
		_, err := h.OneWire(tt.bus)
		if err == nil {
			t.Errorf("%s: OneWire(%q) succeeded", tt.name, tt.bus)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tt.name, err, w)
			}
		}
	}
	// The bus with no device on it lists none.
	if err := os.MkdirAll(filepath.Join(root, "sys/bus/w1/devices"), 0o755); err != nil {
		t.Fatal(err)
	}
	bus, err := h.OneWire("w1")
	if err != nil {
		t.Fatal(err)
	}
	if ids, err := bus.Devices(); err != nil || len(ids) != 0 {
		t.Fatalf("Devices() of an empty bus = %v, %v", ids, err)
	}
}
