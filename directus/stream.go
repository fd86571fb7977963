package directus

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// StreamHandler receives a RunStream's connections and events. RunStream
// calls its methods from one goroutine, one at a time.
type StreamHandler interface {
	// Connected is called after every (re)connect and subscribe with the
	// init event, before any live event of that connection is passed to
	// Event: back-fill here (e.g. k.Read with id > last seen). Live events
	// arriving meanwhile are buffered (Config.EventBuffer). An error counts
	// as a drop: RunStream reconnects.
	Connected(ctx context.Context, k *Conn, init Event) error
	// Event is called for each live event, in order.
	Event(e Event)
	// Disconnected is called once for each connection that reached
	// Connected, when it ends (also when ctx ends). Failed connection
	// attempts in between are logged, not reported.
	Disconnected(err error)
}

// RunStream keeps a subscription to collection alive until ctx ends: dial,
// authenticate, subscribe, Connected, events; after a drop Disconnected,
// then reconnect after an exponential backoff with jitter between
// Config.ReconnectMin and ReconnectMax (reset after a successful connect).
// A session (email/password or refresh token) is shared across reconnects,
// so reconnecting does not log in again while the session is valid. It
// returns ctx's error, or at once an error for invalid credentials form.
func (c *Client) RunStream(ctx context.Context, cred Credentials, collection string, q Query, h StreamHandler) error {
	if err := cred.validate(); err != nil {
		return err
	}
	sess := c.newSession(cred)
	b := backoff{min: c.cfg.ReconnectMin, max: c.cfg.ReconnectMax}
	for attempt := 1; ; attempt++ {
		connected, err := c.streamOnce(ctx, sess, collection, q, h)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if connected {
			b.reset()
			attempt = 1
		}
		delay := b.next()
		c.log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", delay).Str("collection", collection).
			Msg("directus stream: disconnected")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

// streamOnce runs one connection. connected reports whether Connected was
// called (and so Disconnected too).
func (c *Client) streamOnce(ctx context.Context, sess *session, collection string, q Query, h StreamHandler) (connected bool, err error) {
	k, err := c.dial(ctx, sess)
	if err != nil {
		return false, err
	}
	defer func() {
		k.Close()
		if connected {
			h.Disconnected(err)
		}
	}()
	sub, err := k.Subscribe(ctx, collection, q)
	if err != nil {
		return false, fmt.Errorf("subscribe %s: %w", collection, err)
	}
	init, ok := <-sub.Events()
	if !ok || init.Kind != EventInit {
		return false, protocolError("stream "+collection, "subscription did not start with init")
	}
	if err := h.Connected(ctx, k, init); err != nil {
		return true, fmt.Errorf("stream %s: connected handler: %w", collection, err)
	}
	return true, pump(ctx, sub, h)
}

func pump(ctx context.Context, sub *Subscription, h StreamHandler) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-sub.Events():
			if !ok {
				if err := sub.Err(); err != nil {
					return err
				}
				return errors.New("subscription ended")
			}
			h.Event(e)
		}
	}
}

// backoff is exponential backoff with "equal jitter": a delay between half
// and all of the current step.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	half := b.cur / 2
	return half + rand.N(half+1)
}

func (b *backoff) reset() { b.cur = 0 }
