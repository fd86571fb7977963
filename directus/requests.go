package directus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// pending is a request waiting for its reply.
type pending struct {
	typ   string // frame type sent, for replies without uid
	seq   uint64
	reply chan inFrame // capacity 1
}

// request sends out (with a fresh uid unless it has one) and waits for the
// frame that answers it. An error frame becomes an *Error.
func (k *Conn) request(ctx context.Context, op string, out outFrame) (inFrame, error) {
	n := k.seq.Add(1)
	if out.UID == "" {
		out.UID = "r" + strconv.FormatUint(n, 10)
	}
	p := &pending{typ: out.Type, seq: n, reply: make(chan inFrame, 1)}
	if err := k.addPending(out.UID, p, op); err != nil {
		return inFrame{}, err
	}
	defer k.dropPending(out.UID)
	b, err := json.Marshal(out)
	if err != nil {
		return inFrame{}, &Error{Op: op, Err: fmt.Errorf("encode: %w", err)}
	}
	ctx, cancel := k.c.withTimeout(ctx)
	defer cancel()
	if err := k.enqueue(ctx, op, b); err != nil {
		return inFrame{}, err
	}
	k.log.Trace().Str("op", op).Str("uid", out.UID).Msg("directus request sent")
	return k.await(ctx, op, p)
}

// await waits for p's reply. A reply that arrived together with the
// connection's end (an auth failure, say) wins over the disconnect.
func (k *Conn) await(ctx context.Context, op string, p *pending) (inFrame, error) {
	reply := func(f inFrame) (inFrame, error) {
		if f.failed() {
			return f, newServerError(op, 0, f.serverError())
		}
		return f, nil
	}
	select {
	case f := <-p.reply:
		return reply(f)
	case <-ctx.Done():
		return inFrame{}, &Error{Op: op, Err: ctx.Err()}
	case <-k.done:
		select {
		case f := <-p.reply:
			return reply(f)
		default:
			return inFrame{}, k.disconnected(op)
		}
	}
}

func (k *Conn) addPending(uid string, p *pending, op string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err != nil {
		return &Error{Op: op, Err: fmt.Errorf("%w: %w", ErrDisconnected, k.err)}
	}
	k.pending[uid] = p
	return nil
}

func (k *Conn) dropPending(uid string) {
	k.mu.Lock()
	delete(k.pending, uid)
	k.mu.Unlock()
}

// complete hands f to the request waiting for uid, if any.
func (k *Conn) complete(uid string, f inFrame) bool {
	k.mu.Lock()
	p := k.pending[uid]
	delete(k.pending, uid)
	k.mu.Unlock()
	if p == nil {
		return false
	}
	p.reply <- f
	return true
}

// completeOldest hands a uid-less error frame to the oldest pending request
// of the same frame type: Directus drops the uid from schema-validation
// errors of subscribe and from auth handshake failures.
func (k *Conn) completeOldest(f inFrame) bool {
	k.mu.Lock()
	var uid string
	var oldest *pending
	for u, p := range k.pending {
		if p.typ == f.Type && (oldest == nil || p.seq < oldest.seq) {
			uid, oldest = u, p
		}
	}
	k.mu.Unlock()
	return oldest != nil && k.complete(uid, f)
}

// dispatch routes one frame read from the socket.
func (k *Conn) dispatch(f inFrame) {
	if ev := k.log.Trace(); ev.Enabled() {
		for _, kv := range [][2]string{{"type", f.Type}, {"uid", f.uid}, {"event", f.Event}, {"status", f.Status}} {
			if kv[1] != "" {
				ev = ev.Str(kv[0], kv[1])
			}
		}
		if f.Error != nil {
			ev = ev.Str("code", f.Error.Code)
		}
		ev.Msg("directus frame received")
	}
	switch {
	case f.Type == "ping":
		k.enqueueNoWait(pongFrame(f.uid))
	case f.Type == "pong":
	case f.Type == "subscription":
		k.dispatchSubscription(f)
	case f.uid != "" && k.complete(f.uid, f):
	case f.failed():
		k.dispatchError(f)
	default:
		k.log.Debug().Str("type", f.Type).Str("uid", f.uid).Msg("directus: unexpected frame ignored")
	}
}

func pongFrame(uid string) []byte {
	b, _ := json.Marshal(outFrame{Type: "pong", UID: uid})
	return b
}

// dispatchError handles an error frame no pending request claimed by uid.
func (k *Conn) dispatchError(f inFrame) {
	se := f.serverError()
	switch {
	case f.Type == "auth" && f.uid == "":
		// TOKEN_EXPIRED: the socket fell back to public rights and events
		// are being lost; AUTH_FAILED / AUTH_TIMEOUT: Directus closes it.
		k.completeOldest(f)
		k.shutdown(newServerError("ws auth", 0, se))
	case f.Type == "subscribe" && k.failSubscription(f.uid, se):
	case f.uid == "" && k.completeOldest(f):
	default:
		k.log.Warn().Str("type", f.Type).Str("uid", f.uid).Str("code", se.Code).Str("message", se.Message).
			Msg("directus: error frame for no pending request")
	}
}

// Create creates one item (data is an object) or several (an array) and
// returns Directus's reply data, read with q (nil: all fields). A FORBIDDEN
// reply does not prove that nothing was created (docs/DIRECTUS-PROTOCOL.md §5).
func (k *Conn) Create(ctx context.Context, collection string, data any, q *Query) (json.RawMessage, error) {
	if data == nil {
		return nil, errors.New("create: data is nil")
	}
	f, err := k.items(ctx, "create", collection, outFrame{Data: data, Query: q})
	return f.Data, err
}

// Read reads the items of collection that match q.
func (k *Conn) Read(ctx context.Context, collection string, q Query) ([]json.RawMessage, error) {
	f, err := k.items(ctx, "read", collection, outFrame{Query: &q})
	if err != nil {
		return nil, err
	}
	return asArray(f.Data)
}

// Update applies data to the items ids and returns them, read with q.
func (k *Conn) Update(ctx context.Context, collection string, ids []string, data any, q *Query) ([]json.RawMessage, error) {
	if len(ids) == 0 || data == nil {
		return nil, errors.New("update: needs ids and data")
	}
	f, err := k.items(ctx, "update", collection, outFrame{IDs: ids, Data: data, Query: q})
	if err != nil {
		return nil, err
	}
	return asArray(f.Data)
}

// Delete deletes the items ids.
func (k *Conn) Delete(ctx context.Context, collection string, ids ...string) error {
	if len(ids) == 0 {
		return errors.New("delete: no ids")
	}
	_, err := k.items(ctx, "delete", collection, outFrame{IDs: ids})
	return err
}

func (k *Conn) items(ctx context.Context, action, collection string, out outFrame) (inFrame, error) {
	op := "ws items " + action + " " + collection
	if collection == "" {
		return inFrame{}, errors.New(op + ": no collection")
	}
	out.Type, out.Action, out.Collection = "items", action, collection
	return k.request(ctx, op, out)
}
