package bridge

import (
	"context"
	"strconv"
	"strings"
	"unicode/utf8"
)

// isGuestPost reports whether it was posted for an IRC guest: only the bridge's service user
// creates such items, so irc_nick on an item by anyone else is ignored (it would let any
// user who may create items speak under a name of their choosing).
func (b *Bridge) isGuestPost(it item) bool {
	id := b.serviceID.Load()
	return it.IRCNick != "" && id != nil && *id != "" && it.Author.ID == *id
}

// learnServiceUser reads the service user's id when the start-up check could not (Directus
// was unreachable then); the stream calls it before it delivers anything.
func (b *Bridge) learnServiceUser(ctx context.Context) {
	if b.serviceID.Load() != nil {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	me, err := b.dc.Me(rctx, b.cfg.ServiceToken)
	if err != nil {
		b.log.Warn().Err(err).Msg("cannot read the service user; guest posts show under its name until it can be read")
		return
	}
	b.serviceID.Store(&me.ID)
}

// oneLine makes text one line for a NOTICE about it: its first non-blank line, cut to at
// most n bytes, with how many lines were left out. Later lines would otherwise arrive as
// lines of their own that could read like anything, commands included.
func oneLine(text string, n int) string {
	var lines []string
	for _, l := range strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, strings.Join(strings.Fields(l), " "))
		}
	}
	if len(lines) == 0 {
		return `""`
	}
	first := lines[0]
	if len(first) > n {
		for n > 0 && !utf8.RuneStart(first[n]) {
			n--
		}
		first = first[:n] + "…"
	}
	out := `"` + first + `"`
	switch more := len(lines) - 1; {
	case more == 1:
		out += " (and 1 more line)"
	case more > 1:
		out += " (and " + strconv.Itoa(more) + " more lines)"
	}
	return out
}
