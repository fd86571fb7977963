package ircd

import (
	"cmp"
	"strconv"
	"strings"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
)

// serverTimeLayout is the IRCv3 server-time format.
const serverTimeLayout = "2006-01-02T15:04:05.000Z"

// send queues a reply to this client (reader goroutine only; see replyLines).
func (c *Client) send(msg ircmsg.Message) {
	if line := serialize(msg, c.log); line != nil {
		c.replyLines(line)
	}
}

// numeric sends a numeric reply from the server; the client's nick is added as first parameter.
// Middle parameters that would break the line (a nick with a space echoed back, say) are made
// into tokens.
func (c *Client) numeric(code string, params ...string) {
	all := append([]string{c.target()}, params...)
	for i, p := range all[:len(all)-1] {
		if p == "" || p[0] == ':' || strings.ContainsAny(p, " \r\n\x00") {
			all[i] = token(p)
		}
	}
	c.send(ircmsg.MakeMessage(nil, c.s.cfg().ServerName, code, all...))
}

// deliverMsg queues msg without waiting (safe from any goroutine).
func (c *Client) deliverMsg(msg ircmsg.Message) {
	if line := serialize(msg, c.log); line != nil {
		c.enqueue([][]byte{line}, "", false)
	}
}

// target is the client's nick as numerics address it ("*" before a nick is known). Called from
// the reader goroutine.
func (c *Client) target() string {
	if c.isRegistered() {
		return c.Nick()
	}
	if c.reg.nick != "" {
		return c.reg.nick
	}
	return "*"
}

// hostUser is the hostmask user of a connection with identity id and nick.
func (c *Client) hostUser(id *Identity, nick string) string {
	switch {
	case id.User != "" && safeMaskPart(id.User):
		return id.User
	case id.Account != "":
		return deriveUser(id.Account)
	default:
		return deriveUser(nick)
	}
}

// hostFor is the hostmask host of a connection with identity id.
func (c *Client) hostFor(id *Identity) string {
	if id.Host != "" && safeMaskPart(id.Host) {
		return id.Host
	}
	return c.s.cfg().DefaultHost
}

func (c *Client) hostmaskFor(id *Identity, nick string) string {
	return c.hostUser(id, nick) + "@" + c.hostFor(id)
}

// variants serialises one logical message once per capability variant that its recipients
// have (see ergo's message cache): recipients whose capabilities agree on mask share the bytes.
// Not safe for concurrent use; a fan-out builds one.
type variants struct {
	mask  capSet
	build func(v capSet) [][]byte
	keys  []capSet
	vals  [][][]byte
}

func newVariants(mask capSet, build func(v capSet) [][]byte) *variants {
	return &variants{mask: mask, build: build}
}

// plainVariant is a message that is the same for everyone.
func plainVariant(msg ircmsg.Message, s *Server) *variants {
	return newVariants(0, func(capSet) [][]byte {
		if line := serialize(msg, s.log); line != nil {
			return [][]byte{line}
		}
		return nil
	})
}

func (vs *variants) get(c *Client) [][]byte {
	v := c.caps() & vs.mask
	for i, k := range vs.keys {
		if k == v {
			return vs.vals[i]
		}
	}
	lines := vs.build(v)
	vs.keys = append(vs.keys, v)
	vs.vals = append(vs.vals, lines)
	return lines
}

// chanMessage is a Message prepared for delivery: its source and its text split to fit.
type chanMessage struct {
	m       *Message
	source  string
	account string
	target  string
	command string
	tags    map[string]string // client-only tags, relayed to message-tags clients
	cut     cutRule
	batch   string // batch id when sent as draft/multiline (see asMultiline)

	// The text split and cut, the same for every variant: computed once per prefix.
	parts      []string
	partsFor   string
	partsReady bool
}

// cutRule is how many lines a channel message may take and where to read a cut one whole.
type cutRule struct {
	maxLines int
	where    string
}

// apply cuts parts to at most maxLines: the last kept line says how many were left out.
// linePrefix (history replay) goes before that line too.
func (r cutRule) apply(parts []string, linePrefix string) []string {
	if r.maxLines <= 0 || len(parts) <= r.maxLines {
		return parts
	}
	keep := r.maxLines - 1
	note := linePrefix + "[" + strconv.Itoa(len(parts)-keep) + " more lines not shown; read the whole message " + r.where + "]"
	return append(parts[:keep:keep], note)
}

// prepare resolves m's source: the server for an empty Nick; else nick!user@host, taking user and
// host from m, else from the connected user with that nick, else derived. Called with s.mu held.
func (s *Server) prepareLocked(m *Message, target string) chanMessage {
	cfg := s.cfg()
	cm := chanMessage{m: m, account: m.Account, target: target, command: "PRIVMSG",
		cut: cutRule{maxLines: cfg.MaxLines, where: cfg.FullTextAt}}
	if m.Command == "NOTICE" {
		cm.command = "NOTICE"
	}
	if m.Nick == "" {
		cm.source = cfg.ServerName
		return cm
	}
	nick := sourceNick(m.Nick)
	user, host := m.User, m.Host
	if user != "" && !safeMaskPart(user) {
		user = deriveUser(user)
	}
	if !safeMaskPart(host) {
		host = ""
	}
	if u := s.users[Casefold(nick)]; u != nil && (user == "" || host == "") {
		user, host = cmp.Or(user, u.ident), cmp.Or(host, u.host)
	}
	if user == "" {
		user = deriveUser(cmp.Or(m.Account, nick))
	}
	cm.source = nick + "!" + user + "@" + cmp.Or(host, cfg.DefaultHost)
	return cm
}

