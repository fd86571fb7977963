package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

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
	if !b.online.Swap(true) && wasUp {
		b.srv.NoticeAll("Directus is reachable again; held messages are being sent")
		b.log.Info().Msg("directus reachable again")
	}
	b.kick()
	return nil
}

func (b *Bridge) backfill(ctx context.Context, k *directus.Conn) error {
	q := directus.Query{Fields: itemFields, Sort: []string{"id"}, Limit: intp(-1)}
	if last := b.delivery.lastStreamID(); last != "" {
		q.Filter = map[string]any{"id": map[string]any{"_gt": last}}
	}
	raws, err := k.Read(ctx, b.cfg.Collection, q)
	if err != nil {
		return fmt.Errorf("back-fill %s: %w", b.cfg.Collection, err)
	}
	b.metrics.backfilled(len(raws))
	n := 0
	for _, it := range b.decodeAll(raws) {
		if b.deliverCreate(it, nil, true) {
			n++
		}
	}
	b.log.Info().Int("read", len(raws)).Int("delivered", n).Msg("back-filled messages created during the outage")
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
	for _, h := range b.historyIDs() {
		if !present[h] && !idLess(h, oldest) {
			b.deliverDelete(h)
		}
	}
}

func (b *Bridge) historyIDs() []string {
	d := b.delivery
	d.mu.Lock()
	defer d.mu.Unlock()
	ids := make([]string, len(d.history))
	for i, h := range d.history {
		ids[i] = h.id
	}
	return ids
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

// Disconnected implements directus.StreamHandler.
func (h streamHandler) Disconnected(err error) {
	b := h.b
	if errors.Is(err, context.Canceled) {
		b.online.Store(false) // the daemon is stopping, not Directus
		return
	}
	if b.online.Swap(false) {
		b.log.Warn().Err(err).Msg("directus unreachable")
		b.srv.NoticeAll(fmt.Sprintf("Directus is unreachable; messages you send are held for up to %s and sent when it is back", b.cfg.QueueMaxWait))
	}
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
