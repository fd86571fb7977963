package bridge

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/directus-ircd/directus-ircd/ircd"
)

// outbox holds messages sent from IRC while Directus is unreachable, bounded per user and in
// total, and for at most maxWait. They are created in the order sent once Directus is back;
// a message that cannot be held or waits too long is refused to its sender, by name.
type outbox struct {
	perUser, total int
	maxWait        time.Duration

	mu      sync.Mutex
	q       []*outEntry
	perSess map[*session]int
	wake    chan struct{}
	drainMu sync.Mutex // one drainer at a time keeps the order
}

func newOutbox(perUser, total int, maxWait time.Duration) *outbox {
	return &outbox{perUser: perUser, total: total, maxWait: maxWait, perSess: map[*session]int{}, wake: make(chan struct{}, 1)}
}

func (o *outbox) push(e *outEntry) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.q) >= o.total {
		return fmt.Errorf("the server's queue is full (%d messages)", o.total)
	}
	if o.perSess[e.s] >= o.perUser {
		return fmt.Errorf("you already have %d messages waiting", o.perUser)
	}
	o.q = append(o.q, e)
	o.perSess[e.s]++
	return nil
}

func (o *outbox) hasFor(s *session) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.perSess[s] > 0
}

func (o *outbox) front() *outEntry {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.q) == 0 {
		return nil
	}
	return o.q[0]
}

// remove takes e out; it stays queued while its create runs, so that a newer message of
// the same sender queues behind it instead of overtaking it.
func (o *outbox) remove(e *outEntry) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, x := range o.q {
		if x == e {
			o.q = append(o.q[:i:i], o.q[i+1:]...)
			if o.perSess[e.s]--; o.perSess[e.s] <= 0 {
				delete(o.perSess, e.s)
			}
			return
		}
	}
}

// expired takes out the messages that waited longer than maxWait.
func (o *outbox) expired(now time.Time) []*outEntry {
	o.mu.Lock()
	defer o.mu.Unlock()
	var old []*outEntry
	kept := o.q[:0]
	for _, e := range o.q {
		if now.Sub(e.at) > o.maxWait {
			old = append(old, e)
			if o.perSess[e.s]--; o.perSess[e.s] <= 0 {
				delete(o.perSess, e.s)
			}
		} else {
			kept = append(kept, e)
		}
	}
	o.q = kept
	return old
}

func (o *outbox) takeAll() []*outEntry {
	o.mu.Lock()
	defer o.mu.Unlock()
	all := o.q
	o.q = nil
	o.perSess = map[*session]int{}
	return all
}

func (o *outbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.q)
}

func (o *outbox) kick() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// runOutbox creates held messages when Directus is back and refuses expired ones.
func (b *Bridge) runOutbox(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.outbox.wake:
		case <-tick.C:
		}
		for _, e := range b.outbox.expired(time.Now()) {
			b.metrics.refused(refusedHeldTooLong)
			b.refuseQueued(e, fmt.Sprintf("Directus unreachable for more than %s", b.outbox.maxWait))
		}
		b.flushOutbox(ctx)
	}
}

// flushOutbox creates held messages in order while Directus is up.
func (b *Bridge) flushOutbox(ctx context.Context) {
	b.outbox.drainMu.Lock()
	defer b.outbox.drainMu.Unlock()
	for ctx.Err() == nil && b.online.Load() {
		e := b.outbox.front()
		if e == nil {
			return
		}
		it, err := b.create(e)
		switch {
		case err == nil:
			b.outbox.remove(e)
			b.deliverCreate(it, e.c, false)
		case isTransient(err):
			e.maybeSent = true
			return // Directus went away again; retry on the next kick or tick
		default:
			b.outbox.remove(e)
			b.metrics.refused(createRefusal(err))
			b.refuseQueued(e, ircd.UserText(err))
			if reason := ircd.DisconnectReason(err); reason != "" {
				e.c.Disconnect(reason)
			}
		}
	}
}

func (b *Bridge) refuseQueued(e *outEntry, reason string) {
	b.log.Warn().Str("nick", e.c.Nick()).Str("reason", reason).Msg("held message not sent")
	e.c.Fail("PRIVMSG", "MESSAGE_NOT_SENT", fmt.Sprintf("Message not sent (%s): %s", reason, quoteExcerpt(e.text)))
}