// lines serialises the message for capability variant v. textPrefix is put before each line of
// text (history replay without server-time); extra tags (batch) are added when non-nil.
func (cm *chanMessage) lines(v capSet, textPrefix string, extra map[string]string, log func(ircmsg.Message) []byte) [][]byte {
	m := cm.m
	if !cm.partsReady || cm.partsFor != textPrefix {
		budget := lineBudget(cm.source, cm.command, cm.target, m.Action)
		cm.parts = cm.cut.apply(splitText(m.Text, budget, textPrefix), textPrefix)
		cm.partsFor, cm.partsReady = textPrefix, true
	}
	if cm.asMultiline(v, extra) {
		return cm.multilineLines(v, log)
	}
	parts := cm.parts
	out := make([][]byte, 0, len(parts))
	for i, part := range parts {
		if m.Action {
			part = "\x01ACTION " + part + "\x01"
		}
		msg := ircmsg.MakeMessage(extra, cm.source, cm.command, cm.target, part)
		cm.addTags(&msg, v, i == 0)
		if line := log(msg); line != nil {
			out = append(out, line)
		}
	}
	return out
}

// addTags sets the tags of variant v on one line of cm: msgid only on the first line.
func (cm *chanMessage) addTags(msg *ircmsg.Message, v capSet, first bool) {
	m := cm.m
	if v.has(capMessageTags) && m.ID != "" && first {
		msg.SetTag("msgid", m.ID)
	}
	if v.has(capServerTime) {
		t := m.Time
		if t.IsZero() {
			t = time.Now()
		}
		msg.SetTag("time", t.UTC().Format(serverTimeLayout))
	}
	if v.has(capAccountTag) && cm.account != "" {
		msg.SetTag("account", cm.account)
	}
	if v.has(capMessageTags) {
		for k, val := range cm.tags {
			msg.SetTag(k, val)
		}
	}
}

// msgTagCaps are the capabilities that change how a channel message is serialised.
const msgTagCaps = capMessageTags | capServerTime | capAccountTag

// Deliver sends a stored channel message to every connection on the channel except `except`
// (the sender, whose echo its command makes) and adds it to the JOIN replay, in one step with
// respect to JOINs: a joiner gets it in its replay or live, once. It never blocks on a slow
// client: one whose queue is full is dropped. The members are read under the server lock and
// the lines queued after it is released, so a JOIN, QUIT or nick lookup never waits for a
// fan-out to thousands of clients.
func (s *Server) Deliver(m Message, except *Client) {
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()
	s.fanOutMessage(&m, except, true)
}

// Broadcast sends channel traffic that is not a stored message (a server NOTICE, for
// example) to every connection on the channel except `except`, like Deliver but without
// adding it to the replay.
func (s *Server) Broadcast(m Message, except *Client) {
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()
	s.fanOutMessage(&m, except, false)
}

// fanOutMessage queues m to the members but except; record adds it to the replay under the
// same lock as the member snapshot. Called with deliverMu held.
func (s *Server) fanOutMessage(m *Message, except *Client, record bool) {
	start := time.Now()
	s.mu.Lock()
	if record {
		stored := *m
		stored.ClientTags = nil
		s.replay.addLocked(stored)
	}
	cm := s.prepareLocked(m, s.cfg().Channel)
	cm.tags = m.ClientTags
	recipients := s.snapshotMembersLocked()
	s.mu.Unlock()
	defer releaseSnapshot(recipients)
	mask := msgTagCaps
	if cm.batch = s.multilineBatchID(m); cm.batch != "" {
		mask |= capMultiline | capBatch // several lines: one batch for draft/multiline clients
	}
	out := newVariants(mask, func(v capSet) [][]byte {
		return cm.lines(v, "", nil, s.serializer())
	})
	s.metrics.fannedOut(start, fanOut(*recipients, out, m.ID, func(c *Client) bool { return c == except }))
}

// multilineBatchID is the batch id for m when it may go out as a draft/multiline batch.
func (s *Server) multilineBatchID(m *Message) string {
	if !strings.ContainsAny(strings.TrimSpace(m.Text), "\r\n") {
		return ""
	}
	return "m" + strconv.FormatUint(s.batchID.Add(1), 36)
}

// NoticeAll sends a server NOTICE to the channel's members.
func (s *Server) NoticeAll(text string) {
	s.Broadcast(Message{Command: "NOTICE", Text: text}, nil)
}

func (s *Server) serializer() func(ircmsg.Message) []byte {
	return func(msg ircmsg.Message) []byte { return serialize(msg, s.log) }
}
