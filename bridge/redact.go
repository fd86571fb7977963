package bridge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/ircd"
)

// Redact implements ircd.Redactor: REDACT deletes the item in Directus as the user, so
// Directus's permissions decide (setup -allow-redact grants chat users delete). Because an
// unlicensed Directus 12 cannot limit delete to one's own items, the bridge also allows only
// the author's own messages unless the user has Directus admin access. Costs: one read of
// the item and one delete with the user's token (plus one read of the user's policy flags
// for someone else's message).
func (b *Bridge) Redact(_ context.Context, c *ircd.Client, msgid, reason string) error {
	a := acctOf(c)
	switch {
	case a == nil:
		return &ircd.UserError{Text: "Not logged in", Cause: ircd.ErrRedactForbidden}
	case a.guest:
		return &ircd.UserError{Text: "Guests cannot delete messages", Cause: ircd.ErrRedactForbidden}
	case !isDigits(msgid):
		return &ircd.UserError{Text: "No message with that msgid", Cause: ircd.ErrUnknownMsgID}
	}
	// Not tied to the connection: a delete that was sent is seen through (and announced)
	// even if its sender disconnects meanwhile.
	ctx, cancel := b.requestContext()
	defer cancel()
	token, err := a.accessToken(ctx)
	if err != nil {
		return &ircd.UserError{Text: "Your Directus session cannot be used: " + directusReason(err), Cause: err}
	}
	raws, err := b.dc.ReadItems(ctx, token, b.cfg.Collection, directus.Query{
		Fields: []string{"id", "user_created"}, Filter: map[string]any{"id": map[string]any{"_eq": msgid}}, Limit: intp(1),
	})
	if err != nil {
		return &ircd.UserError{Text: "Directus refused to read the message: " + directusReason(err), Cause: err}
	}
	if len(raws) == 0 {
		return &ircd.UserError{Text: "No message with that msgid is visible to you", Cause: ircd.ErrUnknownMsgID}
	}
	it, err := decodeItem(raws[0])
	if err != nil {
		return err
	}
	if it.Author.ID != a.userID {
		admin, err := b.isAdmin(ctx, token)
		switch {
		case err != nil:
			return &ircd.UserError{Text: "Directus did not say whether you may delete others' messages: " + directusReason(err), Cause: err}
		case !admin:
			return &ircd.UserError{Text: "You may delete only your own messages", Cause: ircd.ErrRedactForbidden}
		}
	}
	r := ircd.Redaction{ID: msgid, Nick: c.Nick(), Account: c.Account(), Reason: reason}
	b.redactions.begin(r)
	path := "/items/" + url.PathEscape(b.cfg.Collection) + "/" + url.PathEscape(msgid)
	if err := b.dc.Do(ctx, token, http.MethodDelete, path, nil, nil); err != nil {
		b.redactions.abort(msgid)
		var de *directus.Error
		if errors.As(err, &de) && de.Code == "FORBIDDEN" {
			return &ircd.UserError{Text: "Directus does not let you delete messages (see setup -allow-redact)", Cause: errors.Join(ircd.ErrRedactForbidden, err)}
		}
		return &ircd.UserError{Text: "Directus did not delete the message: " + directusReason(err), Cause: err}
	}
	b.deliverDelete(msgid)
	return nil
}

// isAdmin asks Directus whether the token's user has admin access (from any of its policies).
func (b *Bridge) isAdmin(ctx context.Context, token string) (bool, error) {
	var globals struct {
		AdminAccess bool `json:"admin_access"`
	}
	if err := b.dc.Do(ctx, token, http.MethodGet, "/policies/me/globals", nil, &globals); err != nil {
		return false, fmt.Errorf("read policy globals: %w", err)
	}
	return globals.AdminAccess, nil
}

// maxRedactions bounds the ids remembered as announced deleted.
const maxRedactions = 10000

// redactions remembers deletes made from IRC, so that the subscription's delete event (which
// carries only the id, and may come before or after the REST reply) is announced once, from
// the user who deleted it.
type redactions struct {
	mu      sync.Mutex
	pending map[string]ircd.Redaction // deletes in flight, by id
	done    map[string]struct{}       // ids announced
	order   []string
}

func newRedactions() *redactions {
	return &redactions{pending: map[string]ircd.Redaction{}, done: map[string]struct{}{}}
}

func (r *redactions) begin(red ircd.Redaction) {
	r.mu.Lock()
	r.pending[red.ID] = red
	r.mu.Unlock()
}

func (r *redactions) abort(id string) {
	r.mu.Lock()
	delete(r.pending, id)
	r.mu.Unlock()
}

// claim returns how to announce the delete of id (who made it, if it came from IRC), or false
// when it was announced already.
func (r *redactions) claim(id string) (ircd.Redaction, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.done[id]; ok {
		return ircd.Redaction{}, false
	}
	red, ok := r.pending[id]
	if !ok {
		red = ircd.Redaction{ID: id}
	}
	delete(r.pending, id)
	r.done[id] = struct{}{}
	r.order = append(r.order, id)
	if len(r.order) > maxRedactions {
		delete(r.done, r.order[0])
		r.order = r.order[1:]
	}
	return red, true
}
