package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/directus-ircd/directus-ircd/directus"
)

// subscriptionQuery is the daemon's one subscription: every field IRC needs, and as init the
// newest messages (history for JOIN replay; docs/DIRECTUS-PROTOCOL.md §3.1: the guide's ascending sort
// would give the oldest).
func (b *Bridge) subscriptionQuery() directus.Query {
	limit := max(b.cfg.History, 1)
	return directus.Query{Fields: itemFields, Sort: []string{"-id"}, Limit: &limit}
}

// streamHandler receives the subscription's life: a separate type because ircd.Backend's
// Disconnected (a client left) and directus.StreamHandler's (Directus went away) differ.
type streamHandler struct{ b *Bridge }

// Connected implements directus.StreamHandler. It runs after every (re)subscribe, before
// any live event of that connection: the first time it seeds the history; after an outage
// it back-fills what was created while the daemon was away and reconciles edits and deletes
// within the history window.
func (h streamHandler) Connected(ctx context.Context, k *directus.Conn, init directus.Event) error {
	b := h.b
	b.learnServiceUser(ctx) // before any item is shown: it tells guest posts from the others
	items := b.decodeAll(init.Items)
	if !b.everUp.Load() {
		b.seedHistory(items)
	} else {
		if err := b.backfill(ctx, k); err != nil {
			return err
		}
		b.reconcile(items)
	}
	wasUp := b.everUp.Swap(true)
	if !wasUp {
		close(b.up)
	}
	b.metrics.connected(wasUp)
	b.online.Store(true)
	b.setState(StateReady, nil)
	b.kick()
	return nil
}

// reconcile compares the newest messages (init, newest first) with the history IRC has:
// changed text was edited, a missing id was deleted while the daemon was away.
func (b *Bridge) reconcile(newest []item) {
	if len(newest) == 0 {
		return
	}
	present := make(map[string]bool, len(newest))
	oldest := newest[len(newest)-1].ID
	for _, it := range newest {
		present[it.ID] = true
		b.deliverUpdate(it, true)
	}
	for _, h := range b.srv.HistoryIDs() {
		if !present[h] && !idLess(h, oldest) {
			b.deliverDelete(h)
		}
	}
}

// Event implements directus.StreamHandler: live events, in order.
func (h streamHandler) Event(e directus.Event) {
	b := h.b
	switch e.Kind {
	case directus.EventCreate:
		for _, it := range b.decodeAll(e.Items) {
			b.deliverCreate(it, nil, true)
		}
	case directus.EventUpdate:
		for _, it := range b.decodeAll(e.Items) {
			b.deliverUpdate(it, false)
		}
	case directus.EventDelete:
		for _, id := range e.IDs {
			b.deliverDelete(id)
		}
	}
}

// Disconnected implements directus.StreamHandler. Why the subscription is down is told by
// Retrying, which follows, unless the daemon is stopping.
func (h streamHandler) Disconnected(err error) {
	h.b.online.Store(false)
	if errors.Is(err, context.Canceled) {
		h.b.setState(StateStopping, nil) // the daemon is stopping, not Directus
	}
}

// Retrying implements directus.StreamRetrier: after each failed attempt and each drop.
func (h streamHandler) Retrying(err error, _ time.Duration) {
	h.b.setState(stateOf(err), err)
}

// decodeAll decodes the subscription's items and makes sure their authors are in the
// directory.
func (b *Bridge) decodeAll(raws []json.RawMessage) []item {
	out := make([]item, 0, len(raws))
	for _, r := range raws {
		it, err := decodeItem(r)
		if err != nil {
			b.log.Error().Err(err).Msg("skipping undecodable item")
			continue
		}
		out = append(out, it)
	}
	b.learnAuthors(out)
	return out
}

// learnAuthors reads, in one request, the authors of items that the directory does not know:
// users created since the last sweep, typically someone new on the web page. Without it their
// messages would show the fallback nick until the next sweep.
func (b *Bridge) learnAuthors(items []item) {
	var unknown []string
	for _, it := range items {
		id := it.Author.ID
		if b.isGuestPost(it) || id == "" || slices.Contains(unknown, id) {
			continue
		}
		if _, known := b.dir.get(id); !known {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) == 0 {
		return
	}
	ctx, cancel := b.requestContext()
	defer cancel()
	users, err := b.dc.Users(ctx, b.cfg.ServiceToken, unknown)
	if err != nil {
		b.log.Warn().Err(err).Int("users", len(unknown)).Msg("cannot read new authors; their messages show a fallback nick until the next user sweep")
		return
	}
	for _, u := range users {
		b.dir.learn(user{ID: u.ID, Email: u.Email, FirstName: u.FirstName, Status: u.Status})
	}
}

func intp(n int) *int { return &n }
