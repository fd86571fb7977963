package ircd

import (
	"strings"

	"github.com/ergochat/irc-go/ircmsg"
	"github.com/ergochat/irc-go/ircutils"
)

// changeNick handles NICK after registration.
func (c *Client) changeNick(nick string) {
	s := c.s
	id := c.Identity()
	if id.NickLocked {
		c.numeric(errNoNickChange, nick, "Your nick is that of your account and cannot be changed")
		return
	}
	if id.NickSuffix != "" {
		nick = withSuffix(nick, id.NickSuffix)
	}
	if !validNick(nick) {
		c.numeric(errErroneusNickname, nick, "Erroneous nickname")
		return
	}
	if !c.nickAllowed(nick) {
		return
	}
	s.mu.Lock()
	u := c.u
	folded := Casefold(nick)
	if other := s.users[folded]; other != nil && other != u {
		s.mu.Unlock()
		c.numeric(errNicknameInUse, nick, "Nickname is already in use")
		return
	}
	if u.nick == nick {
		s.mu.Unlock()
		return
	}
	msg := ircmsg.MakeMessage(nil, u.prefix(), "NICK", nick)
	delete(s.users, u.folded)
	s.renameUserLocked(u, nick, folded)
	s.users[folded] = u
	s.sendUserLocked(u, plainVariant(msg, s), nil)
	s.mu.Unlock()
	c.log.Debug().Str("nick", nick).Msg("nick changed")
}

func handleAWAY(c *Client, msg *ircmsg.Message) {
	s := c.s
	away := ""
	if len(msg.Params) > 0 {
		away = ircutils.SanitizeText(msg.Params[0], awayLen)
	}
	s.mu.Lock()
	u := c.u
	changed := u.away != away
	u.away = away
	if changed {
		note := ircmsg.MakeMessage(nil, u.prefix(), "AWAY")
		if away != "" {
			note.Params = []string{away}
		}
		s.sendUserLocked(u, capVariant(capAwayNotify, note, s), c)
	}
	s.mu.Unlock()
	if away == "" {
		c.numeric(rplUnaway, "You are no longer marked as being away")
	} else {
		c.numeric(rplNowAway, "You have been marked as being away")
	}
}

// capVariant is a message only for clients with capability bit.
func capVariant(bit capSet, msg ircmsg.Message, s *Server) *variants {
	return newVariants(bit, func(v capSet) [][]byte {
		if !v.has(bit) {
			return nil
		}
		return [][]byte{serialize(msg, s.log)}
	})
}

func handleSETNAME(c *Client, msg *ircmsg.Message) {
	s := c.s
	name := msg.Params[0]
	if name == "" || len(name) > realnameLen {
		c.send(ircmsg.MakeMessage(nil, s.cfg().ServerName, "FAIL", "SETNAME", "INVALID_REALNAME", "Realname is empty or too long"))
		return
	}
	s.mu.Lock()
	u := c.u
	u.realname = name
	s.sendUserLocked(u, capVariant(capSetname, ircmsg.MakeMessage(nil, u.prefix(), "SETNAME", name), s), nil)
	s.mu.Unlock()
}

func handleQUIT(c *Client, msg *ircmsg.Message) {
	reason := "Client quit"
	if len(msg.Params) > 0 && msg.Params[0] != "" {
		reason = ircutils.SanitizeText(msg.Params[0], kickLen)
	}
	// The nick is given up before the ERROR is queued: a client that reconnects as soon as
	// it reads the ERROR finds its nick free.
	if c.isRegistered() {
		c.s.mu.Lock()
		c.s.releaseNickLocked(c, reason)
		c.s.mu.Unlock()
	}
	c.Disconnect(reason)
}

func handlePING(c *Client, msg *ircmsg.Message) {
	if len(msg.Params) == 0 || msg.Params[0] == "" {
		c.numeric(errNoOrigin, "No origin specified")
		return
	}
	server := c.s.cfg().ServerName
	c.send(ircmsg.MakeMessage(nil, server, "PONG", server, msg.Params[0]))
}

func handlePONG(*Client, *ircmsg.Message) {} // any line resets the ping timer

func handleMODE(c *Client, msg *ircmsg.Message) {
	target := msg.Params[0]
	if c.s.isChannel(target) {
		c.channelMode(msg.Params[1:])
		return
	}
	if strings.HasPrefix(target, "#") {
		c.noSuchChannel(target)
		return
	}
	c.userMode(target, msg.Params[1:])
}

// channelMode answers mode queries (324/329, empty lists); every change needs channel operator
// status, which nobody has.
func (c *Client) channelMode(args []string) {
	channel := c.s.cfg().Channel
	if len(args) == 0 {
		c.numeric(rplChannelModeIs, channel, "+nt")
		c.numeric(rplCreationTime, channel, unix(c.s.created))
		return
	}
	switch strings.TrimPrefix(args[0], "+") {
	case "b":
		c.numeric(rplEndOfBanList, channel, "End of channel ban list")
		return
	case "e":
		c.numeric(rplEndOfExceptList, channel, "End of channel exception list")
		return
	case "I":
		c.numeric(rplEndOfInviteList, channel, "End of channel invite list")
		return
	}
	c.numeric(errChanOPrivsNeeded, channel, "Channel modes are set by the server's configuration")
}

// userMode handles MODE <nick>: a query (221) or +i/-i on one's own nick.
func (c *Client) userMode(target string, args []string) {
	s := c.s
	s.mu.Lock()
	u := c.u
	other := s.users[Casefold(target)]
	if other == nil && Casefold(target) == Casefold(c.reg.nick) {
		// irssi sends MODE <the nick it asked for> +i after being given another nick.
		other, target = u, u.nick
	}
	if other != u {
		s.mu.Unlock()
		if other == nil {
			c.numeric(errNoSuchNick, target, "No such nick/channel")
		} else {
			c.numeric(errUsersDontMatch, "Can't view or change modes of other users")
		}
		return
	}
	if len(args) == 0 {
		modes := "+" + u.modes
		s.mu.Unlock()
		c.numeric(rplUModeIs, modes)
		return
	}
	adding, applied, unknown := true, "", false
	for _, r := range args[0] {
		switch r {
		case '+', '-':
			adding = r == '+'
			applied += string(r)
		case 'i':
			if adding {
				u.modes = "i"
			} else {
				u.modes = ""
			}
			applied += "i"
		default:
			unknown = true
		}
	}
	prefix := u.prefix()
	s.mu.Unlock()
	if unknown {
		c.numeric(errUModeUnknownFlag, "Unknown MODE flag")
	}
	if strings.ContainsRune(applied, 'i') {
		c.send(ircmsg.MakeMessage(nil, prefix, "MODE", target, strings.TrimRight(applied, "+-")))
	}
}
