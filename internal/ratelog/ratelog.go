// Package ratelog bounds what an agent logs when the same thing keeps
// happening: a slog.Handler wrapper that lets a burst of records of one kind
// (level and message) through, counts the rest, and when the window ends
// says how many it held back ("… and 91,997 more in the last minute").
//
// A device agent runs for months on an SD card that nobody looks at: a
// flood of invalid commands or a sensor failing every second must not
// write gigabytes, and must not make journald's own rate limit throw away
// the lines that matter.
package ratelog

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// Options are the limits of a Handler; zero fields take the defaults.
type Options struct {
	// Burst is how many records of one kind pass in a window (default 10).
	Burst int
	// Window is how long a kind's count runs from its first record
	// (default one minute).
	Window time.Duration
	// MinLevel is the lowest level that is limited (default INFO): DEBUG
	// is asked for when diagnosing, and then every line is wanted.
	MinLevel slog.Level
	// MaxKinds bounds how many kinds are counted at once (default 1024);
	// beyond it, records are counted together per level, so that messages
	// built from varying text cannot grow the handler's memory.
	MaxKinds int
}

// Handler is a slog.Handler that rate-limits repeated records of one kind.
// Handlers derived with WithAttrs and WithGroup share their parent's
// counts, so a kind is one kind however its loggers were built.
type Handler struct {
	inner slog.Handler
	s     *shared
}

type shared struct {
	clock clockwork.Clock
	opts  Options
	root  slog.Handler // summaries go here: the held-back records' own attributes differ

	mu    sync.Mutex
	kinds map[kindKey]*kind
}

type kindKey struct {
	level slog.Level
	msg   string
}

// kind is the count of one kind of record in its current window.
type kind struct {
	start      time.Time
	passed     int
	suppressed int
	timer      clockwork.Timer // set once something is held back: it says so when the window ends
}

// overflowMsg is the message under which records are counted once
// MaxKinds kinds are being counted.
const overflowMsg = "(records of other kinds)"

// New wraps inner. Windows run on clock (a fake one in tests).
func New(inner slog.Handler, clock clockwork.Clock, opts Options) *Handler {
	if opts.Burst <= 0 {
		opts.Burst = 10
	}
	if opts.Window <= 0 {
		opts.Window = time.Minute
	}
	if opts.MaxKinds <= 0 {
		opts.MaxKinds = 1024
	}
	return &Handler{inner: inner, s: &shared{clock: clock, opts: opts, root: inner, kinds: map[kindKey]*kind{}}}
}

// Enabled reports whether the wrapped handler handles records at level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

// WithAttrs returns a handler with attrs that shares h's counts.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{inner: h.inner.WithAttrs(attrs), s: h.s}
}

// WithGroup returns a handler with the group that shares h's counts.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{inner: h.inner.WithGroup(name), s: h.s}
}

// Handle passes r on unless its kind has used up its burst in the
// current window, in which case it is counted for the window's summary.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < h.s.opts.MinLevel {
		return h.inner.Handle(ctx, r)
	}
	if !h.s.admit(ctx, r.Level, r.Message) {
		return nil
	}
	return h.inner.Handle(ctx, r)
}

// admit counts a record of kind (level, msg) and reports whether it passes.
func (s *shared) admit(ctx context.Context, level slog.Level, msg string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	key := kindKey{level, msg}
	k := s.kinds[key]
	if k != nil && !now.Before(k.start.Add(s.opts.Window)) {
		// The window has ended and its timer has not said so yet.
		s.endLocked(ctx, key, k)
		k = nil
	}
	if k == nil {
		if len(s.kinds) >= s.opts.MaxKinds {
			s.pruneLocked(ctx, now)
		}
		if len(s.kinds) >= s.opts.MaxKinds {
			key = kindKey{level, overflowMsg}
			k = s.kinds[key]
		}
		if k == nil {
			k = &kind{start: now}
			s.kinds[key] = k
		}
	}
	if k.passed < s.opts.Burst {
		k.passed++
		return true
	}
	k.suppressed++
	if k.timer == nil {
		k.timer = s.clock.AfterFunc(k.start.Add(s.opts.Window).Sub(now), func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.kinds[key] == k {
				s.endLocked(context.Background(), key, k)
			}
		})
	}
	return false
}

// pruneLocked forgets the kinds whose window has ended.
func (s *shared) pruneLocked(ctx context.Context, now time.Time) {
	for key, k := range s.kinds {
		if !now.Before(k.start.Add(s.opts.Window)) {
			s.endLocked(ctx, key, k)
		}
	}
}

// endLocked ends k's window: it forgets k and, if records were held back,
// logs the summary. It is called with s.mu held so that the summary comes
// before any record of the next window.
func (s *shared) endLocked(ctx context.Context, key kindKey, k *kind) {
	delete(s.kinds, key)
	if k.timer != nil {
		k.timer.Stop()
	}
	if k.suppressed == 0 {
		return
	}
	r := slog.NewRecord(s.clock.Now(), key.level, Summary(key.msg, k.suppressed, s.opts.Window), 0)
	r.AddAttrs(slog.Int("suppressed", k.suppressed))
	// A summary is not limited itself, and a failing writer changes
	// nothing here.
	_ = s.root.Handle(ctx, r)
}

// Summary is the message of the record that ends a window in which n
// records with message msg were held back: "msg … and 91,997 more in the
// last minute".
func Summary(msg string, n int, window time.Duration) string {
	return fmt.Sprintf("%s … and %s more in the last %s", msg, thousands(n), span(window))
}

// span says a window in words: "minute", "10 minutes", "30s".
func span(d time.Duration) string {
	switch {
	case d == time.Minute:
		return "minute"
	case d == time.Hour:
		return "hour"
	case d%time.Minute == 0:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return d.String()
}

// thousands writes n with commas between groups of three digits.
func thousands(n int) string {
	if n < 0 {
		return "-" + thousands(-n)
	}
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
