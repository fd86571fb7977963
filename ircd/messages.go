package ircd

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
	"github.com/ergochat/irc-go/ircutils"
)

func handlePRIVMSG(c *Client, msg *ircmsg.Message) { c.message("PRIVMSG", msg) }
func handleNOTICE(c *Client, msg *ircmsg.Message)  { c.message("NOTICE", msg) }

// message handles PRIVMSG and NOTICE: to the channel through Backend.Post, to a nick directly.
func (c *Client) message(command string, msg *ircmsg.Message) {
	notice := command == "NOTICE"
	switch {
	case len(msg.Params) == 0 || msg.Params[0] == "":
		if !notice {
			c.numeric(errNoRecipient, "No recipient given ("+command+")")
		}
		return
	case len(msg.Params) < 2 || msg.Params[1] == "":
		if !notice {
			c.numeric(errNoTextToSend, "No text to send")
		}
		return
	}
	targets := strings.Split(msg.Params[0], ",")
	if len(targets) > maxTargets {
		c.numeric(errTooManyTargets, msg.Params[0], "Too many targets")
		return
	}
	var tags map[string]string
	if c.hasCap(capMessageTags) {
		tags = fitClientTags(msg.ClientOnlyTags())
	}
	seen := make(map[string]bool, len(targets))
	for _, target := range targets {
		if seen[Casefold(target)] {
			continue // one delivery (one item) per distinct target
		}
		seen[Casefold(target)] = true
		switch {
		case c.s.isChannel(target):
			c.messageChannel(command, target, msg.Params[1], tags)
		case strings.HasPrefix(target, "#"):
			c.refuse(command, errNoSuchChannel, target, "No such channel; this server has only "+c.s.cfg().Channel)
		default:
			c.messageNick(command, target, msg.Params[1], tags)
		}
	}
}

// refuse answers a refused message: the numeric for PRIVMSG and TAGMSG; for NOTICE (which gets no
// automatic replies) only a FAIL, when the client negotiated standard-replies.
func (c *Client) refuse(command, numeric, target, text string) {
	if command != "NOTICE" {
		c.numeric(numeric, target, text)
	} else if c.hasCap(capStandardReplies) {
		c.send(ircmsg.MakeMessage(nil, c.s.cfg().ServerName, "FAIL", command, "CANNOT_SEND", target, ircutils.SanitizeText(text, maxLineLen)))
	}
}

// parseCTCP splits a CTCP message ("\x01VERB text\x01") into its verb and text.
func parseCTCP(text string) (verb, rest string, ok bool) {
	if !strings.HasPrefix(text, "\x01") {
		return "", "", false
	}
	text = strings.TrimSuffix(text[1:], "\x01")
	verb, rest, _ = strings.Cut(text, " ")
	return strings.ToUpper(verb), rest, true
}

func (c *Client) onChannel() bool {
	c.s.mu.RLock()
	defer c.s.mu.RUnlock()
	return c.joinState == joined
}

// messageChannel posts a channel message through the backend, which stores it, then
// delivers the stored message to the channel and echoes it to the sender.
func (c *Client) messageChannel(command, target, text string, tags map[string]string) {
	s := c.s
	if !c.onChannel() {
		c.refuse(command, errCannotSendToChan, target, "Cannot send to channel: you are not on it (JOIN it first)")
		return
	}
	out := Outgoing{Command: command, Text: text, Tags: tags}
	if verb, rest, ok := parseCTCP(text); ok {
		if verb != "ACTION" {
			c.refuse(command, errCannotSendToChan, target, "CTCP "+verb+" is not supported on "+s.cfg().Channel)
			return
		}
		out.Text, out.Action = rest, true
	}
	s.metrics.lineIn()
	posted, err := s.backend.Post(c.ctx, c, out)
	if err != nil {
		c.log.Info().AnErr("cause", err).Msg("message refused")
		c.refuse(command, errCannotSendToChan, target, "Cannot send to channel: "+UserText(err))
		if reason := DisconnectReason(err); reason != "" {
			c.Disconnect(reason) // after the refusal, which is already queued
		}
		return
	}
	c.u.spoke.Store(time.Now().Unix())
	if p := posted.Message; posted.Result == Stored && p != nil && !posted.AlreadyDelivered {
		live := *p
		live.ClientTags = tags
		if command == "NOTICE" {
			live.Command = "NOTICE" // a NOTICE must not make bots answer (RFC 2812)
		}
		s.Deliver(live, c)
	}
	if c.hasCap(capEchoMessage) {
		m := Message{Nick: c.Nick(), Account: c.Account(), Command: command, Text: out.Text,
			Action: out.Action, Time: time.Now()}
		if p := posted.Message; p != nil {
			// The copy the others got: same msgid and time. Its source is this connection's
			// own nick, as the client expects of its echo.
			m.ID, m.Time, m.Text, m.Action = p.ID, p.Time, p.Text, p.Action
		}
		s.mu.RLock()
		cm := s.prepareLocked(&m, s.cfg().Channel)
		s.mu.RUnlock()
		cm.tags = tags
		cm.batch = s.multilineBatchID(&m)
		c.replyLines(cm.lines(c.caps(), "", nil, s.serializer())...)
	}
}

