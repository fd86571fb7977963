package ircd

import (
	"context"
	"errors"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
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
	// Notice is what clients without draft/message-redaction get instead, as a server NOTICE
	// ("" sends them nothing).
	Notice string
}

func handleREDACT(c *Client, msg *ircmsg.Message) {
	s := c.s
	target, msgid := msg.Params[0], msg.Params[1]
	reason := ""
	if len(msg.Params) > 2 {
		reason = truncateRunes(msg.Params[2], kickLen)
	}
	fail := func(code, text string) {
		c.send(ircmsg.MakeMessage(nil, s.cfg().ServerName, "FAIL", "REDACT", code, token(target), token(msgid), sanitizeText(text)))
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

// Redact tells every connection on the channel that a message was deleted: a REDACT to those
// with draft/message-redaction (the deleter's own connections too), r.Notice to the others.
func (s *Server) Redact(r Redaction) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	cfg := s.cfg()
	now := time.Now()
	src := s.prepareLocked(&Message{Nick: r.Nick}, cfg.Channel)
	notice := s.prepareLocked(&Message{Command: "NOTICE", Text: r.Notice, Time: now}, cfg.Channel)
	out := newVariants(capRedaction|msgTagCaps, func(v capSet) [][]byte {
		if !v.has(capRedaction) {
			if r.Notice == "" {
				return nil
			}
			return notice.lines(v, "", nil, s.serializer())
		}
		params := []string{cfg.Channel, r.ID}
		if r.Reason != "" {
			params = append(params, sanitizeText(r.Reason))
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
	fanOut(s.members, out, "", nil)
}
