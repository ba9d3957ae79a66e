package serialport

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/pinion-home/pinion/drivers"
)

// Opener opens a serial port for a shared line: Open on a real host, the
// simulated host's own Serial on the simulated one.
type Opener func(path string, mode drivers.SerialMode) (drivers.Port, error)

// Shared is a host's set of shared serial lines, such as an RS-485 line
// with several Modbus units on it, each driven by a device of its own. It
// implements the semantics of drivers.SharedSerialHost for both hosts:
//
//   - The first device to ask for a line opens its port; the others get a
//     handle on the same port, and must ask for the same mode (defaults
//     filled in, so a zero SerialMode and 9600 8N1 are the same).
//   - Transactions take turns: one device's request and reply never
//     interleave with another's. Waiting for the line ends with the
//     caller's context.
//   - Each handle keeps its own read timeout, set again at the start of
//     each of its transactions.
//   - When the port fails (a read or write error other than a timeout: an
//     adapter unplugged), the line closes it, and the next transaction
//     opens it again. The transaction's caller sees the error and decides
//     (a driver asks the agent to reopen the device).
//   - The port closes when the last handle does, or when the host closes
//     the set.
//
// A Shared is safe for concurrent use.
type Shared struct {
	open   Opener
	closed error // wrapped after Close

	mu    sync.Mutex
	lines map[string]*sharedLine
	done  bool
}

// NewShared returns an empty set of shared lines whose ports open with
// open. After Close, handles fail with an error wrapping closed.
func NewShared(open Opener, closed error) *Shared {
	return &Shared{open: open, closed: closed, lines: map[string]*sharedLine{}}
}

// Open returns a handle on the line at path for one device: see Shared.
func (s *Shared) Open(path string, mode drivers.SerialMode) (drivers.SharedPort, error) {
	if path == "" {
		return nil, errors.New(`shared serial line: no path; write the port's path such as "/dev/ttyUSB0"`)
	}
	if _, err := toMode(mode); err != nil {
		return nil, fmt.Errorf("serial %s: %w", path, err)
	}
	mode = normalMode(mode)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil, fmt.Errorf("serial %s: %w", path, s.closed)
	}
	if l, ok := s.lines[path]; ok {
		if l.mode != mode {
			return nil, fmt.Errorf("serial %s: shared line: this device asks for %s, the devices already on the line for %s; every device on a shared line must use the same baud rate, data bits, parity and stop bits",
				path, ModeString(mode), ModeString(l.mode))
		}
		l.users++
		return &sharedPort{l: l}, nil
	}
	p, err := s.open(path, mode)
	if err != nil {
		return nil, err
	}
	l := &sharedLine{s: s, path: path, mode: mode, turn: make(chan struct{}, 1), port: p, users: 1}
	s.lines[path] = l
	return &sharedPort{l: l}, nil
}

// Close closes every line: a transaction in progress sees its port
// closed, and every handle fails afterwards. Closing twice is harmless.
func (s *Shared) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	var errs []error
	for path, l := range s.lines {
		if err := l.shut(); err != nil {
			errs = append(errs, err)
		}
		delete(s.lines, path)
	}
	return errors.Join(errs...)
}

// normalMode fills in the defaults of a mode, so modes compare equal when
// they put the same framing on the wire.
func normalMode(m drivers.SerialMode) drivers.SerialMode {
	if m.BaudRate == 0 {
		m.BaudRate = 9600
	}
	if m.DataBits == 0 {
		m.DataBits = 8
	}
	if m.StopBits == 0 {
		m.StopBits = 1
	}
	return m
}

// ModeString writes a mode the way serial lines are usually described:
// "9600 8N1". Zero fields show their defaults.
func ModeString(m drivers.SerialMode) string {
	m = normalMode(m)
	parity := "?"
	switch m.Parity {
	case drivers.ParityNone:
		parity = "N"
	case drivers.ParityEven:
		parity = "E"
	case drivers.ParityOdd:
		parity = "O"
	}
	return fmt.Sprintf("%d %d%s%d", m.BaudRate, m.DataBits, parity, m.StopBits)
}

// sharedLine is one shared line and its port.
type sharedLine struct {
	s    *Shared
	path string
	mode drivers.SerialMode
	turn chan struct{} // holds a token while a transaction runs

	mu     sync.Mutex
	port   drivers.Port // nil after a failure, until the next transaction
	users  int          // guarded by s.mu
	closed bool
}

// get returns the line's port, opening it again after a failure.
func (l *sharedLine) get() (drivers.Port, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, fmt.Errorf("serial %s: %w", l.path, l.s.closed)
	}
	if l.port == nil {
		p, err := l.s.open(l.path, l.mode)
		if err != nil {
			return nil, fmt.Errorf("serial %s: reopen the shared line after a failure: %w", l.path, err)
		}
		l.port = p
	}
	return l.port, nil
}

