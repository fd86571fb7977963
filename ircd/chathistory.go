package ircd

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
	"github.com/ergochat/irc-go/ircutils"
)

// maxHistoryLimit is the most messages one CHATHISTORY query returns (ISUPPORT CHATHISTORY);
// a larger limit is answered with this many.
const maxHistoryLimit = 100

// HistoryBackend is implemented by a Backend that answers CHATHISTORY from its storage, with
// the requesting client's own rights (what it returns is what that client may read).
type HistoryBackend interface {
	// History returns the messages q asks for, oldest first, at most q.Limit of them. For
	// TARGETS it returns the newest message in the range (or none). An error wrapping
	// ErrUnknownMsgID means a msgid reference names no message the client can see; any other
	// error is answered with MESSAGE_ERROR and UserText(err).
	History(ctx context.Context, c *Client, q HistoryQuery) ([]Message, error)
}

// ErrUnknownMsgID is returned by HistoryBackend.History for a msgid it cannot find.
var ErrUnknownMsgID = errors.New("unknown msgid")

// HistoryQuery is one CHATHISTORY request.
type HistoryQuery struct {
	Subcommand string // LATEST, BEFORE, AFTER, AROUND, BETWEEN or TARGETS
	// From is the reference of LATEST (zero for "*"), BEFORE, AFTER and AROUND, and the first
	// bound of BETWEEN and TARGETS; To is their second bound. BETWEEN from a later to an
	// earlier bound asks for the newest messages before From.
	From, To MsgRef
	Limit    int
}

// MsgRef is a message reference: a msgid or a timestamp (exactly one is set), or neither ("*").
type MsgRef struct {
	ID   string
	Time time.Time
}

// IsZero reports the "*" reference.
func (r MsgRef) IsZero() bool { return r.ID == "" && r.Time.IsZero() }

func (r MsgRef) String() string {
	switch {
	case r.ID != "":
		return "msgid=" + r.ID
	case !r.Time.IsZero():
		return "timestamp=" + r.Time.UTC().Format(serverTimeLayout)
	}
	return "*"
}

// historyError is a CHATHISTORY refusal: FAIL CHATHISTORY <code> <params...> :<text>.
type historyError struct {
	code   string
	params []string
	text   string
}

func (e *historyError) Error() string { return e.code + ": " + e.text }

// parseHistory checks a CHATHISTORY command's parameters (after the subcommand) against the
// channel's name.
func parseHistory(params []string, channel string) (target string, q HistoryQuery, err error) {
	if len(params) == 0 {
		return "", q, &historyError{"INVALID_PARAMS", nil, "Missing subcommand"}
	}
	q.Subcommand = strings.ToUpper(params[0])
	args := params[1:]
	need := map[string]int{"LATEST": 3, "BEFORE": 3, "AFTER": 3, "AROUND": 3, "BETWEEN": 4, "TARGETS": 3}
	n, ok := need[q.Subcommand]
	switch {
	case !ok:
		return "", q, &historyError{"INVALID_PARAMS", []string{params[0]}, "Unknown subcommand"}
	case len(args) < n:
		return "", q, &historyError{"INVALID_PARAMS", []string{q.Subcommand}, "Not enough parameters"}
	}
	limit, lerr := strconv.Atoi(args[n-1])
	if lerr != nil || limit <= 0 {
		return "", q, &historyError{"INVALID_PARAMS", []string{q.Subcommand, args[n-1]}, "The limit must be a positive number"}
	}
	q.Limit = min(limit, maxHistoryLimit)
	refs := args[1 : n-1]
	if q.Subcommand == "TARGETS" {
		refs = args[:n-1] // TARGETS has no target: two timestamps
	} else {
		target = args[0]
		if Casefold(target) != Casefold(channel) {
			return "", q, &historyError{"INVALID_TARGET", []string{q.Subcommand, target}, "No history for that target; this server has only " + channel}
		}
	}
	var parsed [2]MsgRef
	for i, raw := range refs {
		star := raw == "*" && q.Subcommand == "LATEST"
		if star {
			continue
		}
		r, perr := parseMsgRef(raw)
		if perr != nil || q.Subcommand == "TARGETS" && r.ID != "" {
			return "", q, &historyError{"INVALID_MSGREFTYPE", []string{q.Subcommand, raw}, "Message references are msgid=<id> or timestamp=<time>"}
		}
		parsed[i] = r
	}
	q.From, q.To = parsed[0], parsed[1]
	return target, q, nil
}

