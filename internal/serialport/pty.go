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
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, "", fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, "", fmt.Errorf("pty number: %w", err)
	}
	// Raw mode on the controller too, so bytes pass through untranslated
	// (no CR/LF mapping, no echo) in both directions.
	t, err := unix.IoctlGetTermios(int(m.Fd()), unix.TCGETS)
	if err == nil {
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB
		t.Cflag |= unix.CS8
		_ = unix.IoctlSetTermios(int(m.Fd()), unix.TCSETS, t)
	}
	return m, fmt.Sprintf("/dev/pts/%d", n), nil
}
