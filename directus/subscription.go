package directus

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
)

// Subscription delivers the events of one subscribe request, in order, on a
// bounded channel (Config.EventBuffer). The first event is always the init
// event. When the consumer stalls and the buffer is full, the subscription
// ends (the channel closes, Err is ErrSlowConsumer) rather than blocking the
// connection or dropping events silently: the consumer must re-subscribe and
// back-fill. The channel also closes when the connection ends (Err wraps
// ErrDisconnected), when Directus reports an error for the subscription (for
// example FORBIDDEN after the read permission was revoked: that event is
// lost) and after Unsubscribe (Err is nil).
type Subscription struct {
	k          *Conn
	uid        string
	collection string
	events     chan Event

	mu      sync.Mutex
	ended   bool
	err     error
	counted bool // in Client.subs: established and not yet ended
}

// Subscribe subscribes to collection with q and returns once Directus has
// sent the init event (the first event on Events). Mind Directus's default
// limit of 100 for init; Limit 0 subscribes without history.
func (k *Conn) Subscribe(ctx context.Context, collection string, q Query) (*Subscription, error) {
	s := &Subscription{k: k, uid: k.newUID("s"), collection: collection, events: make(chan Event, k.c.cfg.EventBuffer)}
	op := "ws subscribe " + collection
	if err := k.addSub(s, op); err != nil {
		return nil, err
	}
	_, err := k.request(ctx, op, outFrame{Type: "subscribe", UID: s.uid, Collection: collection, Query: &q})
	if err != nil {
		k.removeSub(s.uid)
		s.end(err)
		k.enqueueNoWait(unsubscribeFrame(s.uid)) // in case Directus subscribed after all
		return nil, err
	}
	s.mu.Lock()
	if !s.ended { // it may have ended already, e.g. with its connection
		s.counted = true
		k.c.subs.Add(1)
	}
	s.mu.Unlock()
	return s, nil
}

// Events returns the event channel; it is closed when the subscription ends.
func (s *Subscription) Events() <-chan Event { return s.events }

// Err returns why the event channel closed (nil while open and after Unsubscribe).
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Unsubscribe ends the subscription and tells Directus.
func (s *Subscription) Unsubscribe(ctx context.Context) error {
	s.k.removeSub(s.uid)
	s.end(nil)
	_, err := s.k.request(ctx, "ws unsubscribe "+s.collection, outFrame{Type: "unsubscribe", UID: s.uid})
	if err != nil {
		return fmt.Errorf("unsubscribe %s: %w", s.collection, err)
	}
	return nil
}

// deliver queues e without blocking; on a full buffer the subscription ends.
func (s *Subscription) deliver(e Event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return true
	}
	select {
	case s.events <- e:
		return true
	default:
		s.endLocked(&Error{Op: "subscription " + s.collection, Err: ErrSlowConsumer})
		return false
	}
}

func (s *Subscription) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endLocked(err)
}

func (s *Subscription) endLocked(err error) {
	if s.ended {
		return
	}
	s.ended, s.err = true, err
	if s.counted {
		s.counted = false
		s.k.c.subs.Add(-1)
	}
	close(s.events)
}

func (k *Conn) addSub(s *Subscription, op string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err != nil {
		return &Error{Op: op, Err: fmt.Errorf("%w: %w", ErrDisconnected, k.err)}
	}
	k.subs[s.uid] = s
	return nil
}

func (k *Conn) removeSub(uid string) *Subscription {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.subs[uid]
	delete(k.subs, uid)
	return s
}

func (k *Conn) sub(uid string) *Subscription {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.subs[uid]
}

func unsubscribeFrame(uid string) []byte {
	b, _ := json.Marshal(outFrame{Type: "unsubscribe", UID: uid})
	return b
}

// dispatchSubscription routes a "subscription" frame: the reply to a
// subscribe (init) or unsubscribe request, or an event.
func (k *Conn) dispatchSubscription(f inFrame) {
	if f.Event == "unsubscribe" {
		k.complete(f.uid, f)
		return
	}
	s := k.sub(f.uid)
	if s == nil {
		k.log.Debug().Str("uid", f.uid).Str("event", f.Event).Msg("directus: event for no subscription dropped")
		return
	}
	e, err := decodeEvent(f)
	if err != nil {
		k.removeSub(s.uid)
		s.end(protocolError("subscription "+s.collection, "%v", err))
		k.enqueueNoWait(unsubscribeFrame(s.uid))
		return
	}
	if !s.deliver(e) {
		k.log.Warn().Str("collection", s.collection).Int("buffer", cap(s.events)).
			Msg("directus: subscription consumer stalled; subscription ended")
		k.removeSub(s.uid)
		k.enqueueNoWait(unsubscribeFrame(s.uid))
	}
	if e.Kind == EventInit {
		k.complete(f.uid, f)
	}
}

// failSubscription ends an established subscription on an error frame for
// it (an event was lost). It reports whether uid was a subscription.
func (k *Conn) failSubscription(uid string, se serverError) bool {
	s := k.removeSub(uid)
	if s == nil {
		return false
	}
	k.log.Warn().Str("collection", s.collection).Str("code", se.Code).Msg("directus: subscription error; subscription ended")
	s.end(newServerError("subscription "+s.collection, 0, se))
	k.enqueueNoWait(unsubscribeFrame(uid))
	return true
}
