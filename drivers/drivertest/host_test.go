package drivertest

import (
	"errors"
	"testing"
)

func TestOpen(t *testing.T) {
	d := &fake{}
	var opened bool
	ft := runFake(func(tb *fakeTB) {
		Open(tb, d, Host(tb))
		opened = d.isOpen()
	})
	if !opened || d.closes != 1 || ft.fatal || ft.reported() != "" {
		t.Errorf("Open: open %t, then %d Close calls, reported %q; want the device open, then closed once", opened, d.closes, ft.reported())
	}

	broken := &fake{openErr: errors.New("no such line")}
	ft = runFake(func(tb *fakeTB) { Open(tb, broken, Host(tb)) })
	if !ft.fatal || ft.reported() != "Open: no such line" || broken.closes != 0 {
		t.Errorf("Open of a device that fails: fatal %t, reported %q, %d Close calls; want the test stopped, and no Close", ft.fatal, ft.reported(), broken.closes)
	}
}
