package ircd

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
	"github.com/ergochat/irc-go/ircutils"
)

// regState is what a connection collects before registration completes. Reader-owned.
type regState struct {
	nick, user, realname string
	pass                 string
	hasPass              bool
	capNegotiating       bool
	capVersion           int

	saslActive bool
	saslBuf    ircutils.SASLBuffer
	saslFails  int
	login      *Identity // from SASL

	identity    *Identity // from Register, kept while the client looks for a free nick
	forcedTaken bool      // a guest's forced nick was taken; the next NICK is used instead
}

func handlePASS(c *Client, msg *ircmsg.Message) {
	if c.isRegistered() {
		c.numeric(errAlreadyRegistered, "You may not reregister")
		return
	}
	c.reg.pass, c.reg.hasPass = msg.Params[0], true
}

func handleUSER(c *Client, msg *ircmsg.Message) {
	if c.isRegistered() || c.reg.user != "" {
		c.numeric(errAlreadyRegistered, "You may not reregister")
		return
	}
	if len(msg.Params) < 4 || msg.Params[0] == "" || msg.Params[3] == "" {
		c.numeric(errNeedMoreParams, "USER", "Not enough parameters")
		return
	}
	c.reg.user = msg.Params[0]
	c.reg.realname = ircutils.SanitizeText(msg.Params[3], realnameLen)
	c.tryRegister()
}

func handleNICK(c *Client, msg *ircmsg.Message) {
	if len(msg.Params) == 0 || msg.Params[0] == "" {
		c.numeric(errNoNicknameGiven, "No nickname given")
		return
	}
	if c.isRegistered() {
		c.changeNick(msg.Params[0])
		return
	}
	nick := msg.Params[0]
	if !validNick(nick) {
		c.numeric(errErroneusNickname, nick, "Erroneous nickname")
		return
	}
	c.reg.nick = nick
	c.tryRegister()
}

func handleAUTHENTICATE(c *Client, msg *ircmsg.Message) {
	arg := msg.Params[0]
	switch {
	case c.reg.login != nil || c.isRegistered() && c.Account() != "":
		c.numeric(errSASLAlready, "You have already authenticated")
	case c.isRegistered():
		// A guest: this server has no re-authentication, and a 904 here must not count
		// towards the failures that close the connection.
		c.numeric(errSASLFail, "SASL authentication failed: log in while connecting (reconnect with SASL)")
	case !c.hasCap(capSASL):
		c.numeric(errSASLFail, "SASL authentication failed: request the sasl capability first")
	case arg == "*":
		c.abortSASL()
	case !c.reg.saslActive:
		if !strings.EqualFold(arg, "PLAIN") {
			c.numeric(rplSASLMechs, "PLAIN", "are available SASL mechanisms")
			c.saslFailed("SASL authentication failed: unsupported mechanism")
			return
		}
		c.reg.saslActive = true
		c.reg.saslBuf.Initialize(saslMaxBytes)
		c.send(ircmsg.MakeMessage(nil, "", "AUTHENTICATE", "+"))
	default:
		done, payload, err := c.reg.saslBuf.Add(arg)
		if !done {
			return
		}
		c.reg.saslActive = false
		if err != nil {
			if err == ircutils.ErrSASLTooLong || err == ircutils.ErrSASLLimitExceeded {
				c.numeric(errSASLTooLong, "SASL message too long")
				return
			}
			c.saslFailed("SASL authentication failed: invalid base64")
			return
		}
		c.saslPlain(payload)
	}
}

// saslPlain checks a decoded PLAIN response (authzid NUL authcid NUL password) with the backend.
func (c *Client) saslPlain(payload []byte) {
	parts := bytes.Split(payload, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		c.saslFailed("SASL authentication failed: malformed PLAIN response")
		return
	}
	if len(parts[0]) > 0 && !bytes.EqualFold(parts[0], parts[1]) {
		// Logging in as one user on behalf of another is not offered: refused, not ignored.
		c.saslFailed("SASL authentication failed: the authorization identity must be empty or your login name")
		return
	}
	req := AuthRequest{
		Authzid:  string(parts[0]),
		Authcid:  string(parts[1]),
		Password: string(parts[2]),
		Addr:     c.addr,
		Notice:   c.Notice,
	}
	c.inBackend.Store(true)
	id, err := c.s.backend.AuthenticatePlain(c.ctx, req)
	c.inBackend.Store(false)
	if err != nil || id == nil {
		c.log.Info().Str("authcid", req.Authcid).AnErr("cause", err).Msg("SASL login refused")
		c.s.metrics.loginFailed(err)
		c.saslFailed(UserText(err))
		return
	}
	c.reg.login = id
	c.login.Store(id)
	c.log.Info().Str("account", id.Account).Msg("SASL login")
	nick := c.target()
	if id.Nick != "" {
		nick = id.Nick
	}
	c.numeric(rplLoggedIn, nick+"!"+c.hostmaskFor(id, nick), token(id.Account), "You are now logged in as "+id.Account)
	c.numeric(rplSASLSuccess, "SASL authentication successful")
}

// saslFailed answers 904; too many failures close the connection.
func (c *Client) saslFailed(text string) {
	c.reg.saslActive = false
	c.reg.saslBuf.Clear()
	c.numeric(errSASLFail, text)
	c.reg.saslFails++
	if c.reg.saslFails >= maxSASLTries {
		c.Disconnect("Too many failed login attempts")
	}
}

func (c *Client) abortSASL() {
	c.reg.saslActive = false
	c.reg.saslBuf.Clear()
	c.numeric(errSASLAborted, "SASL authentication aborted")
}

