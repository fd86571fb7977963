package bridge

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/directus-ircd/directus-ircd/directus"
)

// State is the bridge's link to Directus as an operator sees it (/readyz).
type State int

const (
	// StateStarting: not subscribed yet since the start.
	StateStarting State = iota
	// StateReady: the subscription is live.
	StateReady
	// StateUnreachable: Directus does not answer (or dropped the subscription); retried
	// within seconds of it answering again.
	StateUnreachable
	// StateTokenRejected: Directus does not accept directus.token (removed or changed);
	// retried slowly, in case an operator restores it.
	StateTokenRejected
	// StateWebSocketsDisabled: Directus answers but has no WebSocket endpoint
	// (WEBSOCKETS_ENABLED is not true); retried slowly.
	StateWebSocketsDisabled
	// StateStopping: the daemon is shutting down.
	StateStopping
)

// String is the state as /readyz reports it.
func (s State) String() string {
	switch s {
	case StateStarting:
		return "starting"
	case StateReady:
		return "ready"
	case StateUnreachable:
		return "directus unreachable"
	case StateTokenRejected:
		return "token rejected"
	case StateWebSocketsDisabled:
		return "websockets disabled"
	case StateStopping:
		return "stopping"
	}
	return fmt.Sprintf("state %d", int(s))
}

// Status is the bridge's state, why, and since when.
type Status struct {
	State State
	Err   error // the cause when not ready (no secrets), else nil
	Since time.Time
}

// stateOf classifies why the stream is down.
func stateOf(err error) State {
	switch {
	case errors.Is(err, directus.ErrWebSocketsDisabled):
		return StateWebSocketsDisabled
	case errors.Is(err, directus.ErrInvalidCredentials), errors.Is(err, directus.ErrTokenExpired):
		return StateTokenRejected
	}
	return StateUnreachable
}

// statusBox holds the current Status; changed is closed and replaced on every change of state.
type statusBox struct {
	mu      sync.Mutex
	cur     Status
	changed chan struct{}
}

// set records st and reports the previous state; Since and the change channel move only when
// the state changes.
func (x *statusBox) set(s State, err error) (prev State) {
	x.mu.Lock()
	defer x.mu.Unlock()
	prev = x.cur.State
	if x.changed == nil {
		x.changed = make(chan struct{})
	}
	x.cur.Err = err
	if s != prev || x.cur.Since.IsZero() {
		x.cur.State, x.cur.Since = s, time.Now()
		close(x.changed)
		x.changed = make(chan struct{})
	}
	return prev
}

func (x *statusBox) get() (Status, <-chan struct{}) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.changed == nil {
		x.changed = make(chan struct{})
	}
	st := x.cur
	if st.Since.IsZero() {
		st.Since = time.Now()
	}
	return st, x.changed
}

// Status reports the link to Directus: ready, or why not (for /readyz).
func (b *Bridge) Status() Status {
	st, _ := b.status.get()
	return st
}

// StatusChanged returns a channel that is closed at the next change of state.
func (b *Bridge) StatusChanged() <-chan struct{} {
	_, ch := b.status.get()
	return ch
}

// setState records a change of the link and tells operators (log) and IRC users (NOTICE).
func (b *Bridge) setState(s State, err error) {
	before := b.Status()
	prev := b.status.set(s, err)
	if s == prev {
		return
	}
	switch s {
	case StateReady:
		if prev == StateStarting {
			b.log.Info().Str("collection", b.cfg.Collection).Msg("directus subscription live")
		} else {
			b.log.Info().Stringer("outage", time.Since(before.Since).Round(time.Millisecond)).
				Str("was", prev.String()).Msg("directus reachable again; subscription live")
		}
	case StateUnreachable:
		b.log.Warn().Err(err).Msg("directus unreachable")
	case StateTokenRejected:
		b.log.Error().Err(err).Msg("Directus rejects directus.token (the bridge user's static token was removed or changed): " +
			"no messages are delivered until it is fixed; run `directus-ircd setup -config FILE` or restore the token; retrying in the background")
	case StateWebSocketsDisabled:
		b.log.Error().Err(err).Msg("Directus has WebSockets disabled: set WEBSOCKETS_ENABLED=true in Directus's configuration " +
			"and restart it; retrying in the background")
	}
	if prev == StateStarting && (s == StateReady || s == StateUnreachable) {
		return // nobody was told that Directus is there yet
	}
	if text := b.stateNotice(s); text != "" {
		b.srv.NoticeAll(text)
	}
}

// stateNotice is what IRC users are told about the link in state s ("" for nothing).
func (b *Bridge) stateNotice(s State) string {
	wait := b.cfg.QueueMaxWait
	switch s {
	case StateReady:
		return "Directus is reachable again; held messages are being sent"
	case StateUnreachable:
		return fmt.Sprintf("Directus is unreachable; messages you send are held for up to %s and sent when it is back", wait)
	case StateTokenRejected:
		return fmt.Sprintf("Directus rejects this server's token, so no messages can be delivered; messages you send are held "+
			"for up to %s. The operator has to fix the server's token (directus.token).", wait)
	case StateWebSocketsDisabled:
		return fmt.Sprintf("Directus has WebSockets turned off, so this server cannot receive messages; messages you send are "+
			"held for up to %s. The operator has to enable WebSockets in Directus.", wait)
	}
	return ""
}

// joinNotice tells a user who joins while the link is down why (the NOTICE at the change
// reached only those on the channel then).
func (b *Bridge) joinNotice(c interface{ Notice(string) }) {
	switch s := b.Status().State; s {
	case StateUnreachable, StateTokenRejected, StateWebSocketsDisabled:
		c.Notice(b.stateNotice(s))
	}
}
