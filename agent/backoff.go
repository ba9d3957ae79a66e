package agent

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/jonboulle/clockwork"
)

// backoff is the one retry schedule of the agent: opening and reopening
// devices, subscribing, connecting. Delays double from min up to max and
// are jittered, so that a hundred devices failing together (a power cut on
// a bus) do not retry in lockstep.
type backoff struct {
	min, max time.Duration
	next     time.Duration
	n        int
}

func newBackoff(min, max time.Duration) *backoff {
	return &backoff{min: min, max: max, next: min}
}

// Next returns the delay before the next attempt: the current step with
// up to a fifth taken off or added, never above max.
func (b *backoff) Next() time.Duration {
	d := b.next
	b.n++
	b.next = min(2*b.next, b.max)
	// Jitter of ±20%: enough to spread retries, little enough that the
	// delays still read as 1 s, 2 s, 4 s in a log.
	j := time.Duration(rand.Int64N(int64(d)/5*2+1)) - d/5
	return min(d+j, b.max)
}

// Reset starts the schedule again from min, after a success.
func (b *backoff) Reset() { b.next, b.n = b.min, 0 }

// Failures returns how many delays were handed out since the last Reset.
func (b *backoff) Failures() int { return b.n }

// Loud reports whether the current failure is worth a log line: the
// first ones, then at doubling intervals, so a device that stays broken
// for a week does not fill the SD card.
func (b *backoff) Loud() bool { return loud(b.n) }

// loud reports whether the nth of a run of failures is worth a log line:
// the first three, then the 4th, 8th, 16th, … — about ten lines for a
// thousand failures.
func loud(n int) bool { return n <= 3 || n&(n-1) == 0 }

// sleep waits for d on clock, or until ctx is done; it reports whether the
// whole delay passed.
func sleep(ctx context.Context, clock clockwork.Clock, d time.Duration) bool {
	t := clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.Chan():
		return true
	case <-ctx.Done():
		return false
	}
}