// tryRegister completes registration once NICK and USER are in and CAP negotiation is over.
func (c *Client) tryRegister() {
	r := &c.reg
	if c.isRegistered() || r.nick == "" || r.user == "" || r.capNegotiating || c.isClosing() {
		return
	}
	if r.identity == nil {
		c.inBackend.Store(true)
		id, err := c.s.backend.Register(c.ctx, Registration{
			Nick: r.nick, User: r.user, Realname: r.realname,
			Pass: r.pass, HasPass: r.hasPass, Login: r.login, Addr: c.addr, Notice: c.Notice,
		})
		c.inBackend.Store(false)
		r.pass = ""
		if err != nil || id == nil {
			c.log.Info().Str("nick", r.nick).AnErr("cause", err).Msg("registration refused")
			c.s.metrics.loginFailed(err)
			c.numeric(errPasswdMismatch, UserText(err))
			c.Disconnect(UserText(err))
			return
		}
		r.identity = id
		c.identity.Store(id)
	}
	c.claimNick()
}

// claimNick takes the nick for a connection whose Register succeeded. A requested nick that is
// taken gets 433 and the client may try another; a forced nick taken by someone else fails.
func (c *Client) claimNick() {
	id := c.reg.identity
	nick, forced := c.reg.nick, id.Nick != "" && !c.reg.forcedTaken
	if forced {
		nick = id.Nick
	}
	if id.NickSuffix != "" {
		nick = withSuffix(nick, id.NickSuffix)
	}
	if !validNick(nick) && !(forced && safeNick(nick)) {
		c.numeric(errErroneusNickname, nick, "Erroneous nickname")
		if forced {
			c.log.Error().Str("nick", nick).Msg("backend forced an invalid nick")
			c.Disconnect("Invalid nick " + nick)
		}
		return
	}
	if id.Account == "" && !c.nickAllowed(nick) {
		if forced {
			c.reg.forcedTaken = true // a guest: let the client pick another nick
		}
		return
	}
	if !c.s.attach(c, nick, c.hostUser(id, nick), c.hostFor(id), c.reg.realname) {
		c.numeric(errNicknameInUse, nick, "Nickname is already in use")
		switch {
		case forced && id.Account != "":
			c.Disconnect("Nick " + nick + " is in use by another connection")
		case forced:
			c.reg.forcedTaken = true // a guest: let the client pick another nick, as for a requested one
		}
		return
	}
	c.registered.Store(true)
	if o, ok := c.s.backend.(RegistrationObserver); ok {
		o.Registered(c)
	}
	c.log.Info().Str("nick", nick).Str("account", id.Account).Msg("registered")
	c.s.metrics.registered(id)
	c.welcome()
	if c.s.cfg().AutoJoin {
		c.join()
	}
}

// nickAllowed asks a NickChecker backend about nick and answers a refusal with 432.
func (c *Client) nickAllowed(nick string) bool {
	nc, ok := c.s.backend.(NickChecker)
	if !ok {
		return true
	}
	if err := nc.CheckNick(c, nick); err != nil {
		c.numeric(errErroneusNickname, nick, UserText(err))
		return false
	}
	return true
}

// welcome sends 001-005, LUSERS, MOTD and, for a PASS login, 900.
func (c *Client) welcome() {
	cfg := c.s.cfg()
	nick := c.Nick()
	id := c.Identity()
	c.numeric(rplWelcome, "Welcome to the "+cfg.Network+" IRC network, "+nick)
	c.numeric(rplYourHost, "Your host is "+cfg.ServerName+", running version "+cfg.Version)
	c.numeric(rplCreated, "This server was created "+c.s.created.UTC().Format(time.RFC1123))
	c.numeric(rplMyInfo, cfg.ServerName, token(cfg.Version), "i", "nt")
	c.sendISupport(cfg)
	c.sendLUsers()
	c.sendMOTD(cfg)
	if c.reg.login == nil && id.Account != "" {
		c.numeric(rplLoggedIn, c.prefix(), token(id.Account), "You are now logged in as "+id.Account)
	}
}

func (c *Client) sendISupport(cfg *Config) {
	tokens := isupportTokens(cfg)
	for len(tokens) > 0 {
		n := min(len(tokens), 12)
		c.numeric(rplISupport, append(tokens[:n:n], "are supported by this server")...)
		tokens = tokens[n:]
	}
}

func (c *Client) sendLUsers() {
	users, unknown := c.s.counts()
	u := strconv.Itoa(users)
	c.numeric(rplLUserClient, "There are "+u+" users and 0 invisible on 1 servers")
	c.numeric(rplLUserOp, "0", "operator(s) online")
	c.numeric(rplLUserUnknown, strconv.Itoa(unknown), "unknown connection(s)")
	c.numeric(rplLUserChannels, "1", "channels formed")
	c.numeric(rplLUserMe, "I have "+u+" clients and 0 servers")
	m := strconv.Itoa(c.s.maxUsers())
	c.numeric(rplLocalUsers, u, m, "Current local users "+u+", max "+m)
	c.numeric(rplGlobalUsers, u, m, "Current global users "+u+", max "+m)
}

func (c *Client) sendMOTD(cfg *Config) {
	if len(cfg.MOTD) == 0 {
		c.numeric(errNoMOTD, "MOTD File is missing")
		return
	}
	c.numeric(rplMOTDStart, "- "+cfg.ServerName+" Message of the day - ")
	for _, line := range cfg.MOTD {
		c.numeric(rplMOTD, "- "+line)
	}
	c.numeric(rplEndOfMOTD, "End of /MOTD command.")
}
