package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/ircd"
)

// Post implements ircd.Backend: a channel message becomes one item created as its sender.
// It runs in the sender's command loop, so when it returns Delivered the other clients
// already have the message queued (a PING after the PRIVMSG is answered after it).
func (b *Bridge) Post(ctx context.Context, c *ircd.Client, out ircd.Outgoing) (ircd.PostResult, error) {
	s := sessionOf(c)
	if s == nil {
		b.metrics.refused(refusedNotLoggedIn)
		return 0, &ircd.UserError{Text: "Not logged in"}
	}
	b.posting.RLock() // Drain waits for the Posts that got past this point
	defer b.posting.RUnlock()
	if b.closing.Load() {
		b.metrics.refused(refusedShuttingDown)
		return 0, &ircd.UserError{Text: "Server shutting down; message not sent: " + quoteExcerpt(outText(out))}
	}
	if s.guest && !b.cfg.GuestsMayPost {
		b.metrics.refused(refusedGuest)
		return 0, &ircd.UserError{Text: "Guests may read but not write here; log in with SASL to write"}
	}
	e := b.newEntry(s, c, out)
	if !b.online.Load() || b.outbox.hasFor(s) {
		// Directus is away, or older messages of this sender wait: keep the order.
		return b.enqueue(e)
	}
	it, err := b.create(e)
	switch {
	case err == nil:
		b.deliverCreate(it, c, false)
		return ircd.Delivered, nil
	case isTransient(err):
		e.maybeSent = true
		return b.enqueue(e)
	default:
		b.metrics.refused(createRefusal(err))
		return 0, err
	}
}

// outEntry is a message on its way to Directus.
type outEntry struct {
	s         *session
	c         *ircd.Client
	text      string
	guestNick string
	key       string    // idempotency key, stored in irc_key
	at        time.Time // when the user sent it
	maybeSent bool      // a create was sent and its reply lost: look before creating again
}

// outText is how a channel message is stored: an ACTION as "/me ...".
func outText(out ircd.Outgoing) string {
	if out.Action {
		return actionPrefix + out.Text
	}
	return out.Text
}

func (b *Bridge) newEntry(s *session, c *ircd.Client, out ircd.Outgoing) *outEntry {
	text := outText(out)
	e := &outEntry{s: s, c: c, text: text, key: newKey(), at: time.Now()}
	if s.guest {
		e.guestNick = c.Nick()
		e.text = "<" + e.guestNick + "> " + text // readable on the guide's page, which shows the bridge user as author
	}
	return e
}

func (b *Bridge) enqueue(e *outEntry) (ircd.PostResult, error) {
	if err := b.outbox.push(e); err != nil {
		b.metrics.refused(refusedQueueFull)
		return 0, &ircd.UserError{Text: "Directus is unreachable and " + err.Error() + "; message not sent: " + quoteExcerpt(e.text)}
	}
	b.outbox.kick()
	return ircd.Queued, nil
}

// create makes the item, with the sender's own token (so user_created is the sender and the
// sender's permissions apply), or with the service token for a guest. A create whose reply
// did not arrive may still have happened: it is looked up by its irc_key rather than repeated.
func (b *Bridge) create(e *outEntry) (_ item, err error) {
	defer b.metrics.created(time.Now(), &err)
	ctx, cancel := b.requestContext()
	defer cancel()
	if e.maybeSent {
		if it, found, err := b.lookupKey(ctx, e.key); err != nil || found {
			return it, err
		}
	}
	data := map[string]any{"text": e.text, "irc_key": e.key}
	if e.guestNick != "" {
		data["irc_nick"] = e.guestNick
	}
	b.delivery.addPending(e.key, e.c)
	defer b.delivery.removePending(e.key)
	raw, err := b.createAs(ctx, e.s, data)
	if err == nil {
		return decodeItem(raw)
	}
	if errors.Is(err, directus.ErrInvalidCredentials) || errors.Is(err, directus.ErrTokenExpired) {
		return item{}, b.sessionError(e.s, err)
	}
	// Directus creates the row before re-reading it with the author's rights (PROTOCOL.md
	// §5), so FORBIDDEN, like a lost reply, does not mean "not created".
	if it, found, lerr := b.lookupKey(ctx, e.key); lerr == nil && found {
		return it, nil
	}
	if isTransient(err) {
		return item{}, err
	}
	return item{}, &ircd.UserError{Text: "Directus refused the message: " + directusReason(err), Cause: err}
}

func (b *Bridge) lookupKey(ctx context.Context, key string) (item, bool, error) {
	raws, err := b.dc.ReadItems(ctx, b.cfg.ServiceToken, b.cfg.Collection, directus.Query{
		Fields: itemFields, Filter: map[string]any{"irc_key": map[string]any{"_eq": key}}, Limit: intp(1),
	})
	if err != nil || len(raws) == 0 {
		return item{}, false, err
	}
	it, err := decodeItem(raws[0])
	return it, err == nil, err
}

// createAs creates over the session's own socket: the user's token for an account, the
// service token (on the bridge's shared guest socket) for a guest.
func (b *Bridge) createAs(ctx context.Context, s *session, data map[string]any) (json.RawMessage, error) {
	if s.guest {
		return b.guestWS.create(ctx, b.dc, b.cfg.ServiceToken, b.cfg.ServiceToken, b.cfg.Collection, data, itemFields)
	}
	token, err := s.accessToken(ctx, b.dc)
	if err != nil {
		return nil, err
	}
	return s.ws.create(ctx, b.dc, token, s.static, b.cfg.Collection, data, itemFields)
}

// sessionError handles a user token that Directus no longer accepts: the user was
// suspended, deleted or changed their password, which ends their Directus sessions.
func (b *Bridge) sessionError(s *session, err error) error {
	if isTransient(err) {
		return err
	}
	if errors.Is(err, directus.ErrInvalidCredentials) || errors.Is(err, directus.ErrTokenExpired) {
		const reason = "Your Directus session has ended (password changed, account suspended or deleted); please log in again"
		b.revoke(s.userID, reason, s) // the user's other connections
		return &ircd.UserError{Text: "Your Directus session has ended; message not sent", Cause: err, Disconnect: reason}
	}
	return &ircd.UserError{Text: "Directus refused the message: " + directusReason(err), Cause: err}
}

// isTransient says whether err may go away by itself: Directus unreachable or too slow, or
// the socket dropped with the request in flight.
func isTransient(err error) bool {
	return errors.Is(err, directus.ErrUnreachable) || errors.Is(err, directus.ErrDisconnected) ||
		errors.Is(err, context.DeadlineExceeded)
}

func directusReason(err error) string {
	var de *directus.Error
	if errors.As(err, &de) && de.Message != "" {
		return de.Message
	}
	return "request failed"
}

func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func quoteExcerpt(s string) string { return `"` + excerpt(s, 60) + `"` }
