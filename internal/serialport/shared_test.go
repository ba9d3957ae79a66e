package serialport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pinion-home/pinion/drivers"
)

// wait bounds every wait in these tests; nothing waits for it unless a
// test fails.
const wait = 10 * time.Second

// fakePort is a port that records what is done to it.
type fakePort struct {
	n int // which open made it

	mu       sync.Mutex
	timeouts []time.Duration
	failNext error // returned by the next Read
	closed   bool
	resets   int
}

func (p *fakePort) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, fs.ErrClosed
	}
	if err := p.failNext; err != nil {
		p.failNext = nil
		return 0, err
	}
	return copy(b, "ok"), nil
}

func (p *fakePort) Write(b []byte) (int, error) { return len(b), nil }

func (p *fakePort) SetReadTimeout(d time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.timeouts = append(p.timeouts, d)
	return nil
}

func (p *fakePort) ResetInputBuffer() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resets++
	return nil
}

func (p *fakePort) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	return nil
}

func (p *fakePort) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func (p *fakePort) lastTimeout() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.timeouts) == 0 {
		return -1
	}
	return p.timeouts[len(p.timeouts)-1]
}

// fakeLines is a Shared over fake ports; it records every port it opened.
type fakeLines struct {
	*Shared
	mu      sync.Mutex
	opened  []*fakePort
	openErr error
}

var errHostClosed = errors.New("host is closed")

func newFakeLines() *fakeLines {
	f := &fakeLines{}
	f.Shared = NewShared(func(path string, mode drivers.SerialMode) (drivers.Port, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.openErr != nil {
			return nil, f.openErr
		}
		p := &fakePort{n: len(f.opened) + 1}
		f.opened = append(f.opened, p)
		return p, nil
	}, errHostClosed)
	return f
}

func (f *fakeLines) ports() []*fakePort {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*fakePort(nil), f.opened...)
}

