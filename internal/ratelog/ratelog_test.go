package ratelog_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/pinion-home/pinion/internal/ratelog"
)

const wait = 15 * time.Second

// sink collects log lines; Handle may run on a timer's goroutine.
type sink struct {
	mu  sync.Mutex
	buf bytes.Buffer
	ch  chan struct{}
}

func newSink() *sink { return &sink{ch: make(chan struct{}, 1)} }

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	select {
	case s.ch <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (s *sink) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := strings.Split(strings.TrimSpace(s.buf.String()), "\n")
	if len(out) == 1 && out[0] == "" {
		return nil
	}
	return out
}

// waitLines waits until n lines have been written.
func (s *sink) waitLines(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(wait)
	for {
		if l := s.lines(); len(l) >= n {
			return l
		}
		select {
		case <-s.ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %d lines; have %q", n, s.lines())
		}
	}
}

func newLogger(w *sink, clock clockwork.Clock, opts ratelog.Options) *slog.Logger {
	inner := slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})
	return slog.New(ratelog.New(inner, clock, opts))
}

// A flood of one kind writes its burst, then one summary with the count
// when the window ends; the next window lets a burst through again.
func TestFloodIsSummarised(t *testing.T) {
	clock := clockwork.NewFakeClock()
	out := newSink()
	log := newLogger(out, clock, ratelog.Options{})
	for i := range 92_007 {
		log.Warn("invalid command", "topic", "pinion/x/set", "i", i)
	}
	if got := len(out.lines()); got != 10 {
		t.Fatalf("%d lines during the window, want the burst of 10", got)
	}
	clock.Advance(time.Minute)
	lines := out.waitLines(t, 11)
	want := `level=WARN msg="invalid command … and 91,997 more in the last minute" suppressed=91997`
	if lines[10] != want {
		t.Fatalf("summary\n %s\nwant\n %s", lines[10], want)
	}
	log.Warn("invalid command", "i", -1)
	if lines := out.waitLines(t, 12); !strings.Contains(lines[11], "i=-1") || len(lines) != 12 {
		t.Fatalf("the next window's first record: %q", lines[11:])
	}
}

// Kinds are level and message: each has its own burst, attributes do not
// make a new kind, derived loggers share the counts, DEBUG is not limited
// and no summary is written for a window that held nothing back.
func TestKinds(t *testing.T) {
	tests := []struct {
		name  string
		log   func(l *slog.Logger)
		lines int // during the window
		sums  []string
	}{
		{"under the burst", func(l *slog.Logger) {
			for range 10 {
				l.Warn("a")
			}
		}, 10, nil},
		{"two messages", func(l *slog.Logger) {
			for range 15 {
				l.Warn("a")
				l.Warn("b")
			}
		}, 20, []string{`msg="a … and 5 more in the last minute" suppressed=5`, `msg="b … and 5 more in the last minute" suppressed=5`}},
		{"two levels", func(l *slog.Logger) {
			for range 12 {
				l.Warn("a")
				l.Error("a")
			}
		}, 20, []string{`level=WARN msg="a … and 2 more`, `level=ERROR msg="a … and 2 more`}},
		{"derived loggers share", func(l *slog.Logger) {
			for i := range 30 {
				l.With("device", fmt.Sprint(i)).WithGroup("g").Info("device failed", "n", i)
			}
		}, 10, []string{`level=INFO msg="device failed … and 20 more in the last minute" suppressed=20`}},
		{"debug passes", func(l *slog.Logger) {
			for range 50 {
				l.Debug("paho")
			}
		}, 50, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := clockwork.NewFakeClock()
			out := newSink()
			log := newLogger(out, clock, ratelog.Options{})
			tt.log(log)
			if got := len(out.lines()); got != tt.lines {
				t.Fatalf("%d lines, want %d:\n%s", got, tt.lines, strings.Join(out.lines(), "\n"))
			}
			clock.Advance(time.Minute)
			lines := out.waitLines(t, tt.lines+len(tt.sums))
			got := lines[tt.lines:]
			if len(got) != len(tt.sums) {
				t.Fatalf("summaries %q, want %d", got, len(tt.sums))
			}
			for _, want := range tt.sums {
				found := false
				for _, l := range got {
					found = found || strings.Contains(l, want)
				}
				if !found {
					t.Errorf("no summary with %q in %q", want, got)
				}
			}
		})
	}
}

// A record right after the window ended, racing the window's timer, still
// comes after the summary: whichever ends the window says so first.
func TestSummaryBeforeNextWindow(t *testing.T) {
	for range 20 {
		inner := &recorder{}
		clock := clockwork.NewFakeClock()
		log := slog.New(ratelog.New(inner, clock, ratelog.Options{Burst: 1, Window: time.Second}))
		log.Warn("x")
		log.Warn("x")
		log.Warn("x")
		clock.Advance(time.Second)
		log.Warn("x")
		deadline := time.After(wait)
		for len(inner.msgs()) < 3 {
			select {
			case <-deadline:
				t.Fatalf("messages %q", inner.msgs())
			case <-time.After(10 * time.Millisecond):
			}
		}
		want := []string{"x", "x … and 2 more in the last 1s", "x"}
		if got := inner.msgs(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("messages %q, want %q", got, want)
		}
	}
}

type recorder struct {
	mu sync.Mutex
	m  []string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m = append(r.m, rec.Message)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }
func (r *recorder) msgs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.m...)
}

// Messages that vary (built with Sprintf) cannot grow the handler without
// bound: past MaxKinds they are counted together.
func TestMaxKinds(t *testing.T) {
	clock := clockwork.NewFakeClock()
	out := newSink()
	log := newLogger(out, clock, ratelog.Options{MaxKinds: 5, Burst: 2})
	for i := range 1000 {
		log.Warn(fmt.Sprintf("topic %d", i))
	}
	// 5 kinds of their own, then 2 of the overflow kind.
	if got := len(out.lines()); got != 7 {
		t.Fatalf("%d lines, want 7:\n%s", got, strings.Join(out.lines(), "\n"))
	}
	clock.Advance(time.Minute)
	lines := out.waitLines(t, 8)
	if !strings.Contains(lines[7], "(records of other kinds) … and 993 more") {
		t.Fatalf("summary %q", lines[7])
	}
}

// BenchmarkSuppressed is the cost of a record held back (a flood's usual
// case): a map lookup under a mutex, no formatting, no write.
func BenchmarkSuppressed(b *testing.B) {
	clock := clockwork.NewFakeClock()
	log := newLogger(newSink(), clock, ratelog.Options{})
	b.ReportAllocs()
	for b.Loop() {
		log.Warn("invalid command; ignored", "topic", "pinion/x/set")
	}
}

// BenchmarkPassed is the cost of a record let through, formatting and
// writing included, for comparison.
func BenchmarkPassed(b *testing.B) {
	clock := clockwork.NewFakeClock()
	log := newLogger(newSink(), clock, ratelog.Options{MinLevel: slog.LevelError})
	b.ReportAllocs()
	for b.Loop() {
		log.Warn("invalid command; ignored", "topic", "pinion/x/set")
	}
}
