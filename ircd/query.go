package ircd

import (
	"cmp"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
)

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// userInfo is a snapshot of a user for WHO and WHOIS, taken under s.mu.
type userInfo struct {
	nick, ident, host, realname, account, away string
	onChannel                                  bool
	signon                                     time.Time
	spoke                                      int64
}

func (u *user) info() userInfo {
	return userInfo{nick: u.nick, ident: u.ident, host: u.host, realname: u.realname, account: u.account,
		away: u.away, onChannel: u.joined > 0, signon: u.signon, spoke: u.spoke.Load()}
}

func (s *Server) lookup(nick string) (userInfo, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if u := s.users[Casefold(nick)]; u != nil {
		return u.info(), true
	}
	return userInfo{}, false
}

func handleWHOIS(c *Client, msg *ircmsg.Message) {
	s := c.s
	cfg := s.cfg()
	nick := msg.Params[len(msg.Params)-1] // WHOIS [server] nick
	nick, _, _ = strings.Cut(nick, ",")
	info, ok := s.lookup(nick)
	if !ok {
		c.numeric(errNoSuchNick, nick, "No such nick/channel")
		c.numeric(rplEndOfWhois, nick, "End of /WHOIS list")
		return
	}
	c.numeric(rplWhoisUser, info.nick, info.ident, info.host, "*", info.realname)
	if info.onChannel {
		c.numeric(rplWhoisChannels, info.nick, cfg.Channel)
	}
	c.numeric(rplWhoisServer, info.nick, cfg.ServerName, cfg.Network)
	if info.account != "" {
		c.numeric(rplWhoisAccount, info.nick, token(info.account), "is logged in as")
	}
	if info.away != "" {
		c.numeric(rplAway, info.nick, info.away)
	}
	idle := time.Since(info.signon)
	if info.spoke != 0 {
		idle = time.Since(time.Unix(info.spoke, 0))
	}
	c.numeric(rplWhoisIdle, info.nick, strconv.Itoa(int(idle.Seconds())), unix(info.signon), "seconds idle, signon time")
	c.numeric(rplEndOfWhois, info.nick, "End of /WHOIS list")
}

// handleWHO answers WHO <channel|nick|mask> [%fields[,token]] with 352, or 354 for WHOX.
func handleWHO(c *Client, msg *ircmsg.Message) {
	s := c.s
	mask := msg.Params[0]
	var fields, queryToken string
	if len(msg.Params) > 1 && strings.HasPrefix(msg.Params[1], "%") {
		fields, queryToken, _ = strings.Cut(msg.Params[1][1:], ",")
	}
	channel := s.isChannel(mask)
	var infos []userInfo
	s.mu.RLock()
	for _, u := range s.users {
		if channel && u.joined > 0 || !channel && whoMatch(mask, u) {
			infos = append(infos, u.info())
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(infos, func(a, b userInfo) int { return strings.Compare(a.nick, b.nick) })
	for _, info := range infos {
		if fields != "" {
			c.numeric(rplWhoSpcRpl, c.whoxFields(info, fields, queryToken)...)
		} else {
			c.numeric(rplWhoReply, c.whoChannel(info), info.ident, info.host, s.cfg().ServerName,
				info.nick, whoFlags(info), "0 "+info.realname)
		}
	}
	c.numeric(rplEndOfWho, mask, "End of WHO list")
}

// whoMatch matches a WHO mask (with * and ?) against a user's nick or, with '!', nick!user@host.
func whoMatch(mask string, u *user) bool {
	m := Casefold(mask)
	if m == "" || m == "0" || m == "*" {
		return true
	}
	subject := u.folded
	if strings.ContainsAny(m, "!@") {
		subject = Casefold(u.prefix())
	}
	ok, err := path.Match(strings.NewReplacer("[", "\\[", "]", "\\]", "\\", "\\\\").Replace(m), subject)
	return err == nil && ok
}

func (c *Client) whoChannel(info userInfo) string {
	if info.onChannel {
		return c.s.cfg().Channel
	}
	return "*"
}

func whoFlags(info userInfo) string {
	if info.away != "" {
		return "G"
	}
	return "H"
}

// whoxFields builds a 354 reply's parameters for the requested fields, in the standard order.
func (c *Client) whoxFields(info userInfo, fields, queryToken string) []string {
	var out []string
	for _, f := range "tcuihsnfdlaor" {
		if !strings.ContainsRune(fields, f) {
			continue
		}
		switch f {
		case 't':
			out = append(out, cmp.Or(queryToken, "0"))
		case 'c':
			out = append(out, c.whoChannel(info))
		case 'u':
			out = append(out, info.ident)
		case 'i':
			out = append(out, "255.255.255.255")
		case 'h':
			out = append(out, info.host)
		case 's':
			out = append(out, c.s.cfg().ServerName)
		case 'n':
			out = append(out, info.nick)
		case 'f':
			out = append(out, whoFlags(info))
		case 'd':
			out = append(out, "0")
		case 'l':
			out = append(out, "0")
		case 'a':
			out = append(out, cmp.Or(strings.ReplaceAll(info.account, " ", "_"), "0"))
		case 'o':
			out = append(out, "n/a")
		case 'r':
			out = append(out, info.realname)
		}
	}
	return out
}

func handleUSERHOST(c *Client, msg *ircmsg.Message) {
	var replies []string
	for _, nick := range msg.Params[:min(len(msg.Params), 5)] {
		if info, ok := c.s.lookup(nick); ok {
			away := "+"
			if info.away != "" {
				away = "-"
			}
			replies = append(replies, info.nick+"="+away+info.ident+"@"+info.host)
		}
	}
	c.numeric(rplUserHost, strings.Join(replies, " "))
}

func handleISON(c *Client, msg *ircmsg.Message) {
	var on []string
	for _, param := range msg.Params {
		for _, nick := range strings.Fields(param) {
			if info, ok := c.s.lookup(nick); ok {
				on = append(on, info.nick)
			}
		}
	}
	c.numeric(rplIsOn, strings.Join(on, " "))
}

func handleMOTD(c *Client, _ *ircmsg.Message)   { c.sendMOTD(c.s.cfg()) }
func handleLUSERS(c *Client, _ *ircmsg.Message) { c.sendLUsers() }

func handleVERSION(c *Client, _ *ircmsg.Message) {
	cfg := c.s.cfg()
	c.numeric(rplVersion, token(cfg.Version), cfg.ServerName, "directus-ircd: an IRC server for a Directus chat")
	c.sendISupport(cfg)
}

func handleTIME(c *Client, _ *ircmsg.Message) {
	now := time.Now()
	c.numeric(rplTime, c.s.cfg().ServerName, unix(now), "0", now.Format(time.RFC1123Z))
}

func handleINFO(c *Client, _ *ircmsg.Message) {
	cfg := c.s.cfg()
	for _, line := range []string{
		cfg.Version + ": an IRC server whose one channel, " + cfg.Channel + ", lives in Directus.",
		"Channel messages are stored in Directus; private messages are not stored.",
		"Server started " + c.s.created.UTC().Format(time.RFC1123) + ".",
	} {
		c.numeric(rplInfo, line)
	}
	c.numeric(rplEndOfInfo, "End of /INFO list")
}
