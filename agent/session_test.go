package agent

import (
	"errors"
	"strings"
	"testing"
)

func TestConnectHint(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{errors.New("dial tcp 127.0.0.1:1883: connect: connection refused"), "is the broker running"},
		{errors.New("not Authorized"), "username and password"},
		{errors.New("bad user name or password"), "username and password"},
		{errors.New("dial tcp: lookup brokr.local: no such host"), "host name"},
		{errors.New("identifier rejected"), "client_id"},
		{errors.New("something else"), ""},
		{nil, ""},
	}
	for _, tt := range tests {
		got := connectHint(tt.err)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("connectHint(%v) = %q, want it to contain %q", tt.err, got, tt.want)
		}
	}
}
