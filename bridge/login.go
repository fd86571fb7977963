package bridge

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/ircd"
)

// Hosts shown in hostmasks: accounts and guests are told apart at a glance.
const (
	accountHost = "directus"
	guestHost   = "guest"
)

// tokenPassPrefix marks a PASS that carries a Directus static token (optional when the
// token contains no colon).
const tokenPassPrefix = "token:"

var errLoginRequired = &ircd.UserError{Text: "This server requires a login: use SASL PLAIN with your Directus email and password, or PASS email:password", Reason: "login_required"}

// AuthenticatePlain implements ircd.Backend: SASL PLAIN with the Directus email (or the
// local part for login.email_domain) and password.
func (b *Bridge) AuthenticatePlain(ctx context.Context, req ircd.AuthRequest) (*ircd.Identity, error) {
	return b.passwordLogin(req.Addr, req.Authcid, req.Password)
}

// Register implements ircd.Backend. With a server password, PASS must be it and accounts
// log in with SASL; without one, PASS is a login: "email:password" or a static token.
func (b *Bridge) Register(ctx context.Context, reg ircd.Registration) (*ircd.Identity, error) {
	if b.cfg.ServerPassword != "" {
		if !reg.HasPass || subtle.ConstantTimeCompare([]byte(reg.Pass), []byte(b.cfg.ServerPassword)) != 1 {
			return nil, &ircd.UserError{Text: "Wrong or missing server password (PASS)", Reason: "server_password"}
		}
		if reg.Login != nil {
			return reg.Login, nil
		}
		if !b.cfg.Guests {
			return nil, &ircd.UserError{Text: "This server requires a login: use SASL PLAIN with your Directus email and password", Reason: "login_required"}
		}
		return b.guest(reg)
	}
	if reg.Login != nil {
		return reg.Login, nil
	}
	if reg.HasPass {
		if tok, ok := strings.CutPrefix(reg.Pass, tokenPassPrefix); ok {
			return b.tokenLogin(reg.Addr, tok)
		}
		if name, password, ok := strings.Cut(reg.Pass, ":"); ok {
			return b.passwordLogin(reg.Addr, name, password)
		}
		return b.tokenLogin(reg.Addr, reg.Pass)
	}
	return b.guest(reg)
}

func (b *Bridge) passwordLogin(addr netip.Addr, name, password string) (*ircd.Identity, error) {
	if name == "" || password == "" {
		return nil, &ircd.UserError{Text: "Login needs a name and a password", Reason: "malformed"}
	}
	email := b.dir.loginEmail(name)
	key := strings.ToLower(email)
	if wait := b.throttle.blockedFor(addr.String(), key); wait > 0 {
		return nil, &ircd.UserError{Text: fmt.Sprintf("Too many failed logins for this account or address; try again in %s", roundUp(wait)), Reason: "throttled"}
	}
	ctx, cancel := b.requestContext()
	defer cancel()
	tokens, err := b.dc.Login(ctx, email, password)
	if err != nil {
		if errors.Is(err, directus.ErrInvalidCredentials) {
			b.throttle.failed(addr.String(), key)
			return nil, &ircd.UserError{Text: "Invalid email or password (or the Directus account is not active)", Cause: err, Reason: "bad_credentials"}
		}
		return nil, unreachable(err)
	}
	b.throttle.succeeded(addr.String(), key)
	s := &session{tokens: tokens, refreshedAt: time.Now()}
	return b.identify(ctx, s, tokens.Access)
}

func (b *Bridge) tokenLogin(addr netip.Addr, token string) (*ircd.Identity, error) {
	key := "token"
	if wait := b.throttle.blockedFor(addr.String(), key); wait > 0 {
		return nil, &ircd.UserError{Text: fmt.Sprintf("Too many failed logins from this address; try again in %s", roundUp(wait)), Reason: "throttled"}
	}
	ctx, cancel := b.requestContext()
	defer cancel()
	s := &session{static: token}
	id, err := b.identify(ctx, s, token)
	if errors.Is(err, directus.ErrInvalidCredentials) {
		b.throttle.failed(addr.String(), key)
		return nil, &ircd.UserError{Text: "Invalid Directus token", Cause: err, Reason: "bad_credentials"}
	}
	return id, err
}

// identify completes a login: who the token belongs to, their nick, and whether they may
// read the channel (checked once here with one read of a single id; see Join).
func (b *Bridge) identify(ctx context.Context, s *session, token string) (*ircd.Identity, error) {
	me, err := b.dc.Me(ctx, token)
	if err != nil {
		if errors.Is(err, directus.ErrInvalidCredentials) {
			return nil, err
		}
		return nil, unreachable(err)
	}
	limit := 1
	_, err = b.dc.ReadItems(ctx, token, b.cfg.Collection, directus.Query{Fields: []string{"id"}, Limit: &limit})
	switch {
	case err == nil:
		s.canRead = true
	case errors.Is(err, directus.ErrForbidden):
	default:
		return nil, unreachable(err)
	}
	b.dir.learn(user{ID: me.ID, Email: me.Email, FirstName: me.FirstName, Status: me.Status})
	s.userID, s.email = me.ID, me.Email
	s.account = b.dir.account(me.Email)
	s.nick, _ = b.dir.nick(me.ID)
	return &ircd.Identity{Account: s.account, Nick: s.nick, Host: accountHost, NickLocked: true, Session: s}, nil
}

func (b *Bridge) guest(reg ircd.Registration) (*ircd.Identity, error) {
	if !b.cfg.Guests {
		return nil, errLoginRequired
	}
	nick := reg.Nick
	if !strings.HasSuffix(nick, b.cfg.GuestSuffix) {
		nick = truncate(nick, maxNickLen) + b.cfg.GuestSuffix
	}
	s := &session{guest: true, nick: nick, canRead: true}
	return &ircd.Identity{Nick: nick, Host: guestHost, NickSuffix: b.cfg.GuestSuffix, Session: s}, nil
}

// Registered is told the client of a completed registration, so that the bridge can reach
// it later (revocation, refusals of queued messages).
func (b *Bridge) Registered(c *ircd.Client) {
	s := sessionOf(c)
	if s == nil {
		return
	}
	s.mu.Lock()
	s.client = c
	s.mu.Unlock()
	b.sessions.add(s)
}

// Disconnected implements ircd.Backend.
func (b *Bridge) Disconnected(c *ircd.Client) {
	s := sessionOf(c)
	if s == nil || s.guest {
		return
	}
	b.sessions.remove(s)
	s.ws.closeIdle(0)
	ctx, cancel := b.requestContext()
	defer cancel()
	s.logout(ctx, b.dc)
}

func sessionOf(c *ircd.Client) *session {
	id := c.Identity()
	if id == nil {
		return nil
	}
	s, _ := id.Session.(*session)
	return s
}

func unreachable(err error) error {
	return &ircd.UserError{Text: "Directus is unreachable or failed; try again later", Cause: err, Reason: "directus_unreachable"}
}

func roundUp(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(time.Second) + time.Second
	}
	return d.Round(time.Minute) + time.Minute
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
