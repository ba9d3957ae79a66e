package serialport

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// OpenPTY creates a pseudo-terminal pair and returns its controlling side
// and the path of the terminal side (/dev/pts/N). The terminal side behaves
// like a serial port for go.bug.st/serial, except that modem-control bits
// are unsupported; simulated serial peers and tests talk on the controlling
// side.
func OpenPTY() (*os.File, string, error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, "", fmt.Errorf("open pty: %w", err)
	}
	// The ioctls go through SyscallConn, not Fd: Fd would put the file in
	// blocking mode for good, and then Close could not interrupt a Read
	// that a simulated peer has pending.
	rc, err := m.SyscallConn()
	if err != nil {
		m.Close()
		return nil, "", fmt.Errorf("open pty: %w", err)
	}
	var n int
	var ierr error
	err = rc.Control(func(fd uintptr) {
		if ierr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ierr != nil {
			ierr = fmt.Errorf("unlock pty: %w", ierr)
			return
		}
		if n, ierr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN); ierr != nil {
			ierr = fmt.Errorf("pty number: %w", ierr)
			return
		}
		// Raw mode on the controller too, so bytes pass through untranslated
		// (no CR/LF mapping, no echo) in both directions.
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err == nil {
			t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
			t.Oflag &^= unix.OPOST
			t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
			t.Cflag &^= unix.CSIZE | unix.PARENB
			t.Cflag |= unix.CS8
			_ = unix.IoctlSetTermios(int(fd), unix.TCSETS, t)
		}
	})
	if err == nil {
		err = ierr
	}
	if err != nil {
		m.Close()
		return nil, "", err
	}
	return m, fmt.Sprintf("/dev/pts/%d", n), nil
}