// messageNick delivers a private message straight to every connection of the target nick (and,
// with echo-message, to the sender's connections). It is not stored.
func (c *Client) messageNick(command, target, text string, tags map[string]string) {
	s := c.s
	m := Message{ID: newPrivateMsgID(), Account: c.Account(), Command: command, Text: text, Time: time.Now()}
	s.mu.RLock()
	u := s.users[Casefold(target)]
	if u == nil {
		s.mu.RUnlock()
		c.refuse(command, errNoSuchNick, target, "No such nick/channel")
		return
	}
	m.Nick = c.u.nick
	cm := s.prepareLocked(&m, u.nick)
	cm.tags = tags
	out := newVariants(msgTagCaps, func(v capSet) [][]byte { return cm.lines(v, "", nil, s.serializer()) })
	for _, r := range u.conns {
		if r != c {
			r.enqueue(out.get(r), "", false)
		}
	}
	for _, r := range c.u.conns {
		if r != c && r.u != u && r.hasCap(capEchoMessage) {
			r.enqueue(out.get(r), "", false)
		}
	}
	away, nick := u.away, u.nick
	echo := c.hasCap(capEchoMessage)
	var echoLines [][]byte
	if echo {
		echoLines = out.get(c)
	}
	s.mu.RUnlock()
	c.u.spoke.Store(time.Now().Unix())
	c.replyLines(echoLines...)
	if away != "" && command == "PRIVMSG" {
		c.numeric(rplAway, nick, away)
	}
}

func handleTAGMSG(c *Client, msg *ircmsg.Message) {
	s := c.s
	target := msg.Params[0]
	if !c.hasCap(capMessageTags) || len(msg.ClientOnlyTags()) == 0 {
		return
	}
	tags := fitClientTags(msg.ClientOnlyTags())
	if len(tags) == 0 {
		c.numeric(errInputTooLong, "Input line too long: no tag fits in the 4094 bytes of client tags")
		return
	}
	tagmsg := func(source, account string) *variants {
		now := time.Now()
		return newVariants(msgTagCaps, func(v capSet) [][]byte {
			if !v.has(capMessageTags) {
				return nil
			}
			m := ircmsg.MakeMessage(tags, source, "TAGMSG", target)
			if v.has(capServerTime) {
				m.SetTag("time", now.UTC().Format(serverTimeLayout))
			}
			if v.has(capAccountTag) && account != "" {
				m.SetTag("account", account)
			}
			return [][]byte{serialize(m, s.log)}
		})
	}
	s.mu.RLock()
	var recipients *[]*Client
	switch {
	case s.isChannel(target):
		if c.joinState != joined {
			s.mu.RUnlock()
			c.refuse("TAGMSG", errCannotSendToChan, target, "Cannot send to channel: you are not on it")
			return
		}
		target = s.cfg().Channel
		recipients = s.snapshotMembersLocked()
	case s.users[Casefold(target)] != nil:
		u := s.users[Casefold(target)]
		target = u.nick
		recipients = snapshotOf(u.conns)
	default:
		s.mu.RUnlock()
		c.refuse("TAGMSG", errNoSuchNick, target, "No such nick/channel")
		return
	}
	out := tagmsg(c.u.prefix(), c.Account())
	s.mu.RUnlock()
	fanOut(*recipients, out, "", func(r *Client) bool { return r == c })
	releaseSnapshot(recipients)
	if c.hasCap(capEchoMessage) {
		c.replyLines(out.get(c)...) // a reply: it carries the command's label
	}
}

// fitClientTags keeps of tags what fits in the 4094 bytes servers may relay as client-only
// tag data (a client may send up to 8191 bytes of tags): the tags that do not fit are left
// out, so that the message itself is delivered rather than dropped for its tags. Tags are
// taken in name order, so the result does not depend on map order.
func fitClientTags(tags map[string]string) map[string]string {
	size := 0
	for k, v := range tags {
		size += tagSize(k, v) + 1
	}
	if size-1 <= ircmsg.MaxlenClientTagData {
		return tags
	}
	names := make([]string, 0, len(tags))
	for k := range tags {
		names = append(names, k)
	}
	slices.Sort(names)
	kept := make(map[string]string)
	used := -1 // no ';' before the first tag
	for _, k := range names {
		if n := tagSize(k, tags[k]) + 1; used+n <= ircmsg.MaxlenClientTagData {
			kept[k] = tags[k]
			used += n
		}
	}
	return kept
}

// tagSize is the serialised length of one tag, without separators.
func tagSize(name, value string) int {
	if value == "" {
		return len(name)
	}
	return len(name) + 1 + len(ircmsg.EscapeTagValue(value))
}

// newPrivateMsgID makes the msgid of a private message (channel messages take their item's
// id from the backend): random, so unique across restarts too.
func newPrivateMsgID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "pm-" + hex.EncodeToString(b[:])
}
