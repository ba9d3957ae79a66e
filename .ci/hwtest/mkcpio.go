//go:build ignore

// Command mkcpio writes the initramfs for .ci/hwtest/run: a newc cpio
// archive holding one static program as /init, the mount points it needs
// and /dev/console, so the kernel gives init a console before devtmpfs is
// mounted. It replaces cpio(1) and busybox, which CI machines may lack.
//
// Usage: go run .ci/hwtest/mkcpio.go OUT.cpio INIT-PROGRAM
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
)

// Mode bits of the newc format (the st_mode of stat(2)).
const (
	modeDir  = 0o040000
	modeChr  = 0o020000
	modeFile = 0o100000
)

// entry is one file of the archive.
type entry struct {
	name                 string
	mode                 uint32
	rdevMajor, rdevMinor uint32 // of a device node
	data                 []byte
	nlink                uint32
	inode                uint32
	isTrailer            bool
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go run .ci/hwtest/mkcpio.go OUT.cpio INIT-PROGRAM")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "mkcpio:", err)
		os.Exit(1)
	}
}

func run(out, initPath string) error {
	init, err := os.ReadFile(initPath)
	if err != nil {
		return err
	}
	entries := []entry{
		{name: "dev", mode: modeDir | 0o755, nlink: 2},
		{name: "dev/console", mode: modeChr | 0o600, rdevMajor: 5, rdevMinor: 1, nlink: 1},
		{name: "proc", mode: modeDir | 0o755, nlink: 2},
		{name: "sys", mode: modeDir | 0o755, nlink: 2},
		{name: "tmp", mode: modeDir | 0o1777, nlink: 2},
		{name: "init", mode: modeFile | 0o755, nlink: 1, data: init},
		{name: "TRAILER!!!", nlink: 1, isTrailer: true},
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for i, e := range entries {
		if !e.isTrailer {
			e.inode = uint32(i + 1)
		}
		if err := write(w, e); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// write writes one newc entry: a 110-byte header of hex fields, the name
// with its NUL, padding to 4 bytes, the data, padding to 4 bytes.
func write(w io.Writer, e entry) error {
	name := e.name + "\x00"
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		e.inode, e.mode, 0, 0, e.nlink, 0, len(e.data), 0, 0, e.rdevMajor, e.rdevMinor, len(name), 0)
	if _, err := io.WriteString(w, hdr+name+pad(len(hdr)+len(name))); err != nil {
		return err
	}
	if _, err := w.Write(e.data); err != nil {
		return err
	}
	_, err := io.WriteString(w, pad(len(e.data)))
	return err
}

func pad(n int) string {
	return string(make([]byte, (4-n%4)%4))
}
