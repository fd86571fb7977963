package bridge

import (
	"strings"
	"sync"

	"github.com/directus-ircd/directus-ircd/ircd"
)

// actionPrefix is how a CTCP ACTION is stored: "/me waves" reads well on the web page and
// comes back to IRC as an ACTION (a web user typing "/me waves" makes one too).
const actionPrefix = "/me "

// maxRemembered bounds the ids remembered as delivered (far more than can be in flight).
const maxRemembered = 100000

// delivery remembers what reached IRC, so each item is delivered once whichever comes first
// (the create acknowledgement, the subscription event or a back-fill read). The JOIN replay
// is ircd's (Server.Deliver records it).
type delivery struct {
	mu        sync.Mutex
	delivered map[string]struct{}
	order     []string               // delivered ids, oldest first, for eviction
	pending   map[string]pendingSend // irc_key of a create in flight
	streamMax string                 // highest id seen through the subscription or a back-fill
}

// pendingSend is a create in flight: whether it was a NOTICE, and the item if the
// subscription (or a back-fill) brought it before the create's outcome was known.
type pendingSend struct {
	notice  bool
	arrived *item
}

func newDelivery() *delivery {
	return &delivery{delivered: map[string]struct{}{}, pending: map[string]pendingSend{}}
}

func (d *delivery) markLocked(id string) bool {
	if _, seen := d.delivered[id]; seen {
		return false
	}
	d.delivered[id] = struct{}{}
	d.order = append(d.order, id)
	if len(d.order) > maxRemembered {
		drop := len(d.order) - maxRemembered
		for _, old := range d.order[:drop] {
			delete(d.delivered, old)
		}
		d.order = append(d.order[:0:0], d.order[drop:]...)
	}
	return true
}

func (d *delivery) seenStreamLocked(id string) {
	if d.streamMax == "" || idLess(d.streamMax, id) {
		d.streamMax = id
	}
}

// lastStreamID is where a back-fill starts after a reconnect. Items acknowledged to IRC
// senders do not move it: others may have been created before them during an outage.
func (d *delivery) lastStreamID() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.streamMax
}

// addPending notes a create in flight (again, for a retry: what arrived meanwhile is kept).
func (d *delivery) addPending(key string, p pendingSend) {
	d.mu.Lock()
	if old, ok := d.pending[key]; ok {
		p.arrived = old.arrived
	}
	d.pending[key] = p
	d.mu.Unlock()
}

// settle ends a create in flight, once it was delivered or refused. An item that arrived
// meanwhile and was not delivered by the create's own path (a refusal after Directus had
// stored it, a shutdown that cut the reply short) is delivered now, to everyone: it is
// stored, whatever its sender was told.
func (b *Bridge) settle(key string) {
	d := b.delivery
	d.mu.Lock()
	p := d.pending[key]
	delete(d.pending, key)
	d.mu.Unlock()
	if p.arrived != nil {
		it := *p.arrived
		it.Notice = p.notice
		b.deliverCreate(it, nil, false) // nothing if the create's path delivered it
	}
}

// deliverCreate delivers a new item to the channel unless it was delivered already, and
// reports whether it did. except is the sender's connection (no echo). An item that comes
// through the subscription or a back-fill while its IRC sender's create is in flight (its
// irc_key is pending) is left to that create's path, which delivers it with what only it
// has (the sender's client-only tags, its echo); settle delivers it if that path does not.
func (b *Bridge) deliverCreate(it item, except *ircd.Client, fromStream bool) bool {
	m := b.toMessage(it)
	d := b.delivery
	d.mu.Lock()
	if fromStream {
		d.seenStreamLocked(it.ID)
	}
	if p, ok := d.pending[it.IRCKey]; ok && fromStream && it.IRCKey != "" {
		p.arrived = &it
		d.pending[it.IRCKey] = p
		d.mu.Unlock()
		return false
	}
	fresh := d.markLocked(it.ID)
	// Released before the fan-out, which ircd orders itself (one at a time): the create
	// paths that claim and settle items do not wait for a fan-out to thousands.
	d.mu.Unlock()
	if !fresh {
		return false
	}
	if it.Notice {
		m.Command = "NOTICE" // a NOTICE must not make bots answer (RFC 2812)
	}
	b.srv.Deliver(m, except)
	return true
}

// claimCreated marks the item a sender's create returned as delivered, for ircd to deliver
// (Post returns it); fresh is false if it was delivered already, a safeguard: the
// subscription leaves items of pending creates to their path.
func (b *Bridge) claimCreated(it item) (m ircd.Message, fresh bool) {
	m = b.toMessage(it)
	d := b.delivery
	d.mu.Lock()
	defer d.mu.Unlock()
	return m, d.markLocked(it.ID)
}

// seedHistory fills ircd's JOIN replay from the subscription's first init (newest first),
// without delivering: those messages were sent before this daemon started.
func (b *Bridge) seedHistory(items []item) {
	d := b.delivery
	d.mu.Lock()
	defer d.mu.Unlock()
	var msgs []ircd.Message
	for i := len(items) - 1; i >= 0; i-- {
		it := items[i]
		d.seenStreamLocked(it.ID)
		if d.markLocked(it.ID) {
			msgs = append(msgs, b.toMessage(it))
		}
	}
	b.srv.SeedHistory(msgs)
}

// deliverUpdate tells IRC that a message was edited (ircd leaves out an edit to the text it
// already has). With onlyKnown (reconciling after an outage) messages outside the replay are
// skipped: nothing says they changed.
func (b *Bridge) deliverUpdate(it item, onlyKnown bool) {
	b.srv.Edited(b.toMessage(it), onlyKnown)
}

// deliverDelete tells IRC that a message was deleted, once: clients with
// draft/message-redaction get a REDACT (from the IRC user who deleted it, else from the
// server), the others a NOTICE quoting it.
func (b *Bridge) deliverDelete(id string) {
	if r, first := b.redactions.claim(id); first {
		b.srv.Redact(r)
	}
}

// toMessage turns an item into channel traffic from its author's nick.
func (b *Bridge) toMessage(it item) ircd.Message {
	m := ircd.Message{ID: it.ID, Time: it.Created, Text: it.Text, Host: accountHost}
	switch {
	case b.isGuestPost(it):
		m.Nick, m.Host = it.IRCNick, guestHost
		m.Text = strings.TrimPrefix(m.Text, "<"+it.IRCNick+"> ")
	case it.Author.ID != "":
		if it.Author.FirstName != "" || it.Author.Email != "" {
			b.dir.learn(it.Author)
		}
		if nick, ok := b.dir.nick(it.Author.ID); ok {
			m.Nick = nick
		} else {
			m.Nick = fallbackNick(it.Author.ID)
		}
		if u, ok := b.dir.get(it.Author.ID); ok && u.Email != "" {
			m.Account = b.dir.account(u.Email)
		}
	default:
		m.Nick = "unknown"
	}
	if rest, ok := strings.CutPrefix(m.Text, actionPrefix); ok {
		m.Text, m.Action = rest, true
	}
	return m
}

func excerpt(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
