package bridge

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/ircd"
)

// History implements ircd.HistoryBackend: a CHATHISTORY query is one read of the collection
// (AROUND: two, one each side) with the requesting user's own token (a guest's with the
// service token), so Directus's permissions decide what the user sees. Messages are ordered
// by id: ids are given by Directus in creation order, and a msgid is an item id, so a msgid
// bound needs no lookup. A msgid bound is read inclusively, so that one the user cannot see
// is answered ErrUnknownMsgID by the same read.
func (b *Bridge) History(ctx context.Context, c *ircd.Client, q ircd.HistoryQuery) ([]ircd.Message, error) {
	a := acctOf(c)
	if a == nil {
		return nil, &ircd.UserError{Text: "Not logged in"}
	}
	for _, r := range []ircd.MsgRef{q.From, q.To} {
		if r.ID != "" && !isDigits(r.ID) {
			return nil, fmt.Errorf("msgid %q: %w", r.ID, ircd.ErrUnknownMsgID)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	token, err := a.accessToken(ctx)
	if err != nil {
		return nil, &ircd.UserError{Text: "Your Directus session cannot be used: " + directusReason(err), Cause: err}
	}
	h := historyRead{b: b, ctx: ctx, token: token}
	var items []item
	switch q.Subcommand {
	case "LATEST":
		items, err = h.read(bound(q.From, "_gt", "_gt"), true, q.Limit, "")
	case "BEFORE":
		items, err = h.read(bound(q.From, "_lte", "_lt"), true, q.Limit, q.From.ID)
	case "AFTER":
		items, err = h.read(bound(q.From, "_gte", "_gt"), false, q.Limit, q.From.ID)
	case "AROUND":
		items, err = h.around(q.From, q.Limit)
	case "BETWEEN":
		// From the first bound towards the second, both left out.
		filter := and(bound(q.From, "_gte", "_gt"), bound(q.To, "_lt", "_lt"))
		desc := refAfter(q.From, q.To)
		if desc {
			filter = and(bound(q.From, "_lte", "_lt"), bound(q.To, "_gt", "_gt"))
		}
		items, err = h.read(filter, desc, q.Limit, q.From.ID)
	case "TARGETS":
		first, last := q.From, q.To
		if refAfter(first, last) {
			first, last = last, first
		}
		items, err = h.read(and(bound(first, "_gt", "_gt"), bound(last, "_lt", "_lt")), true, 1, "")
	default:
		return nil, fmt.Errorf("chathistory %s: not supported", q.Subcommand)
	}
	if err != nil {
		return nil, err
	}
	out := make([]ircd.Message, len(items))
	for i, it := range items {
		out[i] = b.toMessage(it)
	}
	return out, nil
}

// historyRead is the reads of one CHATHISTORY query.
type historyRead struct {
	b     *Bridge
	ctx   context.Context
	token string
}

// read returns at most limit items matching filter, oldest first: the newest ones when desc,
// else the oldest. When anchor is set, the filter includes that id at the near end, and it must
// be there (the user can see it); it is left out of the result.
func (h historyRead) read(filter map[string]any, desc bool, limit int, anchor string) ([]item, error) {
	b := h.b
	sort := "id"
	if desc {
		sort = "-id"
	}
	if anchor != "" {
		limit++
	}
	raws, err := b.dc.ReadItems(h.ctx, h.token, b.cfg.Collection, directus.Query{
		Fields: itemFields, Filter: filter, Sort: []string{sort}, Limit: &limit,
	})
	if err != nil {
		return nil, &ircd.UserError{Text: "Directus refused the history read: " + directusReason(err), Cause: err}
	}
	items := make([]item, 0, len(raws))
	for _, raw := range raws {
		it, err := decodeItem(raw)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	if anchor != "" {
		if len(items) == 0 || items[0].ID != anchor {
			return nil, fmt.Errorf("msgid %s: %w", anchor, ircd.ErrUnknownMsgID)
		}
		items = items[1:]
	}
	if desc {
		slices.Reverse(items)
	}
	return items, nil
}

// around reads limit messages around ref: the older half before it, the rest from it on (the
// referenced message included).
func (h historyRead) around(ref ircd.MsgRef, limit int) ([]item, error) {
	after, err := h.read(bound(ref, "_gte", "_gte"), false, limit-limit/2, "")
	if err != nil {
		return nil, err
	}
	if ref.ID != "" && (len(after) == 0 || after[0].ID != ref.ID) {
		return nil, fmt.Errorf("msgid %s: %w", ref.ID, ircd.ErrUnknownMsgID)
	}
	if limit/2 == 0 {
		return after, nil
	}
	before, err := h.read(bound(ref, "_lt", "_lt"), true, limit/2, "")
	return append(before, after...), err
}

// bound is the filter for one side of a range: on id with idOp for a msgid, on date_created
// with timeOp for a timestamp; nil for "*".
func bound(r ircd.MsgRef, idOp, timeOp string) map[string]any {
	switch {
	case r.ID != "":
		return map[string]any{"id": map[string]any{idOp: r.ID}}
	case !r.Time.IsZero():
		return map[string]any{"date_created": map[string]any{timeOp: r.Time.UTC().Format(time.RFC3339Nano)}}
	}
	return nil
}

func and(filters ...map[string]any) map[string]any {
	var parts []any
	for _, f := range filters {
		if f != nil {
			parts = append(parts, f)
		}
	}
	if len(parts) == 0 {
		return nil
	}
	return map[string]any{"_and": parts}
}

// refAfter reports whether a is known to be later than b: both msgids, or both timestamps. A
// msgid and a timestamp cannot be compared without a read; they are taken in the order given.
func refAfter(a, b ircd.MsgRef) bool {
	switch {
	case a.ID != "" && b.ID != "":
		return idLess(b.ID, a.ID)
	case a.ID == "" && b.ID == "" && !a.Time.IsZero() && !b.Time.IsZero():
		return a.Time.After(b.Time)
	}
	return false
}
