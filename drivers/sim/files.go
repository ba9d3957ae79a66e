package sim

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// systemPath cleans name and checks that it is below /proc or /sys, the
// only files drivers may read. The error wraps fs.ErrPermission.
func systemPath(name string) (string, error) {
	if !strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("want an absolute path below /proc or /sys (%w)", fs.ErrPermission)
	}
	p := path.Clean(name)
	if p != "/proc" && p != "/sys" && !strings.HasPrefix(p, "/proc/") && !strings.HasPrefix(p, "/sys/") {
		return "", fmt.Errorf("drivers may read only files below /proc and /sys (%w)", fs.ErrPermission)
	}
	return p, nil
}

// ReadFile implements drivers.FileHost: it reads a file set with SetFile,
// or an attribute of a 1-Wire device on bus "w1" as
// /sys/bus/w1/devices/<id>/<attr>, or else, after UseMachineFiles, the
// machine's own file. The path is cleaned first; one outside /proc and
// /sys is refused (the error wraps fs.ErrPermission), as the real host
// refuses it. A file that is not there fails as on Linux, with an
// *fs.PathError wrapping syscall.ENOENT (fs.ErrNotExist), and a directory
// with syscall.EISDIR.
func (h *Host) ReadFile(name string) ([]byte, error) {
	p, err := systemPath(name)
	if err != nil {
		return nil, fmt.Errorf("sim: read %q: refused: %w", name, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if b, ok := h.files[p]; ok {
		return clone(b), nil
	}
	if b, ok := h.w1File(p); ok {
		return b, nil
	}
	if h.isDir(p) {
		return nil, &fs.PathError{Op: "read", Path: p, Err: syscall.EISDIR}
	}
	if h.machineFiles {
		return readMachineFile(p)
	}
	return nil, &fs.PathError{Op: "open", Path: p, Err: syscall.ENOENT}
}

// UseMachineFiles makes ReadFile read the files of /proc and /sys of the
// machine the simulation runs on when SetFile (or a 1-Wire device) has
// not put one there: the demo's system driver then shows the load, memory
// and uptime of that machine, as it would on a Pi. Tests leave it off, so
// that only the files they set exist.
func (h *Host) UseMachineFiles() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.machineFiles = true
}

// readMachineFile reads the machine's file at p, a clean path below /proc
// or /sys, refusing one whose symbolic links lead elsewhere
// (/proc/self/root/etc/shadow), as the real host does.
func readMachineFile(p string) ([]byte, error) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return nil, err
	}
	if _, err := systemPath(filepath.ToSlash(real)); err != nil {
		return nil, fmt.Errorf("sim: read %q: refused: it leads to %s: %w", p, real, err)
	}
	return os.ReadFile(real)
}

// SetFile gives the simulated machine a file below /proc or /sys with
// content, replacing the one there. The path is cleaned first. It panics
// on a path outside /proc and /sys, or one where the tree has a directory
// (or a file where a directory must be): those are mistakes in a test's
// setup.
func (h *Host) SetFile(name string, content []byte) {
	p, err := systemPath(name)
	if err != nil {
		panic(fmt.Sprintf("sim: SetFile(%q): %v", name, err))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.isDir(p) || p == "/proc" || p == "/sys" {
		panic(fmt.Sprintf("sim: SetFile(%q): %s is a directory", name, p))
	}
	for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
		if _, ok := h.files[dir]; ok {
			panic(fmt.Sprintf("sim: SetFile(%q): %s is a file, not a directory", name, dir))
		}
	}
	h.files[p] = clone(content)
}

// RemoveFile removes a file set with SetFile, as if the kernel took it
// away (a sensor unbound); removing a file that is not there does
// nothing.
func (h *Host) RemoveFile(name string) {
	p, err := systemPath(name)
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.files, p)
}

// isDir reports whether p is a directory of the simulated tree. Callers
// hold mu.
func (h *Host) isDir(p string) bool {
	prefix := p + "/"
	for f := range h.files {
		if strings.HasPrefix(f, prefix) {
			return true
		}
	}
	return h.w1Dir(p)
}

func clone(b []byte) []byte { return append([]byte{}, b...) }
