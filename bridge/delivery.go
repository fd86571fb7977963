package bridge

import (
	"fmt"
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
// (the create acknowledgement, the subscription event or a back-fill read), and keeps the
// recent history replayed on JOIN.
type delivery struct {
	mu        sync.Mutex
	delivered map[string]struct{}
	order     []string               // delivered ids, oldest first, for eviction
	pending   map[string]pendingSend // irc_key of a create in flight → its sender
	history   []histEntry            // oldest first, at most historyLen
	historyN  int
	streamMax string // highest id seen through the subscription or a back-fill
}

// pendingSend is a create in flight: its sender, and whether it was a NOTICE.
type pendingSend struct {
	c      *ircd.Client
	notice bool
}

type histEntry struct {
	id  string
	msg ircd.Message
}

func newDelivery(historyLen int) *delivery {
	return &delivery{delivered: map[string]struct{}{}, pending: map[string]pendingSend{}, historyN: historyLen}
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

func (d *delivery) appendHistoryLocked(id string, m ircd.Message) {
	if d.historyN == 0 {
		return
	}
	d.history = append(d.history, histEntry{id, m})
	if len(d.history) > d.historyN {
		d.history = append(d.history[:0:0], d.history[len(d.history)-d.historyN:]...)
	}
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

func (d *delivery) historyCopy() []ircd.Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]ircd.Message, len(d.history))
	for i, h := range d.history {
		out[i] = h.msg
	}
	return out
}

func (d *delivery) addPending(key string, p pendingSend) {
	d.mu.Lock()
	d.pending[key] = p
	d.mu.Unlock()
}

func (d *delivery) removePending(key string) {
	d.mu.Lock()
	delete(d.pending, key)
	d.mu.Unlock()
}

// deliverCreate broadcasts a new item unless it was delivered already, and reports whether
// it did. except is the sender's connection (no echo); for an item that arrives through the
// subscription before its acknowledgement, the sender is found by the item's irc_key.
func (b *Bridge) deliverCreate(it item, except *ircd.Client, fromStream bool) bool {
	_, fresh := b.deliverItem(it, except, fromStream)
	return fresh
}

// deliverItem is deliverCreate that also returns the message as IRC clients get it (the
// sender's echo is made from it: same msgid and time), delivered now or before.
func (b *Bridge) deliverItem(it item, except *ircd.Client, fromStream bool) (ircd.Message, bool) {
	m := b.toMessage(it)
	d := b.delivery
	d.mu.Lock()
	defer d.mu.Unlock()
	if fromStream {
		d.seenStreamLocked(it.ID)
	}
	if !d.markLocked(it.ID) {
		return m, false
	}
	if p, ok := d.pending[it.IRCKey]; ok && except == nil && it.IRCKey != "" {
		except, it.Notice = p.c, p.notice
	}
	live := m
	if it.Notice {
		live.Command = "NOTICE" // a NOTICE must not make bots answer (RFC 2812)
	}
	b.srv.Broadcast(live, except)
	d.appendHistoryLocked(it.ID, m)
	return m, true
}

// seedHistory fills the replay history from the subscription's first init (newest first),
// without delivering: those messages were sent before this daemon started.
func (b *Bridge) seedHistory(items []item) {
	d := b.delivery
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := len(items) - 1; i >= 0; i-- {
		it := items[i]
		d.seenStreamLocked(it.ID)
		if d.markLocked(it.ID) {
			d.appendHistoryLocked(it.ID, b.toMessage(it))
		}
	}
}

// deliverUpdate tells IRC that a message was edited, unless its text is what IRC already
// has. With onlyKnown (reconciling after an outage) messages outside the history are skipped:
// nothing says they changed.
func (b *Bridge) deliverUpdate(it item, onlyKnown bool) {
	m := b.toMessage(it)
	d := b.delivery
	d.mu.Lock()
	defer d.mu.Unlock()
	known := false
	for i := range d.history {
		if d.history[i].id == it.ID {
			if d.history[i].msg.Text == m.Text && d.history[i].msg.Action == m.Action {
				return
			}
			d.history[i].msg.Text, d.history[i].msg.Action = m.Text, m.Action
			known = true
		}
	}
	if onlyKnown && !known {
		return
	}
	text := oneLine(m.Text, noticeExcerpt)
	if m.Action {
		text = "* " + m.Nick + " " + text
	}
	b.srv.Broadcast(ircd.Message{Command: "NOTICE", Text: fmt.Sprintf("[edit] %s edited a message, now: %s", m.Nick, text)}, nil)
}

// deliverDelete tells IRC that a message was deleted, once: clients with
// draft/message-redaction get a REDACT (from the IRC user who deleted it, else from the
// server), the others a NOTICE quoting it.
func (b *Bridge) deliverDelete(id string) {
	r, first := b.redactions.claim(id)
	if !first {
		return
	}
	d := b.delivery
	d.mu.Lock()
	defer d.mu.Unlock()
	r.Notice = fmt.Sprintf("[delete] A message was deleted (id %s)", id)
	for i := range d.history {
		if d.history[i].id == id {
			h := d.history[i].msg
			r.Notice = fmt.Sprintf("[delete] A message by %s was deleted: %s", h.Nick, oneLine(h.Text, noticeExcerpt))
			d.history = append(d.history[:i:i], d.history[i+1:]...)
			break
		}
	}
	b.srv.Redact(r)
}

// noticeExcerpt is the most bytes of a message quoted in an edit or delete NOTICE: with the
// rest of the NOTICE it fits one IRC line, so each such NOTICE is one line.
const noticeExcerpt = 200

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
