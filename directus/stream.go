package directus

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rs/zerolog"
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
	// attempts in between are logged, and reported to a StreamRetrier.
	Disconnected(err error)
}

// StreamRetrier may be implemented by a StreamHandler to learn why the stream is down.
// RunStream calls Retrying after every failed attempt and after every drop (after
// Disconnected), from the same goroutine as the other methods, with the cause and the time
// until the next attempt. errors.Is(err, ErrInvalidCredentials) means Directus rejects the
// credentials, ErrWebSocketsDisabled that it has no WebSocket endpoint: both are retried
// only every Config.RefusedRetry. Anything else is transient.
type StreamRetrier interface {
	Retrying(err error, in time.Duration)
}

// RunStream keeps a subscription to collection alive until ctx ends: dial,
// authenticate, subscribe, Connected, events; after a drop Disconnected,
// then reconnect. Reconnects use an exponential backoff with jitter between
// Config.ReconnectMin and ReconnectMax (reset after a successful connect);
// while Directus is unreachable, GET /server/ping is probed every
// Config.ProbeInterval and the next attempt starts as soon as Directus
// answers again. A refusal (credentials rejected, WebSockets disabled) is
// retried every Config.RefusedRetry. A session (email/password or refresh
// token) is shared across reconnects, so reconnecting does not log in again
// while the session is valid. It returns ctx's error, or at once an error
// for invalid credentials form.
func (c *Client) RunStream(ctx context.Context, cred Credentials, collection string, q Query, h StreamHandler) error {
	if err := cred.validate(); err != nil {
		return err
	}
	sess := c.newSession(cred)
	r := retrier{cfg: &c.cfg, b: backoff{min: c.cfg.ReconnectMin, max: c.cfg.ReconnectMax}}
	for {
		connected, err := c.streamOnce(ctx, sess, collection, q, h)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		delay, probe := r.next(connected, err)
		r.log(c.log, err, delay, collection)
		if hr, ok := h.(StreamRetrier); ok {
			hr.Retrying(err, delay)
		}
		early, err := c.awaitRetry(ctx, delay, probe, !r.early)
		if err != nil {
			return err
		}
		r.early = early
	}
}

// retrier decides when RunStream tries again.
type retrier struct {
	cfg      *Config
	b        backoff
	attempt  int    // failed attempts since the last connect
	refusals int    // consecutive refusals
	early    bool   // the last wait ended early on a probe
	lastKind string // the cause's class at the last warning, to log changes
}

// next returns the delay before the next attempt and whether to probe meanwhile.
func (r *retrier) next(connected bool, err error) (time.Duration, bool) {
	if connected {
		r.b.reset()
		r.attempt, r.refusals, r.early = 0, 0, false
	}
	r.attempt++
	if Refused(err) {
		// The first refusal is retried as usual (Directus may be half-started behind a
		// proxy); then only now and then, until an operator fixes it.
		r.refusals++
		if r.refusals > 1 {
			return jitter(r.cfg.RefusedRetry), false
		}
		return r.b.next(), false
	}
	r.refusals = 0
	return r.b.next(), errors.Is(err, ErrUnreachable) || errors.Is(err, ErrDisconnected)
}

// log warns on the first failure and whenever the kind of cause changes; repeats go to debug.
func (r *retrier) log(l zerolog.Logger, err error, delay time.Duration, collection string) {
	kind := "transient"
	switch {
	case errors.Is(err, ErrInvalidCredentials):
		kind = "credentials"
	case errors.Is(err, ErrWebSocketsDisabled):
		kind = "websockets"
	}
	lvl := zerolog.DebugLevel
	if r.attempt == 1 || kind != r.lastKind {
		lvl = zerolog.WarnLevel
	}
	r.lastKind = kind
	l.WithLevel(lvl).Err(err).Int("attempt", r.attempt).Stringer("retry_in", delay).Str("collection", collection).
		Msg("directus stream: not connected")
}

// Refused reports whether err means that Directus refuses the client until an operator acts:
// the credentials are rejected or expired, or WebSockets are disabled.
func Refused(err error) bool {
	return errors.Is(err, ErrInvalidCredentials) || errors.Is(err, ErrTokenExpired) || errors.Is(err, ErrWebSocketsDisabled)
}

// awaitRetry waits delay. With probe (Directus was unreachable) it asks GET /server/ping every
// ProbeInterval and returns early (early true) once Directus answers after having been down.
// wasDown counts the failed attempt as "down"; RunStream passes false after a wait that ended
// early, so that when Directus answers pings but the WebSocket keeps failing, attempts fall
// back to the backoff instead of following the probes.
func (c *Client) awaitRetry(ctx context.Context, delay time.Duration, probe, wasDown bool) (early bool, err error) {
	timer := time.NewTimer(delay)
	defer timer.Stop()
	var tick <-chan time.Time
	if probe {
		t := time.NewTicker(c.cfg.ProbeInterval)
		defer t.Stop()
		tick = t.C
	}
	down := wasDown
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-timer.C:
			return false, nil
		case <-tick:
			if !c.probe(ctx) {
				down = true
			} else if down {
				return true, nil
			}
		}
	}
}

// probe reports whether Directus answers GET /server/ping within a short timeout.
func (c *Client) probe(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, min(time.Second, c.cfg.DialTimeout))
	defer cancel()
	return c.Ping(ctx) == nil
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
	return jitter(b.cur)
}

func (b *backoff) reset() { b.cur = 0 }

// jitter returns a delay between half and all of d.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}