func mustOpen(t *testing.T, s interface {
	Open(string, drivers.SerialMode) (drivers.SharedPort, error)
}, path string, mode drivers.SerialMode) drivers.SharedPort {
	t.Helper()
	p, err := s.Open(path, mode)
	if err != nil {
		t.Fatalf("Open(%s, %+v): %v", path, mode, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestSharedModes(t *testing.T) {
	tests := []struct {
		name        string
		first, then drivers.SerialMode
		want        string // "" to share; else a substring of the error
	}{
		{name: "defaults spelled out", first: drivers.SerialMode{}, then: drivers.SerialMode{BaudRate: 9600, DataBits: 8, StopBits: 1}},
		{name: "same", first: drivers.SerialMode{BaudRate: 19200, Parity: drivers.ParityEven}, then: drivers.SerialMode{BaudRate: 19200, Parity: drivers.ParityEven}},
		{name: "baud rate", first: drivers.SerialMode{BaudRate: 19200}, then: drivers.SerialMode{}, want: "asks for 9600 8N1, the devices already on the line for 19200 8N1"},
		{name: "parity", first: drivers.SerialMode{}, then: drivers.SerialMode{Parity: drivers.ParityEven}, want: "asks for 9600 8E1, the devices already on the line for 9600 8N1"},
		{name: "stop bits", first: drivers.SerialMode{StopBits: 2}, then: drivers.SerialMode{}, want: "9600 8N1, the devices already on the line for 9600 8N2"},
		{name: "data bits", first: drivers.SerialMode{DataBits: 7, Parity: drivers.ParityOdd}, then: drivers.SerialMode{Parity: drivers.ParityOdd}, want: "for 9600 7O1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeLines()
			defer f.Close()
			mustOpen(t, f, "/dev/ttyUSB0", tt.first)
			p, err := f.Open("/dev/ttyUSB0", tt.then)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("second device: %v", err)
				}
				p.Close()
				if n := len(f.ports()); n != 1 {
					t.Fatalf("the port was opened %d times, want once for both devices", n)
				}
				return
			}
			if err == nil {
				p.Close()
				t.Fatal("a second device with another mode joined the line")
			}
			for _, w := range []string{"/dev/ttyUSB0", tt.want, "same baud rate"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestSharedOpenErrors(t *testing.T) {
	f := newFakeLines()
	defer f.Close()
	if _, err := f.Open("", drivers.SerialMode{}); err == nil || !strings.Contains(err.Error(), "/dev/ttyUSB0") {
		t.Errorf("empty path: err = %v, want one showing an example path", err)
	}
	if _, err := f.Open("/dev/ttyUSB0", drivers.SerialMode{DataBits: 9}); err == nil || !strings.Contains(err.Error(), "data bits 9") {
		t.Errorf("9 data bits: err = %v, want the mode refused", err)
	}
	f.openErr = errors.New("no such port")
	if _, err := f.Open("/dev/ttyUSB0", drivers.SerialMode{}); err == nil || !strings.Contains(err.Error(), "no such port") {
		t.Errorf("failing open: err = %v, want the opener's error", err)
	}
	f.openErr = nil
	// A failed open leaves nothing behind: the next device opens the port.
	mustOpen(t, f, "/dev/ttyUSB0", drivers.SerialMode{BaudRate: 19200})
	if n := len(f.ports()); n != 1 {
		t.Fatalf("%d ports opened, want 1", n)
	}
}

func TestSharedTakesTurns(t *testing.T) {
	f := newFakeLines()
	defer f.Close()
	const devices, txs = 4, 50
	var inside, overlaps atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, devices)
	for range devices {
		p := mustOpen(t, f, "/dev/ttyUSB0", drivers.SerialMode{})
		wg.Go(func() {
			for range txs {
				err := p.Transact(context.Background(), func(port drivers.Port) error {
					if inside.Add(1) > 1 {
						overlaps.Add(1)
					}
					defer inside.Add(-1)
					for range 3 {
						if _, err := port.Write([]byte{1}); err != nil {
							return err
						}
						if _, err := port.Read(make([]byte, 2)); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := overlaps.Load(); n != 0 {
		t.Fatalf("%d transactions overlapped; a shared line must run one at a time", n)
	}
}

// holdLine runs a transaction on p that holds the line until release is
// closed; it returns once the transaction is inside.
func holdLine(t *testing.T, p drivers.SharedPort, release <-chan struct{}) <-chan error {
	t.Helper()
	inside := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- p.Transact(context.Background(), func(drivers.Port) error {
			close(inside)
			<-release
			return nil
		})
	}()
	select {
	case <-inside:
	case <-time.After(wait):
		t.Fatal("the first transaction never started")
	}
	return done
}

func TestSharedWaitEndsWithContext(t *testing.T) {
	f := newFakeLines()
	defer f.Close()
	a := mustOpen(t, f, "/dev/ttyUSB0", drivers.SerialMode{})
	b := mustOpen(t, f, "/dev/ttyUSB0", drivers.SerialMode{})
	release := make(chan struct{})
	held := holdLine(t, a, release)

	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		got <- b.Transact(ctx, func(drivers.Port) error {
			t.Error("the second transaction ran while the first held the line")
			return nil
		})
	}()
	cancel()
	select {
	case err := <-got:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "/dev/ttyUSB0") {
			t.Fatalf("cancelled wait: err = %v, want context.Canceled naming the line", err)
		}
	case <-time.After(wait):
		t.Fatal("Transact kept waiting for the line after its context was cancelled")
	}
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	// The line is free again.
	if err := b.Transact(context.Background(), func(drivers.Port) error { return nil }); err != nil {
		t.Fatalf("after the wait was cancelled: %v", err)
	}
}

func TestSharedPortInsideATransaction(t *testing.T) {
	f := newFakeLines()
	defer f.Close()
	p := mustOpen(t, f, "/dev/ttyUSB0", drivers.SerialMode{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var kept drivers.Port
	err := p.Transact(ctx, func(port drivers.Port) error {
		kept = port
		if err := port.Close(); err == nil || !strings.Contains(err.Error(), "close the SharedPort") {
			t.Errorf("Close inside a transaction: err = %v, want it refused", err)
		}
		cancel()
		if _, err := port.Write([]byte{1}); !errors.Is(err, context.Canceled) {
			t.Errorf("Write after the context ended: err = %v, want context.Canceled", err)
		}
		return errors.New("the driver's own error")
	})
	if err == nil || err.Error() != "the driver's own error" {
		t.Fatalf("Transact returned %v, want f's error as it is", err)
	}
	if _, err := kept.Read(make([]byte, 1)); err == nil || !strings.Contains(err.Error(), "after the transaction ended") {
		t.Fatalf("Read after the transaction: err = %v, want it refused", err)
	}
	if ports := f.ports(); ports[0].isClosed() {
		t.Fatal("the driver's error closed the port; only the port's own failures should")
	}
}

func TestSharedReadTimeoutPerDevice(t *testing.T) {
	f := newFakeLines()
	defer f.Close()
	a := mustOpen(t, f, "/dev/ttyUSB0", drivers.SerialMode{})
	b := mustOpen(t, f, "/dev/ttyUSB0", drivers.SerialMode{})
	tx := func(p drivers.SharedPort, set time.Duration) {
		t.Helper()
		err := p.Transact(context.Background(), func(port drivers.Port) error {
			if set != 0 {
				return port.SetReadTimeout(set)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	port := func() *fakePort { return f.ports()[0] }
	tx(a, 200*time.Millisecond)
	tx(b, 0)
	if got := port().lastTimeout(); got != 0 {
		t.Fatalf("device b's transaction ran with timeout %v, device a's; want b's own (none)", got)
	}
	tx(a, 0)
	if got := port().lastTimeout(); got != 200*time.Millisecond {
		t.Fatalf("device a's next transaction ran with timeout %v, want the 200ms it set", got)
	}
}

func TestSharedReopensAFailedPort(t *testing.T) {
	f := newFakeLines()
	defer f.Close()
	a := mustOpen(t, f, "/dev/ttyUSB0", drivers.SerialMode{})
	b := mustOpen(t, f, "/dev/ttyUSB0", drivers.SerialMode{})
	read := func(p drivers.SharedPort) error {
		return p.Transact(context.Background(), func(port drivers.Port) error {
			_, err := port.Read(make([]byte, 2))
			return err
		})
	}
	first := f.ports()[0]
	first.failNext = fmt.Errorf("read: %w", os.ErrDeadlineExceeded)
	if err := read(a); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("timeout: err = %v", err)
	}
	if first.isClosed() {
		t.Fatal("a timeout closed the port; a unit that does not answer is not a broken line")
	}
	first.failNext = syscall.EIO // an adapter unplugged
	if err := read(a); !errors.Is(err, syscall.EIO) {
		t.Fatalf("failure: err = %v, want the port's error", err)
	}
	if !first.isClosed() {
		t.Fatal("the failed port is still open")
	}
	// The next transaction, of either device, opens the port again.
	if err := read(b); err != nil {
		t.Fatalf("after the failure: %v", err)
	}
	if ports := f.ports(); len(ports) != 2 || ports[1].isClosed() {
		t.Fatalf("ports after the failure: %d opened, want the line reopened once", len(ports))
	}

	// While the port cannot be opened again, transactions fail and say so.
	f.ports()[1].failNext = syscall.EIO
	_ = read(a)
	f.openErr = errors.New("no such device")
	if err := read(b); err == nil || !strings.Contains(err.Error(), "reopen") || !strings.Contains(err.Error(), "no such device") {
		t.Fatalf("port gone: err = %v, want the reopen failure", err)
	}
	f.openErr = nil
	if err := read(b); err != nil {
		t.Fatalf("port back: %v", err)
	}
}

func TestSharedClosesWithTheLastHandle(t *testing.T) {
	f := newFakeLines()
	defer f.Close()
	a, err := f.Open("/dev/ttyUSB0", drivers.SerialMode{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.Open("/dev/ttyUSB0", drivers.SerialMode{})
	if err != nil {
		t.Fatal(err)
	}
	port := f.ports()[0]
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if port.isClosed() {
		t.Fatal("the line closed while a device still uses it")
	}
	if err := a.Transact(context.Background(), func(drivers.Port) error { return nil }); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("Transact on a closed handle: err = %v, want fs.ErrClosed", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if !port.isClosed() {
		t.Fatal("the line stayed open after its last device closed its handle")
	}
	// A new device on the line opens it afresh, with any mode.
	c := mustOpen(t, f, "/dev/ttyUSB0", drivers.SerialMode{BaudRate: 115200})
	if err := c.Transact(context.Background(), func(drivers.Port) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if n := len(f.ports()); n != 2 {
		t.Fatalf("%d ports opened, want 2", n)
	}
}

func TestSharedHostClose(t *testing.T) {
	f := newFakeLines()
	a := mustOpen(t, f, "/dev/ttyUSB0", drivers.SerialMode{})
	release := make(chan struct{})
	held := holdLine(t, a, release)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if !f.ports()[0].isClosed() {
		t.Fatal("the host's Close left the port open under a transaction")
	}
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if err := a.Transact(context.Background(), func(drivers.Port) error { return nil }); !errors.Is(err, errHostClosed) {
		t.Fatalf("Transact after the host closed: err = %v, want the host's closed error", err)
	}
	if _, err := f.Open("/dev/ttyUSB0", drivers.SerialMode{}); !errors.Is(err, errHostClosed) {
		t.Fatalf("Open after the host closed: err = %v, want the host's closed error", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestSharedOverPTY runs several devices' request-reply exchanges over a
// real pseudo-terminal whose far end answers each request with its own
// text: replies must never reach another device.
func TestSharedOverPTY(t *testing.T) {
	m, path, err := OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	go func() {
		// The far end: echo every byte, as a unit answering its requests.
		_, _ = io.Copy(m, m)
	}()
	s := NewShared(func(path string, mode drivers.SerialMode) (drivers.Port, error) {
		return Open(path, mode)
	}, errHostClosed)
	defer s.Close()

	const devices, txs = 3, 20
	var wg sync.WaitGroup
	errs := make(chan error, devices)
	for d := range devices {
		p := mustOpen(t, s, path, drivers.SerialMode{BaudRate: 9600})
		wg.Go(func() {
			for i := range txs {
				req := []byte(fmt.Sprintf("unit %d request %02d;", d, i))
				err := p.Transact(context.Background(), func(port drivers.Port) error {
					if err := port.SetReadTimeout(wait); err != nil {
						return err
					}
					if _, err := port.Write(req); err != nil {
						return err
					}
					got := make([]byte, len(req))
					if _, err := io.ReadFull(port, got); err != nil {
						return err
					}
					if !bytes.Equal(got, req) {
						return fmt.Errorf("unit %d got %q, want its own %q", d, got, req)
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
