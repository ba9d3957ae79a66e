package realhost

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// tree writes files (path → content) below root, making directories as
// needed.
func tree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// symlink makes link (below root) point at target, as written.
func symlink(t *testing.T, root, link, target string) {
	t.Helper()
	full := filepath.Join(root, filepath.FromSlash(link))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, full); err != nil {
		t.Fatal(err)
	}
}

// treeHost is a host whose / is a fresh directory.
func treeHost(t *testing.T) (*Host, string) {
	t.Helper()
	h := newHost(discard(), fakeRegistry{}, nil)
	h.root = t.TempDir()
	t.Cleanup(func() { h.Close() })
	return h, h.root
}

func TestReadFile(t *testing.T) {
	h, root := treeHost(t)
	tree(t, root, map[string]string{
		"proc/loadavg": "0.10 0.20 0.30 1/100 42\n",
		"sys/devices/virtual/thermal/thermal_zone0/temp": "48312\n",
		"sys/devices/virtual/thermal/thermal_zone0/type": "cpu-thermal\n",
		"etc/shadow": "secret\n",
	})
	symlink(t, root, "sys/class/thermal/thermal_zone0", "../../devices/virtual/thermal/thermal_zone0")
	symlink(t, root, "sys/escape", "../etc")                    // leaves /sys within the tree
	symlink(t, root, "proc/self/root", "/")                     // leaves the tree: the real /
	symlink(t, root, "proc/self/cwd", root+"/etc")              // absolute, into the tree's /etc
	symlink(t, root, "proc/dangling", "../sys/nothing-is-here") // a link to nothing
	big := bytes.Repeat([]byte("x"), maxSystemFile+1)
	tree(t, root, map[string]string{"sys/firmware/blob": string(big), "sys/firmware/fits": string(big[:maxSystemFile])})

	tests := []struct {
		name    string
		path    string
		want    string
		wantErr error
		errHas  string
	}{
		{name: "a file", path: "/proc/loadavg", want: "0.10 0.20 0.30 1/100 42\n"},
		{name: "through a link inside /sys", path: "/sys/class/thermal/thermal_zone0/temp", want: "48312\n"},
		{name: "cleaned", path: "/sys/class/../class/./thermal//thermal_zone0/type", want: "cpu-thermal\n"},
		{name: "missing", path: "/proc/uptime", wantErr: fs.ErrNotExist, errHas: "open /proc/uptime:"},
		{name: "dangling link", path: "/proc/dangling", wantErr: fs.ErrNotExist, errHas: "/proc/dangling"},
		{name: "a directory", path: "/sys/class/thermal", wantErr: syscall.EISDIR},
		{name: "outside", path: "/etc/shadow", wantErr: fs.ErrPermission, errHas: "below /proc and /sys"},
		{name: "out by dot-dot", path: "/proc/../etc/shadow", wantErr: fs.ErrPermission},
		{name: "a prefix only", path: "/system/x", wantErr: fs.ErrPermission},
		{name: "relative", path: "proc/loadavg", wantErr: fs.ErrPermission, errHas: "absolute"},
		{name: "out by a relative link", path: "/sys/escape/shadow", wantErr: fs.ErrPermission, errHas: "leads to"},
		{name: "out by a link to /", path: "/proc/self/root/etc/hostname", wantErr: fs.ErrPermission, errHas: "leads to"},
		{name: "out by an absolute link", path: "/proc/self/cwd/shadow", wantErr: fs.ErrPermission, errHas: "leads to"},
		{name: "too large", path: "/sys/firmware/blob", errHas: "larger than 4 MiB"},
		{name: "just fits", path: "/sys/firmware/fits", want: string(big[:maxSystemFile])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.ReadFile(tt.path)
			if tt.wantErr == nil && tt.errHas == "" {
				if err != nil || string(got) != tt.want {
					t.Fatalf("ReadFile(%q) = %.40q, %v; want %.40q", tt.path, got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ReadFile(%q) succeeded", tt.path)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("ReadFile(%q): err = %v, want %v", tt.path, err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("ReadFile(%q): error %q does not contain %q", tt.path, err, tt.errHas)
			}
			if tt.wantErr == fs.ErrNotExist && strings.Contains(err.Error(), root) {
				t.Errorf("error %q names the host's root; the driver asked for %s", err, tt.path)
			}
		})
	}
}

// TestReadFileOnThisMachine reads this machine's own /proc, as the real
// host does on a Pi.
func TestReadFileOnThisMachine(t *testing.T) {
	h := newHost(discard(), fakeRegistry{}, nil)
	defer h.Close()
	b, err := h.ReadFile("/proc/loadavg")
	if err != nil || len(bytes.Fields(b)) != 5 {
		t.Fatalf("/proc/loadavg = %q, %v; want five fields", b, err)
	}
	if _, err := h.ReadFile("/proc/self/status"); err != nil {
		t.Fatalf("/proc/self (a link to /proc/<pid>): %v", err)
	}
	if _, err := h.ReadFile("/proc/self/root/etc/hostname"); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("/proc/self/root/etc/hostname: err = %v, want it refused: the link leads out of /proc", err)
	}
}

// FuzzSystemPath checks the path rule with an oracle: a path is accepted
// exactly when it is absolute and, cleaned, is /proc, /sys or below them,
// and then it comes back cleaned.
func FuzzSystemPath(f *testing.F) {
	for _, s := range []string{"/proc/loadavg", "/proc/../etc/passwd", "/sys", "proc", "/sys/./a//b/", "/", "//proc/x", "/procx", "/proc\x00/x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got, err := systemPath(name)
		clean := path.Clean(name)
		ok := strings.HasPrefix(name, "/") && (clean == "/proc" || clean == "/sys" || strings.HasPrefix(clean, "/proc/") || strings.HasPrefix(clean, "/sys/"))
		switch {
		case ok && (err != nil || got != clean):
			t.Fatalf("systemPath(%q) = %q, %v; want %q", name, got, err, clean)
		case !ok && !errors.Is(err, fs.ErrPermission):
			t.Fatalf("systemPath(%q) = %q, %v; want it refused", name, got, err)
		}
	})
}