// drop closes p, which failed, so that the next transaction opens the
// port again.
func (l *sharedLine) drop(p drivers.Port) {
	l.mu.Lock()
	if l.port == p {
		l.port = nil
	}
	l.mu.Unlock()
	_ = p.Close() // it failed already; its error says nothing new
}

// shut closes the line for good. Callers hold s.mu, so that a new line on
// the same path opens only after this one's port is closed.
func (l *sharedLine) shut() error {
	l.mu.Lock()
	p := l.port
	l.port, l.closed = nil, true
	l.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.Close()
}

// sharedPort is one device's handle on a shared line.
type sharedPort struct {
	l *sharedLine

	mu      sync.Mutex
	closed  bool
	timeout time.Duration // the handle's own read timeout
}

// Transact implements drivers.SharedPort. It waits for the line until ctx
// is done, then runs f with the port, which fails once ctx is done and
// after f returns. It returns f's error as it is.
func (h *sharedPort) Transact(ctx context.Context, f func(p drivers.Port) error) error {
	l := h.l
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("serial %s: %w", l.path, err)
	}
	select {
	case l.turn <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("serial %s: wait for the shared line: %w", l.path, ctx.Err())
	}
	defer func() { <-l.turn }()
	h.mu.Lock()
	closed, timeout := h.closed, h.timeout
	h.mu.Unlock()
	if closed {
		return fmt.Errorf("serial %s: transaction on a closed shared port: %w", l.path, fs.ErrClosed)
	}
	p, err := l.get()
	if err != nil {
		return err
	}
	if err := p.SetReadTimeout(timeout); err != nil {
		l.drop(p)
		return err
	}
	tp := &txPort{h: h, p: p, ctx: ctx}
	err = f(tp)
	if tp.end() {
		l.drop(p)
	}
	return err
}

// Close implements drivers.SharedPort: the line closes with its last
// handle. Closing twice is harmless.
func (h *sharedPort) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	s := h.l.s
	s.mu.Lock()
	defer s.mu.Unlock()
	h.l.users--
	if h.l.users > 0 {
		return nil
	}
	if s.lines[h.l.path] == h.l {
		delete(s.lines, h.l.path)
	}
	if err := h.l.shut(); err != nil {
		return fmt.Errorf("serial %s: close the shared line: %w", h.l.path, err)
	}
	return nil
}

// txPort is the port as one transaction sees it.
type txPort struct {
	h   *sharedPort
	p   drivers.Port
	ctx context.Context

	mu     sync.Mutex
	done   bool // the transaction ended
	broken bool // the port failed
}

// end marks the transaction over and reports whether the port failed.
func (t *txPort) end() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done = true
	return t.broken
}

func (t *txPort) check(op string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return fmt.Errorf("serial %s: %s after the transaction ended: use the port only inside the function given to Transact", t.h.l.path, op)
	}
	if err := t.ctx.Err(); err != nil {
		return fmt.Errorf("serial %s: %s: %w", t.h.l.path, op, err)
	}
	return nil
}

// failed records an error of the port itself; a timeout is not one.
func (t *txPort) failed(err error) {
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return
	}
	t.mu.Lock()
	t.broken = true
	t.mu.Unlock()
}

// Read implements io.Reader.
func (t *txPort) Read(b []byte) (int, error) {
	if err := t.check("read"); err != nil {
		return 0, err
	}
	n, err := t.p.Read(b)
	t.failed(err)
	return n, err
}

// Write implements io.Writer.
func (t *txPort) Write(b []byte) (int, error) {
	if err := t.check("write"); err != nil {
		return 0, err
	}
	n, err := t.p.Write(b)
	t.failed(err)
	return n, err
}

// SetReadTimeout implements drivers.Port; the timeout is the handle's, and
// applies to its later transactions too.
func (t *txPort) SetReadTimeout(d time.Duration) error {
	if err := t.check("set read timeout"); err != nil {
		return err
	}
	err := t.p.SetReadTimeout(d)
	t.failed(err)
	if err == nil {
		t.h.mu.Lock()
		t.h.timeout = d
		t.h.mu.Unlock()
	}
	return err
}

// ResetInputBuffer implements drivers.Port.
func (t *txPort) ResetInputBuffer() error {
	if err := t.check("reset input buffer"); err != nil {
		return err
	}
	err := t.p.ResetInputBuffer()
	t.failed(err)
	return err
}

// Close implements io.Closer by refusing: the line belongs to every device
// on it.
func (t *txPort) Close() error {
	return fmt.Errorf("serial %s: close inside a transaction: the line is shared; close the SharedPort instead", t.h.l.path)
}

var (
	_ drivers.SharedPort = (*sharedPort)(nil)
	_ drivers.Port       = (*txPort)(nil)
)
