package realhost

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// maxSystemFile bounds what ReadFile reads: /proc and /sys hold small text
// files, and a few huge ones (/proc/kcore) that no driver should read.
const maxSystemFile = 4 << 20

// systemPath cleans name and checks that it is below /proc or /sys, the
// only files drivers may read. The error wraps fs.ErrPermission.
func systemPath(name string) (string, error) {
	if !strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("want an absolute path below /proc or /sys (%w)", fs.ErrPermission)
	}
	p := path.Clean(name)
	if !belowSystem(p) {
		return "", fmt.Errorf("drivers may read only files below /proc and /sys (%w)", fs.ErrPermission)
	}
	return p, nil
}

// belowSystem reports whether the clean absolute path p is /proc, /sys or
// below one of them.
func belowSystem(p string) bool {
	return p == "/proc" || p == "/sys" || strings.HasPrefix(p, "/proc/") || strings.HasPrefix(p, "/sys/")
}

// sys is the file that stands for the absolute path p on this host.
func (h *Host) sys(p string) string { return filepath.Join(h.root, filepath.FromSlash(p)) }

// ReadFile implements drivers.FileHost. The path is cleaned, and refused
// unless it is below /proc or /sys, both as written and once its symbolic
// links are followed: /proc/self/root/etc/shadow names a file below /proc
// but leads to /etc. Refusals wrap fs.ErrPermission. A file that is not
// there fails with an *fs.PathError naming the path as the driver wrote it
// (cleaned), wrapping fs.ErrNotExist. Files larger than 4 MiB are refused.
func (h *Host) ReadFile(name string) ([]byte, error) {
	p, err := systemPath(name)
	if err != nil {
		return nil, fmt.Errorf("read %q: refused: %w", name, err)
	}
	root, err := filepath.EvalSymlinks(h.root)
	if err != nil {
		return nil, fmt.Errorf("read %s: the host's root %s: %w", p, h.root, err)
	}
	real, err := filepath.EvalSymlinks(h.sys(p))
	if err != nil {
		return nil, renamePathError(err, "open", p)
	}
	rel, err := filepath.Rel(root, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || !belowSystem("/"+filepath.ToSlash(rel)) {
		return nil, fmt.Errorf("read %q: refused: it leads to %s, and drivers may read only files below /proc and /sys (%w)", name, real, fs.ErrPermission)
	}
	f, err := os.Open(real)
	if err != nil {
		return nil, renamePathError(err, "open", p)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSystemFile+1))
	if err != nil {
		return nil, renamePathError(err, "read", p)
	}
	if len(b) > maxSystemFile {
		return nil, fmt.Errorf("read %s: larger than %d MiB; drivers read small files of /proc and /sys", p, maxSystemFile>>20)
	}
	return b, nil
}

// renamePathError returns err as an *fs.PathError on p, the path the
// driver asked for, rather than the file under the host's root that the
// system call saw.
func renamePathError(err error, op, p string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: op, Path: p, Err: pe.Err}
	}
	return &fs.PathError{Op: op, Path: p, Err: err}
}

// writeSysfs writes an attribute of sysfs, which must exist.
func writeSysfs(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr != nil {
		return werr
	}
	return cerr
}

// readAttr reads a sysfs attribute below the host's root, trimmed of
// surrounding white space and NULs.
func (h *Host) readAttr(p string) (string, error) {
	b, err := os.ReadFile(h.sys(p))
	if err != nil {
		return "", renamePathError(err, "read", p)
	}
	return strings.Trim(string(b), " \t\n\x00"), nil
}