// parseMsgRef parses msgid=<id> or timestamp=<RFC 3339 time>.
func parseMsgRef(raw string) (MsgRef, error) {
	kind, val, ok := strings.Cut(raw, "=")
	switch {
	case !ok || val == "":
	case kind == "msgid":
		return MsgRef{ID: val}, nil
	case kind == "timestamp":
		if t, err := time.Parse(time.RFC3339Nano, val); err == nil {
			return MsgRef{Time: t}, nil
		}
	}
	return MsgRef{}, errors.New("bad message reference")
}

func handleCHATHISTORY(c *Client, msg *ircmsg.Message) {
	s := c.s
	cfg := s.cfg()
	_, q, err := parseHistory(msg.Params, cfg.Channel)
	if err == nil {
		hb, ok := s.backend.(HistoryBackend)
		if !ok {
			err = &historyError{"MESSAGE_ERROR", []string{q.Subcommand}, "This server keeps no history"}
		} else {
			var history []Message
			history, err = hb.History(c.ctx, c, q)
			if err == nil {
				c.sendHistory(q, history)
				return
			}
			c.log.Info().AnErr("cause", err).Str("subcommand", q.Subcommand).Msg("chathistory failed")
			err = historyFailure(err, q, cfg.Channel)
		}
	}
	var he *historyError
	errors.As(err, &he)
	params := append([]string{"CHATHISTORY", he.code}, he.params...)
	c.send(ircmsg.MakeMessage(nil, cfg.ServerName, "FAIL", append(params, ircutils.SanitizeText(he.text, maxLineLen))...))
}

// historyFailure turns a backend error into the FAIL to send.
func historyFailure(err error, q HistoryQuery, channel string) *historyError {
	if errors.Is(err, ErrUnknownMsgID) {
		ref := q.From
		if ref.ID == "" {
			ref = q.To
		}
		return &historyError{"MESSAGE_ERROR", []string{q.Subcommand, channel, ref.String()}, "No message with that msgid is visible to you"}
	}
	return &historyError{"MESSAGE_ERROR", []string{q.Subcommand, channel}, "History is not available: " + UserText(err)}
}

// sendHistory answers a CHATHISTORY query: the messages in a chathistory batch, or for
// TARGETS the channel and its newest message's time in a draft/chathistory-targets batch.
func (c *Client) sendHistory(q HistoryQuery, history []Message) {
	cfg := c.s.cfg()
	if q.Subcommand != "TARGETS" {
		c.sendHistoryBatch(history)
		return
	}
	c.inBatch("draft/chathistory-targets", nil, func(extra map[string]string) [][]byte {
		if len(history) == 0 {
			return nil
		}
		last := history[len(history)-1]
		return [][]byte{serialize(ircmsg.MakeMessage(extra, cfg.ServerName, "CHATHISTORY", "TARGETS",
			cfg.Channel, last.Time.UTC().Format(serverTimeLayout)), c.log)}
	})
}

// inBatch sends the lines build makes to this client inside a batch of the given type when it
// has the batch capability (an empty batch too: the client waits for its end), else as they
// are. build gets the tags to add to each line (nil without a batch).
func (c *Client) inBatch(kind string, params []string, build func(extra map[string]string) [][]byte) {
	if !c.hasCap(capBatch) {
		c.replyLines(build(nil)...)
		return
	}
	s := c.s
	id := "h" + strconv.FormatUint(s.batchID.Add(1), 36)
	c.send(ircmsg.MakeMessage(nil, s.cfg().ServerName, "BATCH", append([]string{"+" + id, kind}, params...)...))
	c.replyLines(build(map[string]string{"batch": id})...)
	c.send(ircmsg.MakeMessage(nil, s.cfg().ServerName, "BATCH", "-"+id))
}
