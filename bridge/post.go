package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/ircd"
)

// Post implements ircd.Backend: a channel message becomes one item created as its sender,
// on the sender's account goroutine (so one account's messages are created in the order
// sent, after any held ones). It returns the stored message, which ircd delivers to the
// channel and echoes to the sender (a PING after the PRIVMSG is answered after both).
func (b *Bridge) Post(ctx context.Context, c *ircd.Client, out ircd.Outgoing) (ircd.Posted, error) {
	a := acctOf(c)
	if a == nil {
		b.metrics.refused(refusedNotLoggedIn)
		return ircd.Posted{}, &ircd.UserError{Text: "Not logged in"}
	}
	if a.guest && !b.cfg.GuestsMayPost {
		b.metrics.refused(refusedGuest)
		return ircd.Posted{}, &ircd.UserError{Text: "Guests may read but not write here; log in with SASL to write"}
	}
	e := b.newEntry(a, c, out)
	var res ircd.Posted
	var err error
	if !a.call(func() { res, err = a.post(e) }) {
		b.metrics.refused(refusedSessionEnded)
		return ircd.Posted{}, &ircd.UserError{Text: "Your session has ended; message not sent: " + quoteExcerpt(e.text)}
	}
	return res, namingMessage(err, e.text)
}

// namingMessage makes a refusal name the message it refuses, so that a client that sent
// many lines knows which one was not stored.
func namingMessage(err error, text string) error {
	var ue *ircd.UserError
	if err == nil || !errors.As(err, &ue) || strings.Contains(ue.Text, "message not sent:") ||
		strings.Contains(ue.Text, "may not have been stored:") {
		return err
	}
	named := *ue
	named.Text += "; message not sent: " + quoteExcerpt(text)
	return &named
}

// post creates e now, or holds it while Directus is away or older messages wait. Runs on
// the account's goroutine.
func (a *account) post(e *outEntry) (ircd.Posted, error) {
	b := a.b
	if b.closing.Load() {
		b.metrics.refused(refusedShuttingDown)
		return ircd.Posted{}, &ircd.UserError{Text: "Server shutting down; message not sent: " + quoteExcerpt(e.text)}
	}
	if !b.online.Load() || len(a.held) > 0 {
		return a.hold(e)
	}
	it, err := a.create(e)
	switch {
	case err == nil:
		m, fresh := b.claimCreated(it)
		b.settle(e.key)
		return ircd.Posted{Result: ircd.Stored, Message: &m, AlreadyDelivered: !fresh}, nil
	case isTransient(err):
		e.maybeSent = true
		return a.hold(e)
	default:
		b.metrics.refused(createRefusal(err))
		b.settle(e.key)
		return ircd.Posted{}, err
	}
}

// outEntry is a message on its way to Directus.
type outEntry struct {
	c         *ircd.Client // the sending connection (it may be gone by the time it is created)
	text      string
	guestNick string
	notice    bool      // sent as NOTICE: fanned out live as a NOTICE
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

func (b *Bridge) newEntry(a *account, c *ircd.Client, out ircd.Outgoing) *outEntry {
	text := outText(out)
	e := &outEntry{c: c, text: text, key: newKey(), at: time.Now(), notice: out.Command == "NOTICE"}
	if a.guest {
		e.guestNick = c.Nick()
		e.text = "<" + e.guestNick + "> " + text // readable on the guide's page, which shows the bridge user as author
	}
	return e
}

// create makes the item, with the account's own token (so user_created is the sender and the
// sender's permissions apply), or with the service token for a guest. A create whose reply
// did not arrive may still have happened: it is looked up by its irc_key rather than
// repeated. The key stays pending until the item is delivered or refused, so a create that
// timed out and then arrives by the subscription is not echoed to its sender.
func (a *account) create(e *outEntry) (_ item, err error) {
	b := a.b
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
	b.delivery.addPending(e.key, pendingSend{notice: e.notice})
	raw, err := a.createOverSocket(ctx, data)
	if err == nil {
		it, err := decodeItem(raw)
		it.Notice = e.notice
		return it, err
	}
	if errors.Is(err, directus.ErrInvalidCredentials) || errors.Is(err, directus.ErrTokenExpired) {
		return item{}, a.sessionError(e.c, err)
	}
	if b.life.Err() != nil { // a shutdown ran out of time and cancelled the request
		return item{}, &ircd.UserError{Text: "Server shutting down before Directus answered; the message may not have been stored: " + quoteExcerpt(e.text), Cause: err}
	}
	// Directus creates the row before re-reading it with the author's rights (docs/DIRECTUS-PROTOCOL.md
	// §5), so FORBIDDEN, like a lost reply, does not mean "not created".
	if it, found, lerr := b.lookupKey(ctx, e.key); lerr == nil && found {
		it.Notice = e.notice
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

// createOverSocket creates over the account's own socket, authenticated with its current
// token (the service token for a guest).
func (a *account) createOverSocket(ctx context.Context, data map[string]any) (json.RawMessage, error) {
	b := a.b
	token, err := a.accessToken(ctx)
	if err != nil {
		return nil, err
	}
	return a.ws.create(ctx, b.dc, token, a.static, b.cfg.Collection, data, itemFields)
}

// sessionError handles a user token that Directus no longer accepts: the user was
// suspended, deleted or changed their password, which ends their Directus sessions.
func (a *account) sessionError(c *ircd.Client, err error) error {
	if isTransient(err) {
		return err
	}
	if errors.Is(err, directus.ErrInvalidCredentials) || errors.Is(err, directus.ErrTokenExpired) {
		const reason = "Your Directus session has ended (password changed, account suspended or deleted); please log in again"
		a.b.revoke(a, reason, c) // the user's other connections
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
