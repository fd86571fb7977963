package ircd

import (
	"context"
	"errors"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
	"github.com/ergochat/irc-go/ircutils"
)

// Redactor is implemented by a Backend that lets clients delete channel messages with REDACT
// (draft/message-redaction). On success the backend tells the channel (Server.Redact).
type Redactor interface {
	// Redact deletes the message msgid as client c. An error wrapping ErrUnknownMsgID is
	// answered UNKNOWN_MSGID, one wrapping ErrRedactForbidden REDACT_FORBIDDEN, others
	// TEMPORARILY_UNAVAILABLE; each with UserText(err).
	Redact(ctx context.Context, c *Client, msgid, reason string) error
}

// ErrRedactForbidden means the client may not delete that message.
var ErrRedactForbidden = errors.New("redaction forbidden")

// Redaction is a deleted channel message to tell the clients about.
type Redaction struct {
	ID      string // msgid of the deleted message
	Nick    string // who deleted it; "" for the server (unknown deleter)
	Account string // the deleter's account, for account-tag
	Reason  string
}

func handleREDACT(c *Client, msg *ircmsg.Message) {
	s := c.s
	target, msgid := msg.Params[0], msg.Params[1]
	reason := ""
	if len(msg.Params) > 2 {
		reason = ircutils.SanitizeText(msg.Params[2], kickLen)
	}
	fail := func(code, text string) {
		c.send(ircmsg.MakeMessage(nil, s.cfg().ServerName, "FAIL", "REDACT", code, token(target), token(msgid), ircutils.SanitizeText(text, maxLineLen)))
	}
	r, ok := s.backend.(Redactor)
	switch {
	case !s.isChannel(target):
		fail("INVALID_TARGET", "Only messages on "+s.cfg().Channel+" can be deleted")
		return
	case !ok:
		fail("REDACT_FORBIDDEN", "This server does not delete messages")
		return
	}
	err := r.Redact(c.ctx, c, msgid, reason)
	switch {
	case err == nil:
	case errors.Is(err, ErrUnknownMsgID):
		fail("UNKNOWN_MSGID", UserText(err))
	case errors.Is(err, ErrRedactForbidden):
		fail("REDACT_FORBIDDEN", UserText(err))
	default:
		c.log.Info().AnErr("cause", err).Msg("redact failed")
		fail("TEMPORARILY_UNAVAILABLE", UserText(err))
	}
}

// Redact tells every connection on the channel that a message was deleted, and takes it out
// of the replay: a REDACT to those with draft/message-redaction (the deleter's own
// connections too), a server NOTICE quoting it to the others.
func (s *Server) Redact(r Redaction) {
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()
	cfg := s.cfg()
	now := time.Now()
	s.mu.Lock()
	src := s.prepareLocked(&Message{Nick: r.Nick}, cfg.Channel)
	notice := s.prepareLocked(&Message{Command: "NOTICE", Text: s.deleteNoticeLocked(r.ID), Time: now}, cfg.Channel)
	recipients := s.snapshotMembersLocked()
	s.mu.Unlock()
	defer releaseSnapshot(recipients)
	out := newVariants(capRedaction|msgTagCaps, func(v capSet) [][]byte {
		if !v.has(capRedaction) {
			return notice.lines(v, "", nil, s.serializer())
		}
		params := []string{cfg.Channel, r.ID}
		if r.Reason != "" {
			params = append(params, ircutils.SanitizeText(r.Reason, maxLineLen))
		}
		m := ircmsg.MakeMessage(nil, src.source, "REDACT", params...)
		if v.has(capServerTime) {
			m.SetTag("time", now.UTC().Format(serverTimeLayout))
		}
		if v.has(capAccountTag) && r.Account != "" {
			m.SetTag("account", r.Account)
		}
		return [][]byte{serialize(m, s.log)}
	})
	fanOut(*recipients, out, "", nil)
}
