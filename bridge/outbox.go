package bridge

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/directus-ircd/directus-ircd/internal/waitctx"
	"github.com/directus-ircd/directus-ircd/ircd"
)

// Messages sent from IRC while Directus is unreachable are held by their account, bounded
// per account (queue.per_user) and in total (queue.total), for at most queue.max_wait. Each
// account creates its held messages in the order sent once Directus is back; a message that
// cannot be held or waits too long is refused to its sender, by name.

// hold keeps e for later. Runs on the account's goroutine.
func (a *account) hold(e *outEntry) (ircd.Posted, error) {
	b := a.b
	refuse := func(why string) (ircd.Posted, error) {
		b.metrics.refused(refusedQueueFull)
		b.settle(e.key)
		return ircd.Posted{}, &ircd.UserError{Text: "Directus is unreachable and " + why + "; message not sent: " + quoteExcerpt(e.text)}
	}
	if len(a.held) >= b.cfg.QueuePerUser {
		return refuse(fmt.Sprintf("you already have %d messages waiting", b.cfg.QueuePerUser))
	}
	if b.heldTotal.Add(1) > int64(b.cfg.QueueTotal) {
		b.heldTotal.Add(-1)
		return refuse(fmt.Sprintf("the server's queue is full (%d messages)", b.cfg.QueueTotal))
	}
	a.held = append(a.held, e)
	if len(a.held) == 1 {
		b.accounts.setHolding(a, true)
	}
	return ircd.Posted{Result: ircd.Queued}, nil
}

// popHeld takes the oldest held message out.
func (a *account) popHeld() *outEntry {
	e := a.held[0]
	a.held[0] = nil
	a.held = a.held[1:]
	a.b.heldTotal.Add(-1)
	if len(a.held) == 0 {
		a.b.accounts.setHolding(a, false)
	}
	return e
}

// flush creates held messages in order while Directus is up, refuses those that waited
// longer than queue.max_wait, and ends the account if nothing holds it any more. Runs on the
// account's goroutine.
func (a *account) flush(ctx context.Context) {
	b := a.b
	now := time.Now()
	for len(a.held) > 0 && now.Sub(a.held[0].at) > b.cfg.QueueMaxWait {
		b.metrics.refused(refusedHeldTooLong)
		a.refuseHeld(a.popHeld(), fmt.Sprintf("Directus unreachable for more than %s", b.cfg.QueueMaxWait))
	}
	for len(a.held) > 0 && ctx.Err() == nil && b.online.Load() {
		e := a.held[0]
		it, err := a.create(e)
		switch {
		case err == nil:
			a.popHeld()
			b.deliverCreate(it, e.c, false)
			b.settle(e.key)
		case isTransient(err):
			e.maybeSent = true
			a.maybeEnd()
			return // Directus went away again; retried on the next kick or tick
		default:
			a.popHeld()
			b.settle(e.key)
			b.metrics.refused(createRefusal(err))
			a.refuseHeld(e, ircd.UserText(err))
			if reason := ircd.DisconnectReason(err); reason != "" {
				e.c.Disconnect(reason)
			}
		}
	}
	a.maybeEnd()
}

// refuseHeld tells the sender (or, when that connection is gone, another connection of the
// account) that a held message was not sent.
func (a *account) refuseHeld(e *outEntry, reason string) {
	c := a.someConn(e.c)
	a.b.log.Warn().Str("account", a.name).Str("nick", a.nick).Str("reason", reason).Bool("told", c != nil).Msg("held message not sent")
	if c != nil {
		c.Fail("PRIVMSG", "MESSAGE_NOT_SENT", fmt.Sprintf("Message not sent (%s): %s", reason, quoteExcerpt(e.text)))
	}
}

// kickHolders asks every account with held messages to create them (Directus is back) or to
// refuse the expired ones.
func (b *Bridge) kickHolders(ctx context.Context) {
	for _, a := range b.accounts.holders() {
		a.send(func() { a.flush(ctx) })
	}
}

// runOutbox checks the held messages every second.
func (b *Bridge) runOutbox(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.wake:
		case <-tick.C:
		}
		b.kickHolders(ctx)
	}
}

// kick wakes runOutbox (Directus is back).
func (b *Bridge) kick() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Drain is the first half of a graceful shutdown, run once the IRC readers have handled what
// clients sent: new messages are refused by name, and each account creates its held messages
// (while Directus is up) or refuses them by name. It returns when all are done or ctx ends.
func (b *Bridge) Drain(ctx context.Context) {
	b.closing.Store(true)
	var wg sync.WaitGroup
	for _, a := range b.accounts.list() {
		wg.Add(1)
		if !a.send(func() { defer wg.Done(); a.drain(ctx) }) {
			wg.Done()
		}
	}
	_ = waitctx.Wait(ctx, &wg) // at the deadline the daemon aborts what is still running
}

func (a *account) drain(ctx context.Context) {
	if len(a.held) == 0 {
		return
	}
	a.flush(ctx)
	for len(a.held) > 0 {
		e := a.popHeld()
		a.b.settle(e.key)
		a.b.metrics.refused(refusedShuttingDown)
		a.refuseHeld(e, "server shutting down")
	}
	a.maybeEnd()
}

// Abort cancels every Directus request in flight and every later one: a shutdown that ran
// out of time calls it so that nothing waits for a slow or frozen Directus.
func (b *Bridge) Abort() { b.stop() }

// Close is the end of a graceful shutdown, after the IRC connections are closed: it waits
// until every account has ended (held messages done, sessions logged out, concurrently)
// or ctx ends; then what is still running is cancelled.
func (b *Bridge) Close(ctx context.Context) {
	if waitctx.Wait(ctx, &b.actors) != nil {
		b.stop()
		b.actors.Wait()
	}
	b.stop()
}
